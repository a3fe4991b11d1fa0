// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierExchange} from "../interfaces/IQuartierExchange.sol";
import {Entry, SIDE_SELL, SIDE_BUY} from "../types/Entry.sol";
import {IntervalBook} from "../types/HouseholdBook.sol";
import {Mechanism, Rules} from "../types/Rules.sol";

/// @title Clearing
/// @notice One interval's book into traded energy per entry (IQuartierExchange, "Settlement",
/// steps 1-2). The settler's priority hints are checked, never trusted: each listed index must
/// be an entry of its side, strictly after its predecessor in priority, and (checked over the
/// period, see `listedTotal`) every entry must be listed, so the only valid hints are the
/// rule's rankings and the result is the rule's whoever settles.
library Clearing {
    /// @dev Buy keys sort bids descending: BID_FLIP - bid' grows as bid' falls.
    uint256 private constant BID_FLIP = 1 << 64;
    /// @dev A listed word is energyWh << 128 | key << 16 | h, key = price' << 16 | rank with
    /// price' <= 2^64: (word >> 32) & PRICE_MASK is price'.
    uint256 private constant PRICE_MASK = (1 << 72) - 1;
    uint256 private constant KEY_MASK = (1 << 128) - 1;

    /// @notice Lists and clears the interval: `book.listed`, the side counts and, per
    /// position, t in `book.energyWh`.
    /// @param cursor where this interval's hints start in `hints`.
    /// @return next where the next interval's hints start.
    /// @return pricePerKwh PayAsClear: p (0 if nothing matched); CommunityPrice: c; PayAsBid: 0.
    /// @return tradedWh min(Σ_sell t_h, Σ_buy t_h).
    function clear(IntervalBook memory book, bytes calldata hints, uint256 cursor)
        internal
        pure
        returns (uint256 next, uint256 pricePerKwh, uint256 tradedWh)
    {
        if (book.rules.mechanism == Mechanism.CommunityPrice) {
            (pricePerKwh, tradedWh) = _clearAtCommunityPrice(book);
            return (cursor, pricePerKwh, tradedWh);
        }
        next = _checkHints(book, hints, cursor);
        uint256 lastAsk;
        uint256 lastBid;
        (tradedWh, lastAsk, lastBid) = _walk(book);
        if (book.rules.mechanism == Mechanism.PayAsClear && tradedWh > 0) {
            pricePerKwh = (lastAsk + lastBid) / 2;
        }
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

    /// @dev Reads the interval's counts and indices into `book.listed`, each checked: in
    /// range, of its side, strictly after its predecessor in priority.
    function _checkHints(IntervalBook memory book, bytes calldata hints, uint256 cursor)
        private
        pure
        returns (uint256 next)
    {
        uint64 k = book.intervalId;
        if (hints.length < cursor + 4) {
            revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        }
        uint256 sellCount = _u16(hints, cursor);
        uint256 total = sellCount + _u16(hints, cursor + 2);
        next = cursor + 4 + 2 * total;
        // A household has one entry per interval, so more than H indices must repeat one.
        if (hints.length < next || total > book.households.length) {
            revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        }
        book.sellCount = sellCount;
        book.buyCount = total - sellCount;
        book.listedTotal += total;
        uint256 from;
        assembly ("memory-safe") {
            from := add(hints.offset, add(cursor, 4))
        }
        uint256 bad = _scan(book, from, sellCount, total);
        if (bad != type(uint256).max) revert IQuartierExchange.ExchangeBadHint(k, bad);
    }

    /// @dev Checks `total` uint16 indices at calldata offset `from` and fills `book.listed`
    /// (energyWh << 128 | key << 16 | h); returns the first bad position, or
    /// type(uint256).max. A key is (ask' + 1) << 16 | rank for a sell, (BID_FLIP - bid') << 16
    /// | rank for a buy: keys ascend in priority on both sides and are never 0 ("none yet").
    function _scan(IntervalBook memory book, uint256 from, uint256 sellCount, uint256 total)
        private
        pure
        returns (uint256 bad)
    {
        uint256 bounds =
            (uint256(book.rules.priceFloorPerKwh) << 128) | book.rules.priceCeilingPerKwh;
        // IntervalBook's words: households 0x00, entriesAt 0x20, rules 0x40, index 0x60,
        // intervalId 0x80, listed 0xa0, sellCount 0xc0, buyCount 0xe0, energyWh 0x100.
        assembly ("memory-safe") {
            let householdCount := mload(mload(book))
            let rankBase := mod(mload(add(book, 0x80)), householdCount)
            let listedData := add(mload(add(book, 0xa0)), 32)
            bad := not(0)
            let previous := 0
            for { let p := 0 } lt(p, total) { p := add(p, 1) } {
                if eq(p, sellCount) { previous := 0 }
                let h := shr(240, calldataload(add(from, shl(1, p))))
                if iszero(lt(h, householdCount)) {
                    bad := p
                    break
                }
                // word: energyWh << 128 | price' << 16, price' 0 if h's entry is not of the side.
                let word := 0
                {
                    let at := mload(add(mload(add(book, 0x20)), shl(5, add(h, 1))))
                    let entry := shr(192, mload(add(at, shl(3, mload(add(book, 0x60))))))
                    let price := and(entry, 0xffffffff)
                    switch lt(p, sellCount)
                    case 1 {
                        if eq(shr(56, entry), 1) {
                            if lt(price, shr(128, bounds)) { price := shr(128, bounds) }
                            word := add(price, 1)
                        }
                    }
                    default {
                        if eq(shr(56, entry), 2) {
                            if gt(price, and(bounds, KEY_MASK)) { price := and(bounds, KEY_MASK) }
                            word := sub(BID_FLIP, price)
                        }
                    }
                    word := or(shl(128, and(shr(32, entry), 0xffffff)), shl(16, word))
                }
                if iszero(and(word, KEY_MASK)) {
                    bad := p
                    break
                }
                {
                    // rank = (h + k) mod H; h < H and rankBase < H.
                    let rank := add(h, rankBase)
                    if iszero(lt(rank, householdCount)) {
                        rank := sub(rank, householdCount)
                    }
                    word := or(word, rank)
                }
                let key := and(word, KEY_MASK)
                if iszero(gt(key, previous)) {
                    bad := p
                    break
                }
                previous := key
                mstore(add(listedData, shl(5, p)), or(sub(word, key), or(shl(16, key), h)))
            }
        }
    }

    /// @dev Walks sells (ask' ascending) against buys (bid' descending) while ask' <= bid',
    /// adding each step to both entries' t.
    function _walk(IntervalBook memory book)
        private
        pure
        returns (uint256 tradedWh, uint256 lastAsk, uint256 lastBid)
    {
        uint256 sellCount = book.sellCount;
        uint256 end = sellCount + book.buyCount;
        assembly ("memory-safe") {
            // The energy of the entry at listed position p.
            function energyAt(b, p) -> e {
                e := shr(128, mload(add(mload(add(b, 0xa0)), shl(5, add(p, 1)))))
            }
            let energyData := add(mload(add(book, 0x100)), 32)
            for { let p := 0 } lt(p, end) { p := add(p, 1) } {
                mstore(add(energyData, shl(5, p)), 0)
            }
            if and(gt(sellCount, 0), gt(end, sellCount)) {
                let listedData := add(mload(add(book, 0xa0)), 32)
                let s := 0
                let b := sellCount
                let sellLeft := energyAt(book, s)
                let buyLeft := energyAt(book, b)
                for {} 1 {} {
                    let ask := sub(and(shr(32, mload(add(listedData, shl(5, s)))), PRICE_MASK), 1)
                    let bid :=
                        sub(BID_FLIP, and(shr(32, mload(add(listedData, shl(5, b)))), PRICE_MASK))
                    if gt(ask, bid) { break }
                    let q := sellLeft
                    if lt(buyLeft, q) { q := buyLeft }
                    {
                        let at := add(energyData, shl(5, s))
                        mstore(at, add(mload(at), q))
                    }
                    {
                        let at := add(energyData, shl(5, b))
                        mstore(at, add(mload(at), q))
                    }
                    tradedWh := add(tradedWh, q)
                    lastAsk := ask
                    lastBid := bid
                    sellLeft := sub(sellLeft, q)
                    buyLeft := sub(buyLeft, q)
                    if iszero(sellLeft) {
                        s := add(s, 1)
                        if eq(s, sellCount) { break }
                        sellLeft := shr(128, mload(add(listedData, shl(5, s))))
                    }
                    if iszero(buyLeft) {
                        b := add(b, 1)
                        if eq(b, end) { break }
                        buyLeft := shr(128, mload(add(listedData, shl(5, b))))
                    }
                }
            }
        }
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

    function _u16(bytes calldata data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := shr(240, calldataload(add(data.offset, offset)))
        }
    }
}
