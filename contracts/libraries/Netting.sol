// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {HouseholdBook, IntervalBook} from "../types/HouseholdBook.sol";
import {Mechanism} from "../types/Rules.sol";

/// @title Netting
/// @notice One interval's traded energy against the meters, then its money (IQuartierExchange,
/// "Settlement", steps 3-4). Volumes are pooled per interval, so Σ_sell d_h = Σ_buy d_h = D
/// and the interval's money sums to exactly zero. It works on the entries clearing listed (a
/// household has at most one per interval), so "by h" orders are taken over those.
/// @dev The loops run once per listed entry of every interval of a period (~1,000 a day for
/// 20 households), so they are written in assembly over the arrays' raw data: the checked
/// Solidity form cost ~2,500 gas per entry, ten times this.
library Netting {
    /// @notice Per-household running totals of a settlement.
    struct Totals {
        int256[] moneyMilli;
        uint256[] deliveredWh;
        uint256[] receivedWh;
    }

    /// @dev Raw data pointers of the arrays one interval works on.
    struct Lists {
        uint256 listed;
        uint256 energyWh;
        uint256 sellCount;
        uint256 end;
    }

    /// @notice Nets the interval and adds its money and volumes to `totals`.
    /// @dev `book.energyWh` holds t per listed position on entry, d on return.
    /// @return deliveredWh D.
    function settleInterval(IntervalBook memory book, uint256 pricePerKwh, Totals memory totals)
        internal
        pure
        returns (uint256 deliveredWh)
    {
        if (book.sellCount == 0 || book.buyCount == 0) return 0;
        Lists memory lists = Lists(
            _data(book.listed), _data(book.energyWh), book.sellCount, book.sellCount + book.buyCount
        );
        (uint256 sold, uint256 bought) = _meter(lists, _data(book.households), book.index);
        deliveredWh = sold < bought ? sold : bought;
        if (deliveredWh == 0) return 0;
        // The long side is scaled down to D; the short side keeps o_h (d_h = o_h).
        if (sold <= bought) {
            _scaleLongSide(lists, lists.sellCount, lists.end, deliveredWh, bought);
        } else {
            _scaleLongSide(lists, 0, lists.sellCount, deliveredWh, sold);
        }
        if (book.rules.mechanism == Mechanism.PayAsBid) {
            uint256 pot = _chargeBids(
                lists, _data(book.entriesAt), book.index, book.rules.priceCeilingPerKwh, totals
            );
            _sharePot(lists, pot, deliveredWh, totals);
        } else {
            _payAtPrice(lists, pricePerKwh, totals);
        }
    }

    function _data(uint256[] memory array) private pure returns (uint256 pointer) {
        assembly ("memory-safe") {
            pointer := add(array, 32)
        }
    }

    function _data(int256[] memory array) private pure returns (uint256 pointer) {
        assembly ("memory-safe") {
            pointer := add(array, 32)
        }
    }

    function _data(HouseholdBook[] memory array) private pure returns (uint256 pointer) {
        assembly ("memory-safe") {
            pointer := add(array, 32)
        }
    }

    /// @dev o_h = min(t_h, m_h) in place, m_h = Σ over the household's counting meters of the
    /// interval's export (sellers) or import (buyers); returns S and B.
    function _meter(Lists memory lists, uint256 households, uint256 i)
        private
        pure
        returns (uint256 sold, uint256 bought)
    {
        assembly ("memory-safe") {
            // Σ over a household's meter refs counting for interval i of export or import.
            function flow(meters, index, exported) -> m {
                for { let j := 0 } lt(j, mload(meters)) { j := add(j, 1) } {
                    let ref := mload(add(meters, add(32, shl(5, j))))
                    if and(
                        iszero(lt(index, and(shr(32, ref), 0xffffffff))),
                        lt(index, and(ref, 0xffffffff))
                    ) {
                        let word := calldataload(add(shr(64, ref), shl(3, index)))
                        switch exported
                        case 1 { m := add(m, and(shr(192, word), 0xffffffff)) }
                        default { m := add(m, shr(224, word)) }
                    }
                }
            }
            let energyWh := mload(add(lists, 0x20))
            for { let p := 0 } lt(p, mload(add(lists, 0x60))) { p := add(p, 1) } {
                let at := add(energyWh, shl(5, p))
                let t := mload(at)
                if t {
                    let h := and(mload(add(mload(lists), shl(5, p))), 0xffff)
                    let isSell := lt(p, mload(add(lists, 0x40)))
                    // HouseholdBook is (bytes entries, uint256[] meters).
                    let meters := mload(add(mload(add(households, shl(5, h))), 0x20))
                    let m := 0
                    // One meter (the usual case) without the helper's call.
                    switch mload(meters)
                    case 1 {
                        let ref := mload(add(meters, 32))
                        if and(
                            iszero(lt(i, and(shr(32, ref), 0xffffffff))),
                            lt(i, and(ref, 0xffffffff))
                        ) {
                            let word := calldataload(add(shr(64, ref), shl(3, i)))
                            m := and(shr(sub(224, mul(isSell, 32)), word), 0xffffffff)
                        }
                    }
                    default { m := flow(meters, i, isSell) }
                    if lt(m, t) { t := m }
                    mstore(at, t)
                    switch isSell
                    case 1 { sold := add(sold, t) }
                    default { bought := add(bought, t) }
                }
            }
        }
    }

    /// @dev Positions [from, to) are the long side: d_h = floor(o_h * D / L), then the
    /// D - Σ d_h Wh left over 1 Wh each to its first households (by h) with o_h > 0 (fewer
    /// than those: each lost less than 1 Wh to the floor). Clearing lists each side in h
    /// order, so "by h" is position order; o_h > 0 is flagged in bit 255 between the passes.
    function _scaleLongSide(
        Lists memory lists,
        uint256 from,
        uint256 to,
        uint256 deliveredWh,
        uint256 longWh
    ) private pure {
        if (deliveredWh == longWh) return;
        assembly ("memory-safe") {
            let energyWh := mload(add(lists, 0x20))
            let flag := shl(255, 1)
            let left := deliveredWh
            for { let p := from } lt(p, to) { p := add(p, 1) } {
                let at := add(energyWh, shl(5, p))
                let o := mload(at)
                if o {
                    let d := div(mul(o, deliveredWh), longWh)
                    mstore(at, or(d, flag))
                    left := sub(left, d)
                }
            }
            for { let p := from } lt(p, to) { p := add(p, 1) } {
                let at := add(energyWh, shl(5, p))
                let v := mload(at)
                if v {
                    let d := and(v, not(flag))
                    if left {
                        d := add(d, 1)
                        left := sub(left, 1)
                    }
                    mstore(at, d)
                }
            }
        }
    }

    /// @dev PayAsClear and CommunityPrice: a seller gains d_h * p, a buyer pays d_h * p.
    function _payAtPrice(Lists memory lists, uint256 pricePerKwh, Totals memory totals)
        private
        pure
    {
        assembly ("memory-safe") {
            let listed := mload(lists)
            let energyWh := mload(add(lists, 0x20))
            let sellCount := mload(add(lists, 0x40))
            let money := add(mload(totals), 32)
            // Sellers gain, into deliveredWh.
            let volumes := add(mload(add(totals, 0x20)), 32)
            for { let p := 0 } lt(p, sellCount) { p := add(p, 1) } {
                let d := mload(add(energyWh, shl(5, p)))
                if d {
                    let offset := shl(5, and(mload(add(listed, shl(5, p))), 0xffff))
                    let m := add(money, offset)
                    mstore(m, add(mload(m), mul(d, pricePerKwh)))
                    let v := add(volumes, offset)
                    mstore(v, add(mload(v), d))
                }
            }
            // Buyers pay (money is int256: two's complement), into receivedWh.
            volumes := add(mload(add(totals, 0x40)), 32)
            for { let p := sellCount } lt(p, mload(add(lists, 0x60))) { p := add(p, 1) } {
                let d := mload(add(energyWh, shl(5, p)))
                if d {
                    let offset := shl(5, and(mload(add(listed, shl(5, p))), 0xffff))
                    let m := add(money, offset)
                    mstore(m, sub(mload(m), mul(d, pricePerKwh)))
                    let v := add(volumes, offset)
                    mstore(v, add(mload(v), d))
                }
            }
        }
    }

    /// @dev PayAsBid: each buyer pays d_h * bid'_h; returns the pot Q.
    function _chargeBids(
        Lists memory lists,
        uint256 entriesAt,
        uint256 i,
        uint256 ceiling,
        Totals memory totals
    ) private pure returns (uint256 pot) {
        assembly ("memory-safe") {
            function charge(money, received, offset, amount, d) {
                let m := add(money, offset)
                mstore(m, sub(mload(m), amount))
                let v := add(received, offset)
                mstore(v, add(mload(v), d))
            }
            let listed := mload(lists)
            let energyWh := mload(add(lists, 0x20))
            for { let p := mload(add(lists, 0x40)) } lt(p, mload(add(lists, 0x60))) {
                p := add(p, 1)
            } {
                let d := mload(add(energyWh, shl(5, p)))
                if d {
                    let offset := shl(5, and(mload(add(listed, shl(5, p))), 0xffff))
                    let bid :=
                        and(
                            shr(192, mload(add(mload(add(entriesAt, offset)), shl(3, i)))),
                            0xffffffff
                        )
                    if gt(bid, ceiling) { bid := ceiling }
                    pot := add(pot, mul(d, bid))
                    charge(
                        add(mload(totals), 32),
                        add(mload(add(totals, 0x40)), 32),
                        offset,
                        mul(d, bid),
                        d
                    )
                }
            }
        }
    }

    /// @dev PayAsBid: sellers get floor(Q * d_h / D), the remainder the first seller (by h)
    /// with d_h > 0.
    function _sharePot(Lists memory lists, uint256 pot, uint256 deliveredWh, Totals memory totals)
        private
        pure
    {
        assembly ("memory-safe") {
            let listed := mload(lists)
            let energyWh := mload(add(lists, 0x20))
            let money := add(mload(totals), 32)
            let delivered := add(mload(add(totals, 0x20)), 32)
            let left := pot
            let firstOffset := not(0)
            for { let p := 0 } lt(p, mload(add(lists, 0x40))) { p := add(p, 1) } {
                let d := mload(add(energyWh, shl(5, p)))
                if d {
                    let offset := shl(5, and(mload(add(listed, shl(5, p))), 0xffff))
                    if lt(offset, firstOffset) { firstOffset := offset }
                    let share := div(mul(pot, d), deliveredWh)
                    left := sub(left, share)
                    let m := add(money, offset)
                    mstore(m, add(mload(m), share))
                    let v := add(delivered, offset)
                    mstore(v, add(mload(v), d))
                }
            }
            let m := add(money, firstOffset)
            mstore(m, add(mload(m), left))
        }
    }
}
