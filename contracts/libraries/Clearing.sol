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
        uint256[] memory listed = book.listed;
        uint256[] memory energyWh = book.energyWh;
        uint256 previous;
        for (uint256 position; position < total; ++position) {
            uint256 h = _u16(hints, cursor + 4 + 2 * position);
            if (position == sellCount) previous = 0;
            uint256 key = _keyOf(book, h, position < sellCount);
            if (key <= previous) revert IQuartierExchange.ExchangeBadHint(k, position);
            previous = key;
            listed[position] = (key << 16) | h;
            energyWh[position] = 0;
        }
    }

    /// @dev The priority key of household h's entry as a sell or a buy, plus one (so 0 means
    /// "none yet"): price' << 16 | rank for sells, (BID_FLIP - bid') << 16 | rank for buys;
    /// 0 if h is out of range or its entry is not of that side.
    function _keyOf(IntervalBook memory book, uint256 h, bool isSell)
        private
        pure
        returns (uint256)
    {
        uint256 householdCount = book.households.length;
        if (h >= householdCount) return 0;
        Entry entry = entryOf(book, h);
        if (entry.side() != (isSell ? SIDE_SELL : SIDE_BUY)) return 0;
        uint256 rank = (h + book.intervalId) % householdCount;
        uint256 price =
            isSell ? effectiveAsk(entry, book.rules) : BID_FLIP - effectiveBid(entry, book.rules);
        return ((price << 16) | rank) + 1;
    }

    /// @dev Walks sells (ask' ascending) against buys (bid' descending) while ask' <= bid'.
    function _walk(IntervalBook memory book)
        private
        pure
        returns (uint256 tradedWh, uint256 lastAsk, uint256 lastBid)
    {
        uint256 sellCount = book.sellCount;
        if (sellCount == 0 || book.buyCount == 0) return (0, 0, 0);
        uint256[] memory listed = book.listed;
        uint256 s;
        uint256 b = sellCount;
        uint256 sellLeft = entryOf(book, listed[0] & 0xffff).energyWh();
        uint256 buyLeft = entryOf(book, listed[b] & 0xffff).energyWh();
        while (true) {
            uint256 ask = _priceOf(listed[s]);
            uint256 bid = BID_FLIP - _priceOf(listed[b]);
            if (ask > bid) break;
            uint256 q = sellLeft < buyLeft ? sellLeft : buyLeft;
            book.energyWh[s] += q;
            book.energyWh[b] += q;
            tradedWh += q;
            (lastAsk, lastBid) = (ask, bid);
            sellLeft -= q;
            buyLeft -= q;
            if (sellLeft == 0) {
                if (++s == sellCount) break;
                sellLeft = entryOf(book, listed[s] & 0xffff).energyWh();
            }
            if (buyLeft == 0) {
                if (++b == sellCount + book.buyCount) break;
                buyLeft = entryOf(book, listed[b] & 0xffff).energyWh();
            }
        }
    }

    /// @dev The price part of a listed word's key (ask', or BID_FLIP - bid').
    function _priceOf(uint256 word) private pure returns (uint256) {
        return ((word >> 16) - 1) >> 16;
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
