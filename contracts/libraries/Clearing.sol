// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierExchange} from "../interfaces/IQuartierExchange.sol";
import {HouseholdBook} from "../types/HouseholdBook.sol";
import {Mechanism, Rules} from "../types/Rules.sol";
import {Netting} from "./Netting.sol";

/// @title Clearing
/// @notice A period's books into prices, trades, deliveries and money, interval by interval
/// (IQuartierExchange, "Settlement", steps 1-4). Per interval the entries are listed once
/// into two short arrays (sells, buys, each in h order: only the entries that exist, ~10 of
/// the 20 households); the settler's claim (a, b) or "nothing matched" is checked against
/// the rule by sums over those lists (see the interface's "Hints": the valid claim is
/// unique); one pass per side then fills t by price class (the tie group in rank order) and
/// takes o = min(t, m) against the meter in the same step; netting scales the long side and
/// pays. Everything works on packed words in memory, in assembly: the checked Solidity form
/// cost ~2,500 gas per entry.
/// @dev A listed word is energy << 128 | key << 16 | h, key = ask' + 1 for a sell (so "no
/// sell at or below" is key 0) and bid' for a buy. After the fill the energy field holds o,
/// after netting d (bit 127 flags o > 0 while the long side is scaled).
library Clearing {
    uint256 private constant KEY_MASK = (1 << 112) - 1;
    uint256 private constant LOW_MASK = (1 << 128) - 1;
    /// @dev A claim's bid for "nothing matched": above every bid' (bid' <= ceiling < 2^32).
    uint256 private constant NO_BID = 1 << 32;
    /// @dev Marks a household's meter reference as a pointer to its list of several.
    uint256 private constant SEVERAL_METERS = 1 << 255;

    /// @notice What the interval loop works on (memory pointers are to the arrays' data).
    struct Work {
        uint256 count;
        /// Per h: the memory address of the household's first entry.
        uint256 entriesAt;
        /// Per h: its one counting meter's MeterCodec ref, 0 for none, or SEVERAL_METERS |
        /// the memory address of its uint256[] of refs.
        uint256 meterRefs;
        /// count words each, reused by every interval; the lists end at sellEnd / buyEnd.
        uint256 sells;
        uint256 buys;
        uint256 sellEnd;
        uint256 buyEnd;
        uint256 money;
        uint256 delivered;
        uint256 received;
        Mechanism mechanism;
        uint256 floor;
        uint256 ceiling;
        uint256 communityPrice;
        uint256 firstIntervalId;
        /// The interval's fill: sells with key < sellKey and buys with key > buyKey in
        /// full, the tie groups (key equal) sellTie / buyTie Wh from h0 on in rank order.
        uint256 sellKey;
        uint256 buyKey;
        uint256 sellTie;
        uint256 buyTie;
        uint256 h0;
        /// The claim's sums: sells' energy with key < A, <= A, all; buys' with bid' > b,
        /// >= b, all.
        uint256 sLt;
        uint256 sLe;
        uint256 sTot;
        uint256 bGt;
        uint256 bGe;
        uint256 bTot;
    }

    /// @notice The working state of a settlement over `books` (allocated once).
    function work(
        HouseholdBook[] memory books,
        Rules memory rules,
        uint256 firstIntervalId,
        Netting.Totals memory totals
    ) internal pure returns (Work memory w) {
        uint256 count = books.length;
        uint256[] memory entriesAt = new uint256[](count);
        uint256[] memory meterRefs = new uint256[](count);
        for (uint256 h; h < count; ++h) {
            bytes memory entries = books[h].entries;
            uint256[] memory meters = books[h].meters;
            uint256 ref;
            assembly ("memory-safe") {
                mstore(add(add(entriesAt, 32), shl(5, h)), add(entries, 32))
                switch mload(meters)
                case 0 {}
                case 1 { ref := mload(add(meters, 32)) }
                default { ref := or(SEVERAL_METERS, meters) }
            }
            meterRefs[h] = ref;
        }
        w.count = count;
        w.entriesAt = _data(entriesAt);
        w.meterRefs = _data(meterRefs);
        w.sells = _data(new uint256[](count));
        w.buys = _data(new uint256[](count));
        w.money = _data(totals.moneyMilli);
        w.delivered = _data(totals.deliveredWh);
        w.received = _data(totals.receivedWh);
        w.mechanism = rules.mechanism;
        w.floor = rules.priceFloorPerKwh;
        w.ceiling = rules.priceCeilingPerKwh;
        w.communityPrice = rules.communityPricePerKwh;
        w.firstIntervalId = firstIntervalId;
    }

    /// @notice Clears and nets every interval; writes each interval's 16-byte word
    /// (pricePerKwh uint64, tradedWh uint32, deliveredWh uint32) into `intervals`' data.
    /// @return deliveredWh Σ D over the period.
    function clearPeriod(
        Work memory w,
        bytes calldata hints,
        uint256 intervalCount,
        bytes memory intervals
    ) internal pure returns (uint256 deliveredWh) {
        uint256 cursor;
        for (uint256 i; i < intervalCount; ++i) {
            uint256 pricePerKwh;
            uint256 tradedWh;
            if (w.mechanism == Mechanism.CommunityPrice) {
                (pricePerKwh, tradedWh) = _atCommunityPrice(w, i);
            } else {
                (cursor, pricePerKwh, tradedWh) = _atClaim(w, hints, cursor, i);
            }
            uint256 intervalWh = tradedWh == 0 ? 0 : _net(w, i, pricePerKwh);
            deliveredWh += intervalWh;
            // tradedWh, intervalWh <= MAX_HOUSEHOLDS_PER_PERIOD * (2^24 - 1) < 2^32: they fit.
            uint256 word = (pricePerKwh << 192) | (tradedWh << 160) | (intervalWh << 128);
            assembly ("memory-safe") {
                mstore(add(add(intervals, 32), mul(i, 16)), word)
            }
        }
        if (cursor != hints.length) {
            revert IQuartierExchange.ExchangeBadHint(
                uint64(w.firstIntervalId + intervalCount), type(uint256).max
            );
        }
    }

    /// @dev PayAsClear / PayAsBid: the claim read, checked and turned into the fill.
    function _atClaim(Work memory w, bytes calldata hints, uint256 cursor, uint256 i)
        private
        pure
        returns (uint256 next, uint256 pricePerKwh, uint256 tradedWh)
    {
        uint64 k = uint64(w.firstIntervalId + i);
        uint256 claimA;
        uint256 claimB;
        bool claimed;
        (next, claimA, claimB, claimed) = _readClaim(hints, cursor, k);
        _list(w, i << 3, claimA, claimB);
        tradedWh = w.sLe < w.bGe ? w.sLe : w.bGe;
        if (!_isWalkTotal(w, tradedWh, claimA, claimB, claimed)) {
            revert IQuartierExchange.ExchangeBadHint(k, cursor);
        }
        if (tradedWh == 0) return (next, 0, 0);
        w.sellKey = claimA;
        w.buyKey = claimB;
        w.sellTie = tradedWh - w.sLt;
        w.buyTie = tradedWh - w.bGt;
        // rank(h) = (h + k) mod H is 0 at h0.
        uint256 h0 = k % w.count;
        w.h0 = h0 == 0 ? 0 : w.count - h0;
        if (w.mechanism == Mechanism.PayAsClear) pricePerKwh = (claimA - 1 + claimB) / 2;
    }

    /// @dev CommunityPrice: sells with ask' <= c (key <= c + 1) and buys with bid' >= c
    /// trade their energy.
    function _atCommunityPrice(Work memory w, uint256 i)
        private
        pure
        returns (uint256 pricePerKwh, uint256 tradedWh)
    {
        pricePerKwh = w.communityPrice;
        _list(w, i << 3, pricePerKwh + 1, pricePerKwh);
        (uint256 sold, uint256 bought) = (w.sLe, w.bGe);
        tradedWh = sold < bought ? sold : bought;
        w.sellKey = pricePerKwh + 1;
        w.buyKey = pricePerKwh;
        w.sellTie = type(uint256).max;
        w.buyTie = type(uint256).max;
        w.h0 = 0;
    }

    /// @dev Fill with o = min(t, m), then netting and money; returns D.
    function _net(Work memory w, uint256 i, uint256 pricePerKwh)
        private
        pure
        returns (uint256 deliveredWh)
    {
        uint256 sold = _fill(w.sells, w.sellEnd, w.sellKey, w.sellTie, true, w.h0, i, w.meterRefs);
        uint256 bought = _fill(w.buys, w.buyEnd, w.buyKey, w.buyTie, false, w.h0, i, w.meterRefs);
        deliveredWh = sold < bought ? sold : bought;
        if (deliveredWh == 0) return 0;
        // The long side is scaled down to D; the short side keeps o_h (d_h = o_h).
        if (sold <= bought) {
            if (deliveredWh < bought) Netting.scaleLongSide(w.buys, w.buyEnd, deliveredWh, bought);
        } else {
            Netting.scaleLongSide(w.sells, w.sellEnd, deliveredWh, sold);
        }
        if (w.mechanism == Mechanism.PayAsBid) {
            uint256 pot = Netting.chargeBids(w.buys, w.buyEnd, w.money, w.received);
            Netting.sharePot(w.sells, w.sellEnd, pot, deliveredWh, w.money, w.delivered);
        } else {
            Netting.payAtPrice(w.sells, w.sellEnd, pricePerKwh, w.money, w.delivered, true);
            Netting.payAtPrice(w.buys, w.buyEnd, pricePerKwh, w.money, w.received, false);
        }
    }

    /// @dev Interval k's claim at `cursor`: tag 0 "nothing matched" (A = 0, b = NO_BID), tag 1
    /// then uint32 a, uint32 b with a <= b (A = a + 1).
    function _readClaim(bytes calldata hints, uint256 cursor, uint64 k)
        private
        pure
        returns (uint256 next, uint256 claimA, uint256 claimB, bool claimed)
    {
        if (hints.length <= cursor) {
            revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        }
        uint256 word;
        assembly ("memory-safe") {
            word := calldataload(add(hints.offset, cursor))
        }
        uint256 tag = word >> 248;
        if (tag == 0) return (cursor + 1, 0, NO_BID, false);
        if (tag != 1) revert IQuartierExchange.ExchangeBadHint(k, cursor);
        next = cursor + 9;
        if (hints.length < next) revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        uint256 a = (word >> 216) & type(uint32).max;
        claimB = (word >> 184) & type(uint32).max;
        if (a > claimB) revert IQuartierExchange.ExchangeBadHint(k, cursor);
        return (next, a + 1, claimB, true);
    }

    /// @dev Whether Q = min(sLe, bGe) is the walk's total with the claimed pair marginal: a
    /// claim's Q-th Wh is at a on the sell side (sLt < Q <= sLe) and at b on the buy side
    /// (bGt < Q <= bGe), a <= b (checked by the caller) so Wh 1..Q all cross, and the
    /// (Q + 1)-th Wh pair does not cross or does not exist. "Nothing" (A = 0, b = NO_BID)
    /// has Q = 0 and the same last condition: no sell, no buy, or least ask' > greatest bid'.
    function _isWalkTotal(Work memory w, uint256 q, uint256 claimA, uint256 claimB, bool claimed)
        private
        pure
        returns (bool)
    {
        if (claimed && (q <= w.sLt || q <= w.bGt)) return false;
        if (q == w.sTot || q == w.bTot) return true;
        // Both sides have a (Q + 1)-th Wh: at A if the sell tie group is not used up, else
        // at the next key above (it exists, as sTot > Q >= sLe); likewise for the buys.
        uint256 nextKey = q < w.sLe ? claimA : _leastAbove(w.sells, w.sellEnd, claimA);
        uint256 nextBid1 = q < w.bGe ? claimB + 1 : _greatestBelow(w.buys, w.buyEnd, claimB) + 1;
        // ask'(Q + 1) > bid'(Q + 1), with nextKey = ask' + 1 and nextBid1 = bid' + 1.
        return nextKey > nextBid1;
    }

    /// @dev Lists the interval's entries (at `offset` bytes into each household's book):
    /// sells from `w.sells`, buys from `w.buys`, each in h order, setting `w.sellEnd` and
    /// `w.buyEnd`; and sums them against the claim (A = claimA, b = claimB) into w.sLt ..
    /// w.bTot. Sums are < 2^40 (< 2^16 households, uint24 energies), so each side's three
    /// share a word in 64-bit lanes (all << 128 | at-or-beyond << 64 | beyond).
    function _list(Work memory w, uint256 offset, uint256 claimA, uint256 claimB) private pure {
        // Work's words (declaration order): entriesAt 0x20, sells 0x60, buys 0x80, sellEnd
        // 0xa0, buyEnd 0xc0, floor 0x160, ceiling 0x180, sLt 0x280 ... bTot 0x320.
        assembly ("memory-safe") {
            let entriesAt := mload(add(w, 0x20))
            let sellEnd := mload(add(w, 0x60))
            let buyEnd := mload(add(w, 0x80))
            let sellSums := 0
            let buySums := 0
            for { let h := 0 } lt(h, mload(w)) { h := add(h, 1) } {
                let entry := shr(192, mload(add(mload(add(entriesAt, shl(5, h))), offset)))
                // A none entry is all zeros; any other is a sell (1) or a buy (2).
                if entry {
                    let key := and(entry, 0xffffffff)
                    let e := and(shr(32, entry), 0xffffff)
                    switch shr(56, entry)
                    case 1 {
                        {
                            let floor := mload(add(w, 0x160))
                            if lt(key, floor) { key := floor }
                        }
                        key := add(key, 1)
                        mstore(sellEnd, or(shl(128, e), or(shl(16, key), h)))
                        sellEnd := add(sellEnd, 32)
                        sellSums := add(
                            sellSums,
                            mul(
                                e,
                                or(
                                    shl(128, 1),
                                    or(shl(64, iszero(gt(key, claimA))), lt(key, claimA))
                                )
                            )
                        )
                    }
                    default {
                        {
                            let ceiling := mload(add(w, 0x180))
                            if gt(key, ceiling) { key := ceiling }
                        }
                        mstore(buyEnd, or(shl(128, e), or(shl(16, key), h)))
                        buyEnd := add(buyEnd, 32)
                        buySums := add(
                            buySums,
                            mul(
                                e,
                                or(
                                    shl(128, 1),
                                    or(shl(64, iszero(lt(key, claimB))), gt(key, claimB))
                                )
                            )
                        )
                    }
                }
            }
            mstore(add(w, 0xa0), sellEnd)
            mstore(add(w, 0xc0), buyEnd)
            let lane := 0xffffffffffffffff
            mstore(add(w, 0x280), and(sellSums, lane))
            mstore(add(w, 0x2a0), and(shr(64, sellSums), lane))
            mstore(add(w, 0x2c0), shr(128, sellSums))
            mstore(add(w, 0x2e0), and(buySums, lane))
            mstore(add(w, 0x300), and(shr(64, buySums), lane))
            mstore(add(w, 0x320), shr(128, buySums))
        }
    }

    /// @dev The least sell key above `key` (type(uint256).max if none).
    function _leastAbove(uint256 from, uint256 to, uint256 key)
        private
        pure
        returns (uint256 least)
    {
        assembly ("memory-safe") {
            least := not(0)
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let k := and(shr(16, mload(p)), KEY_MASK)
                if and(gt(k, key), lt(k, least)) { least := k }
            }
        }
    }

    /// @dev The greatest buy key below `key` (0 if none).
    function _greatestBelow(uint256 from, uint256 to, uint256 key)
        private
        pure
        returns (uint256 greatest)
    {
        assembly ("memory-safe") {
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let k := and(shr(16, mload(p)), KEY_MASK)
                if and(lt(k, key), gt(k, greatest)) { greatest := k }
            }
        }
    }

    /// @dev One side's fill, each entry's t then o = min(t, m_h) written into its energy
    /// field; returns Σ o. Keys beyond the claim's (sells below, buys above) trade their
    /// energy, the tie group at the claim's key `tieWh` Wh in rank order (h0, ..., H - 1,
    /// then 0, ..., h0 - 1: the lists are in h order, so the entries with h < h0 come in a
    /// second pass), each min(energy, what is left); the rest 0. m_h = Σ over the
    /// household's meters counting for interval i of its export (sells) or import (buys).
    function _fill(
        uint256 from,
        uint256 to,
        uint256 claimKey,
        uint256 tieWh,
        bool isSell,
        uint256 h0,
        uint256 i,
        uint256 meterRefs
    ) private pure returns (uint256 sum) {
        assembly ("memory-safe") {
            // One meter ref's flow for interval `index` (0 if it does not count then).
            function flowOf(ref, index, sell) -> m {
                if and(
                    iszero(lt(index, and(shr(32, ref), 0xffffffff))),
                    lt(index, and(ref, 0xffffffff))
                ) {
                    let word := calldataload(add(shr(64, ref), shl(3, index)))
                    switch sell
                    case 1 { m := and(shr(192, word), 0xffffffff) }
                    default { m := shr(224, word) }
                }
            }
            function metered(ref, index, sell) -> m {
                switch shr(255, ref)
                case 0 { m := flowOf(ref, index, sell) }
                default {
                    let meters := and(ref, 0xffffffffffffffff)
                    for { let j := 0 } lt(j, mload(meters)) { j := add(j, 1) } {
                        m := add(m, flowOf(mload(add(meters, add(32, shl(5, j)))), index, sell))
                    }
                }
            }
            let shift := sub(224, mul(isSell, 32))
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let word := mload(p)
                let key := and(shr(16, word), KEY_MASK)
                let t := 0
                switch eq(key, claimKey)
                case 1 {
                    // The tie group's entries before h0 in h order come last in rank order.
                    if lt(and(word, 0xffff), h0) { continue }
                    t := shr(128, word)
                    if gt(t, tieWh) { t := tieWh }
                    tieWh := sub(tieWh, t)
                }
                default { if eq(isSell, lt(key, claimKey)) { t := shr(128, word) } }
                if t {
                    let ref := mload(add(meterRefs, shl(5, and(word, 0xffff))))
                    let m := 0
                    // One meter (the usual case) without the helper's call.
                    switch shr(255, ref)
                    case 0 {
                        if and(
                            iszero(lt(i, and(shr(32, ref), 0xffffffff))),
                            lt(i, and(ref, 0xffffffff))
                        ) {
                            m := and(
                                shr(shift, calldataload(add(shr(64, ref), shl(3, i)))),
                                0xffffffff
                            )
                        }
                    }
                    default { m := metered(ref, i, isSell) }
                    if lt(m, t) { t := m }
                    sum := add(sum, t)
                }
                mstore(p, or(shl(128, t), and(word, LOW_MASK)))
            }
            // The tie group's entries with h < h0, in h order.
            for { let p := from } lt(p, to) { p := add(p, 32) } {
                let word := mload(p)
                if iszero(lt(and(word, 0xffff), h0)) { break }
                if eq(and(shr(16, word), KEY_MASK), claimKey) {
                    let t := shr(128, word)
                    if gt(t, tieWh) { t := tieWh }
                    tieWh := sub(tieWh, t)
                    if t {
                        let m :=
                            metered(mload(add(meterRefs, shl(5, and(word, 0xffff)))), i, isSell)
                        if lt(m, t) { t := m }
                        sum := add(sum, t)
                    }
                    mstore(p, or(shl(128, t), and(word, LOW_MASK)))
                }
            }
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
}
