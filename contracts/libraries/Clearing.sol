// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierExchange} from "../interfaces/IQuartierExchange.sol";
import {Entry, SIDE_SELL, SIDE_BUY} from "../types/Entry.sol";
import {IntervalBook} from "../types/HouseholdBook.sol";
import {Mechanism, Rules} from "../types/Rules.sol";

/// @title Clearing
/// @notice One interval's book into traded energy per entry (IQuartierExchange, "Settlement",
/// steps 1-2). The settler claims the walk's marginal pair (a, b), or that nothing matches;
/// one pass over the interval's entries checks the claim against the rule (see the
/// interface's "Hints": the valid claim is unique), then the entries are filled by price
/// class, the tie groups at a and b in rank order, which is exactly the walk's outcome.
library Clearing {
    /// @dev A listed word is energyWh << 128 | key << 16 | h, key = ask' + 1 for a sell (so
    /// "no sell at or below" is key 0) and bid' for a buy.
    uint256 private constant KEY_MASK = (1 << 112) - 1;
    /// @dev A claim's bid for "nothing matched": above every bid' (bid' <= ceiling < 2^32).
    uint256 private constant NO_BID = 1 << 32;

    /// @dev The one pass's sums over the interval's entries for a claim (A = a + 1, b):
    /// sells' energy with key < A (sLt), key <= A (sLe), all (sTot), the least key above A
    /// (aboveA, NO_KEY if none); buys' with bid' > b (bGt), >= b (bGe), all (bTot), the
    /// greatest bid' below b plus one (belowB1, 0 if none); how many sells / buys have
    /// h < h0 (where rank order starts).
    struct Tally {
        uint256 sLt;
        uint256 sLe;
        uint256 sTot;
        uint256 aboveA;
        uint256 bGt;
        uint256 bGe;
        uint256 bTot;
        uint256 belowB1;
        uint256 sellStart;
        uint256 buyStart;
    }

    /// @notice Lists and clears the interval: `book.listed` (sells then buys, each in h
    /// order), the side counts and, per position, t in `book.energyWh`.
    /// @param cursor where this interval's claim starts in `hints`.
    /// @return next where the next interval's claim starts.
    /// @return pricePerKwh PayAsClear: p (0 if nothing matched); CommunityPrice: c; PayAsBid: 0.
    /// @return tradedWh min(Σ_sell t_h, Σ_buy t_h).
    function clear(IntervalBook memory book, bytes calldata hints, uint256 cursor)
        internal
        pure
        returns (uint256 next, uint256 pricePerKwh, uint256 tradedWh)
    {
        Mechanism mechanism = book.rules.mechanism;
        if (mechanism == Mechanism.CommunityPrice) {
            (pricePerKwh, tradedWh) = _clearAtCommunityPrice(book);
            return (cursor, pricePerKwh, tradedWh);
        }
        uint256 claimA;
        uint256 claimB;
        bool claimed;
        (next, claimA, claimB, claimed) = _readClaim(hints, cursor, book.intervalId);
        Tally memory tally = _list(book, claimA, claimB);
        tradedWh = tally.sLe < tally.bGe ? tally.sLe : tally.bGe;
        if (!_isWalkTotal(tally, tradedWh, claimA, claimB, claimed)) {
            revert IQuartierExchange.ExchangeBadHint(book.intervalId, cursor);
        }
        if (tradedWh == 0) return (next, 0, 0);
        _fillBoth(book, tally, claimA, claimB, tradedWh);
        if (mechanism == Mechanism.PayAsClear) pricePerKwh = (claimA - 1 + claimB) / 2;
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
        uint256 tag = uint8(hints[cursor]);
        if (tag == 0) return (cursor + 1, 0, NO_BID, false);
        if (tag != 1) revert IQuartierExchange.ExchangeBadHint(k, cursor);
        next = cursor + 9;
        if (hints.length < next) revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        uint256 a = _u32(hints, cursor + 1);
        claimB = _u32(hints, cursor + 5);
        if (a > claimB) revert IQuartierExchange.ExchangeBadHint(k, cursor);
        return (next, a + 1, claimB, true);
    }

    /// @dev Whether Q = min(sLe, bGe) is the walk's total with the claimed pair marginal: a
    /// claim's Q-th Wh is at a on the sell side (sLt < Q <= sLe) and at b on the buy side
    /// (bGt < Q <= bGe), a <= b (checked by the caller) so Wh 1..Q all cross, and the
    /// (Q + 1)-th Wh pair does not cross or does not exist. "Nothing" (A = 0, b = NO_BID)
    /// has Q = 0 and the same last condition: no sell, no buy, or least ask' > greatest bid'.
    function _isWalkTotal(
        Tally memory tally,
        uint256 q,
        uint256 claimA,
        uint256 claimB,
        bool claimed
    ) private pure returns (bool) {
        if (claimed && (q <= tally.sLt || q <= tally.bGt)) return false;
        if (q == tally.sTot || q == tally.bTot) return true;
        // Both sides have a (Q + 1)-th Wh: at A if the sell tie group is not used up, else
        // at the next key above (it exists, as sTot > Q >= sLe); likewise for the buys.
        uint256 nextKey = q < tally.sLe ? claimA : tally.aboveA;
        uint256 nextBid1 = q < tally.bGe ? claimB + 1 : tally.belowB1;
        // ask'(Q + 1) > bid'(Q + 1), with nextKey = ask' + 1 and nextBid1 = bid' + 1.
        return nextKey > nextBid1;
    }

    /// @dev Both sides' t for the walk's total q.
    function _fillBoth(
        IntervalBook memory book,
        Tally memory tally,
        uint256 claimA,
        uint256 claimB,
        uint256 q
    ) private pure {
        uint256 sellCount = book.sellCount;
        _fill(book, true, 0, sellCount, tally.sellStart, claimA, q - tally.sLt);
        _fill(
            book, false, sellCount, sellCount + book.buyCount, tally.buyStart, claimB, q - tally.bGt
        );
    }

    /// @dev t over positions [from, to) (one side, in h order), visited in rank order (from
    /// position `from + start` round): key beyond the claim's (ask' < a, bid' > b) in full,
    /// at the claim's key the tie group's `tieWh` in order, the rest 0.
    function _fill(
        IntervalBook memory book,
        bool isSell,
        uint256 from,
        uint256 to,
        uint256 start,
        uint256 claimKey,
        uint256 tieWh
    ) private pure {
        assembly ("memory-safe") {
            let listedData := add(mload(add(book, 0xa0)), 32)
            let energyData := add(mload(add(book, 0x100)), 32)
            let p := add(from, start)
            if eq(p, to) { p := from }
            for { let j := from } lt(j, to) { j := add(j, 1) } {
                let word := mload(add(listedData, shl(5, p)))
                let key := and(shr(16, word), KEY_MASK)
                let t := 0
                switch eq(key, claimKey)
                case 1 {
                    t := shr(128, word)
                    if gt(t, tieWh) { t := tieWh }
                    tieWh := sub(tieWh, t)
                }
                default {
                    // Sells below A or buys above b fill in full.
                    if eq(isSell, lt(key, claimKey)) { t := shr(128, word) }
                }
                mstore(add(energyData, shl(5, p)), t)
                p := add(p, 1)
                if eq(p, to) { p := from }
            }
        }
    }

    /// @dev The one pass: lists the interval's entries (sells in `book.listed` from 0, buys
    /// after them, each in h order; buys gather in `book.energyWh` meanwhile) and tallies
    /// them against the claim. Sums are < 2^40 (< 2^16 households, uint24 energies), so each
    /// side's three sums share a word in 64-bit lanes (all << 128 | at-or-beyond << 64 |
    /// beyond), as do the counts (sells | buys << 32 | sells before h0 << 64 | buys << 96).
    function _list(IntervalBook memory book, uint256 claimA, uint256 claimB)
        private
        pure
        returns (Tally memory tally)
    {
        uint256 counts;
        uint256 sellSums;
        uint256 buySums;
        // IntervalBook's words: households 0x00, entriesAt 0x20, rules 0x40, index 0x60,
        // intervalId 0x80, listed 0xa0, sellCount 0xc0, buyCount 0xe0, energyWh 0x100; Rules'
        // floor 0x80, ceiling 0xa0.
        assembly ("memory-safe") {
            // rank(h) = (h + k) mod H is 0 at h0.
            let h0 := mod(mload(add(book, 0x80)), mload(mload(book)))
            if h0 { h0 := sub(mload(mload(book)), h0) }
            mstore(add(tally, 0x60), not(0))
            for { let h := 0 } lt(h, mload(mload(book))) { h := add(h, 1) } {
                let entry :=
                    shr(
                        192,
                        mload(
                            add(
                                mload(add(mload(add(book, 0x20)), shl(5, add(h, 1)))),
                                shl(3, mload(add(book, 0x60)))
                            )
                        )
                    )
                switch shr(56, entry)
                case 1 {
                    let key := and(entry, 0xffffffff)
                    {
                        let floor := mload(add(mload(add(book, 0x40)), 0x80))
                        if lt(key, floor) { key := floor }
                    }
                    key := add(key, 1)
                    let e := and(shr(32, entry), 0xffffff)
                    mstore(
                        add(mload(add(book, 0xa0)), shl(5, add(and(counts, 0xffffffff), 1))),
                        or(shl(128, e), or(shl(16, key), h))
                    )
                    counts := add(add(counts, 1), shl(64, lt(h, h0)))
                    switch gt(key, claimA)
                    case 1 {
                        sellSums := add(sellSums, shl(128, e))
                        if lt(key, mload(add(tally, 0x60))) { mstore(add(tally, 0x60), key) }
                    }
                    default {
                        sellSums := add(
                            sellSums,
                            mul(e, or(or(shl(128, 1), shl(64, 1)), lt(key, claimA)))
                        )
                    }
                }
                case 2 {
                    let key := and(entry, 0xffffffff)
                    {
                        let ceiling := mload(add(mload(add(book, 0x40)), 0xa0))
                        if gt(key, ceiling) { key := ceiling }
                    }
                    let e := and(shr(32, entry), 0xffffff)
                    mstore(
                        add(
                            mload(add(book, 0x100)),
                            shl(5, add(and(shr(32, counts), 0xffffffff), 1))
                        ),
                        or(shl(128, e), or(shl(16, key), h))
                    )
                    counts := add(add(counts, shl(32, 1)), shl(96, lt(h, h0)))
                    switch lt(key, claimB)
                    case 1 {
                        buySums := add(buySums, shl(128, e))
                        if gt(add(key, 1), mload(add(tally, 0xe0))) {
                            mstore(add(tally, 0xe0), add(key, 1))
                        }
                    }
                    default {
                        buySums := add(
                            buySums,
                            mul(e, or(or(shl(128, 1), shl(64, 1)), gt(key, claimB)))
                        )
                    }
                }
            }
            let sellCount := and(counts, 0xffffffff)
            mcopy(
                add(add(mload(add(book, 0xa0)), 32), shl(5, sellCount)),
                add(mload(add(book, 0x100)), 32),
                shl(5, and(shr(32, counts), 0xffffffff))
            )
        }
        uint256 lane = type(uint64).max;
        tally.sLt = sellSums & lane;
        tally.sLe = (sellSums >> 64) & lane;
        tally.sTot = sellSums >> 128;
        tally.bGt = buySums & lane;
        tally.bGe = (buySums >> 64) & lane;
        tally.bTot = buySums >> 128;
        tally.sellStart = (counts >> 64) & type(uint32).max;
        tally.buyStart = counts >> 96;
        book.sellCount = counts & type(uint32).max;
        book.buyCount = (counts >> 32) & type(uint32).max;
    }

    /// @notice Household h's entry for the book's interval.
    function entryOf(IntervalBook memory book, uint256 h) internal pure returns (Entry entry) {
        uint256[] memory entriesAt = book.entriesAt;
        uint256 i = book.index;
        assembly ("memory-safe") {
            let at := mload(add(add(entriesAt, 32), shl(5, h)))
            entry := shr(192, mload(add(at, shl(3, i))))
        }
    }

    /// @notice ask' = max(ask, floor).
    function effectiveAsk(Entry entry, Rules memory rules) internal pure returns (uint256) {
        uint256 ask = entry.pricePerKwh();
        return ask < rules.priceFloorPerKwh ? rules.priceFloorPerKwh : ask;
    }

    /// @notice bid' = min(bid, ceiling).
    function effectiveBid(Entry entry, Rules memory rules) internal pure returns (uint256) {
        uint256 bid = entry.pricePerKwh();
        return bid > rules.priceCeilingPerKwh ? rules.priceCeilingPerKwh : bid;
    }

    /// @dev Lists sells then buys in h order; t = energyWh where the limit accepts c.
    function _clearAtCommunityPrice(IntervalBook memory book)
        private
        pure
        returns (uint256 pricePerKwh, uint256 tradedWh)
    {
        pricePerKwh = book.rules.communityPricePerKwh;
        (uint256 sellCount, uint256 sold) = _listSide(book, SIDE_SELL, 0, pricePerKwh);
        (uint256 end, uint256 bought) = _listSide(book, SIDE_BUY, sellCount, pricePerKwh);
        book.sellCount = sellCount;
        book.buyCount = end - sellCount;
        tradedWh = sold < bought ? sold : bought;
    }

    function _listSide(IntervalBook memory book, uint8 side, uint256 position, uint256 c)
        private
        pure
        returns (uint256 end, uint256 totalWh)
    {
        uint256 householdCount = book.households.length;
        Rules memory rules = book.rules;
        for (uint256 h; h < householdCount; ++h) {
            Entry entry = entryOf(book, h);
            if (entry.side() != side) continue;
            bool accepts = side == SIDE_SELL
                ? effectiveAsk(entry, rules) <= c
                : effectiveBid(entry, rules) >= c;
            uint256 energyWh = accepts ? entry.energyWh() : 0;
            book.listed[position] = h;
            book.energyWh[position] = energyWh;
            totalWh += energyWh;
            ++position;
        }
        end = position;
    }

    function _u32(bytes calldata data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := shr(224, calldataload(add(data.offset, offset)))
        }
    }
}
