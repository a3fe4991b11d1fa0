// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Netting
/// @notice One interval's metered volumes into deliveries and money (IQuartierExchange,
/// "Settlement", steps 3-4). Volumes are pooled per interval, so Σ_sell d_h = Σ_buy d_h = D
/// and the interval's money sums to exactly zero. It works on the lists clearing built (a
/// household has at most one entry per interval, each list is in h order), so "by h" orders
/// are list orders.
/// @dev A list word is energy << 128 | key << 16 | h (Clearing): the energy field holds o_h
/// on entry and d_h once the long side is scaled. `money` and the volumes are the data
/// pointers of per-household arrays (int256 milli-units, uint256 Wh).
library Netting {
    /// @notice Per-household running totals of a settlement.
    struct Totals {
        int256[] moneyMilli;
        uint256[] deliveredWh;
        uint256[] receivedWh;
    }

    uint256 private constant LOW_MASK = (1 << 128) - 1;
    uint256 private constant O_FLAG = 1 << 127;
    /// @dev Keys are < 2^33; the mask stops below O_FLAG's bit.
    uint256 private constant KEY_MASK = (1 << 64) - 1;

    /// @notice The long side [from, to) (Σ o_h = longWh > D): d_h = floor(o_h * D / L), then
    /// the D - Σ d_h Wh left over 1 Wh each to its first households (by h) with o_h > 0
    /// (fewer than those: each lost less than 1 Wh to the floor).
    function scaleLongSide(uint256 from, uint256 to, uint256 deliveredWh, uint256 longWh)
        internal
        pure
    {
        assembly ("memory-safe") {
            let left := deliveredWh
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let word := mload(p)
                let o := shr(128, word)
                if o {
                    let d := div(mul(o, deliveredWh), longWh)
                    mstore(p, or(or(shl(128, d), O_FLAG), and(word, LOW_MASK)))
                    left := sub(left, d)
                }
            }
            for { let p := from } and(lt(p, to), gt(left, 0)) { p := add(p, 32) } {
                let word := mload(p)
                if and(word, O_FLAG) {
                    mstore(p, add(word, shl(128, 1)))
                    left := sub(left, 1)
                }
            }
        }
    }

    /// @notice PayAsClear and CommunityPrice: a seller gains d_h * p (into `volumes`:
    /// deliveredWh), a buyer pays d_h * p (into receivedWh).
    function payAtPrice(
        uint256 from,
        uint256 to,
        uint256 pricePerKwh,
        uint256 money,
        uint256 volumes,
        bool gains
    ) internal pure {
        assembly ("memory-safe") {
            // Money is int256: two's complement, so a payment adds its negation.
            let sign := sub(shl(1, gains), 1)
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let word := mload(p)
                let d := shr(128, word)
                if d {
                    let offset := shl(5, and(word, 0xffff))
                    let m := add(money, offset)
                    mstore(m, add(mload(m), mul(sign, mul(d, pricePerKwh))))
                    let v := add(volumes, offset)
                    mstore(v, add(mload(v), d))
                }
            }
        }
    }

    /// @notice PayAsBid: each buyer pays d_h * bid'_h (its key); returns the pot Q.
    function chargeBids(uint256 from, uint256 to, uint256 money, uint256 received)
        internal
        pure
        returns (uint256 pot)
    {
        assembly ("memory-safe") {
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let word := mload(p)
                let d := shr(128, word)
                if d {
                    let amount := mul(d, and(shr(16, word), KEY_MASK))
                    pot := add(pot, amount)
                    let offset := shl(5, and(word, 0xffff))
                    let m := add(money, offset)
                    mstore(m, sub(mload(m), amount))
                    let v := add(received, offset)
                    mstore(v, add(mload(v), d))
                }
            }
        }
    }

    /// @notice PayAsBid: sellers get floor(Q * d_h / D), the remainder the first seller (by
    /// h) with d_h > 0.
    function sharePot(
        uint256 from,
        uint256 to,
        uint256 pot,
        uint256 deliveredWh,
        uint256 money,
        uint256 delivered
    ) internal pure {
        assembly ("memory-safe") {
            let left := pot
            let first := 0
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let word := mload(p)
                let d := shr(128, word)
                if d {
                    let offset := shl(5, and(word, 0xffff))
                    let m := add(money, offset)
                    if iszero(first) { first := m }
                    let share := div(mul(pot, d), deliveredWh)
                    left := sub(left, share)
                    mstore(m, add(mload(m), share))
                    let v := add(delivered, offset)
                    mstore(v, add(mload(v), d))
                }
            }
            mstore(first, add(mload(first), left))
        }
    }
}
