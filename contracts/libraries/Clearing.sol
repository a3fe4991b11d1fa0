// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierExchange} from "../interfaces/IQuartierExchange.sol";
import {Entry, SIDE_SELL, SIDE_BUY} from "../types/Entry.sol";
import {HouseholdBook, IntervalBook} from "../types/HouseholdBook.sol";
import {Mechanism, Rules} from "../types/Rules.sol";
import {ScheduleCodec} from "./ScheduleCodec.sol";

/// @title Clearing
/// @notice One interval's book into traded energy per household (IQuartierExchange,
/// "Settlement", steps 1-2): the settler's priority hints are checked, never trusted, so the
/// result is the rule's whatever valid hints are given (they are unique).
library Clearing {
    using ScheduleCodec for bytes;

    /// @dev Buy keys sort bids descending: BID_FLIP - bid' grows as bid' falls.
    uint256 private constant BID_FLIP = 1 << 64;

    /// @notice Clears the interval into `book.energyWh` (t_h per household, Wh).
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
        (uint256 sellCount, uint256 buyCount) = _countSides(book);
        next = _checkHints(book, hints, cursor, sellCount, buyCount);
        uint256 lastAsk;
        uint256 lastBid;
        (tradedWh, lastAsk, lastBid) = _walk(book, sellCount, buyCount);
        if (book.rules.mechanism == Mechanism.PayAsClear && tradedWh > 0) {
            pricePerKwh = (lastAsk + lastBid) / 2;
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

    /// @dev Counts the interval's sells and buys and zeroes `traded`.
    function _countSides(IntervalBook memory book)
        private
        pure
        returns (uint256 sellCount, uint256 buyCount)
    {
        HouseholdBook[] memory books = book.households;
        uint256[] memory traded = book.energyWh;
        uint256 i = book.index;
        uint256 householdCount = books.length;
        for (uint256 h; h < householdCount; ++h) {
            traded[h] = 0;
            uint8 side = books[h].entries.entryAt(i).side();
            if (side == SIDE_SELL) ++sellCount;
            else if (side == SIDE_BUY) ++buyCount;
        }
    }

    /// @dev Checks the interval's hints (counts, then each index: in range, of its side, and
    /// strictly after its predecessor in priority) and leaves in `scratch`, per position,
    /// key << 16 | h with key = price' << 16 | rank (buys: (BID_FLIP - bid') << 16 | rank).
    function _checkHints(
        IntervalBook memory book,
        bytes calldata hints,
        uint256 cursor,
        uint256 sellCount,
        uint256 buyCount
    ) private pure returns (uint256 next) {
        uint64 k = book.intervalId;
        uint256 total = sellCount + buyCount;
        next = cursor + 4 + 2 * total;
        if (hints.length < cursor + 4 || hints.length < next) {
            revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        }
        if (_u16(hints, cursor) != sellCount || _u16(hints, cursor + 2) != buyCount) {
            revert IQuartierExchange.ExchangeBadHint(k, type(uint256).max);
        }
        uint256 previous;
        for (uint256 position; position < total; ++position) {
            uint256 h = _u16(hints, cursor + 4 + 2 * position);
            if (position == sellCount) previous = 0;
            uint256 key = _keyOf(book, h, position < sellCount);
            if (key <= previous) revert IQuartierExchange.ExchangeBadHint(k, position);
            previous = key;
            book.scratch[position] = (key << 16) | h;
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
        Entry entry = book.households[h].entries.entryAt(book.index);
        if (entry.side() != (isSell ? SIDE_SELL : SIDE_BUY)) return 0;
        uint256 rank = (h + book.intervalId) % householdCount;
        uint256 price =
            isSell ? effectiveAsk(entry, book.rules) : BID_FLIP - effectiveBid(entry, book.rules);
        return ((price << 16) | rank) + 1;
    }

    /// @dev Walks sells (ask' ascending) against buys (bid' descending) while ask' <= bid'.
    function _walk(IntervalBook memory book, uint256 sellCount, uint256 buyCount)
        private
        pure
        returns (uint256 tradedWh, uint256 lastAsk, uint256 lastBid)
    {
        if (sellCount == 0 || buyCount == 0) return (0, 0, 0);
        uint256[] memory scratch = book.scratch;
        uint256 s;
        uint256 b = sellCount;
        uint256 end = sellCount + buyCount;
        uint256 sellLeft = _energyOf(book, scratch[0]);
        uint256 buyLeft = _energyOf(book, scratch[b]);
        while (true) {
            uint256 ask = _priceOf(scratch[s]);
            uint256 bid = BID_FLIP - _priceOf(scratch[b]);
            if (ask > bid) break;
            uint256 q = sellLeft < buyLeft ? sellLeft : buyLeft;
            book.energyWh[scratch[s] & 0xffff] += q;
            book.energyWh[scratch[b] & 0xffff] += q;
            tradedWh += q;
            (lastAsk, lastBid) = (ask, bid);
            sellLeft -= q;
            buyLeft -= q;
            if (sellLeft == 0) {
                if (++s == sellCount) break;
                sellLeft = _energyOf(book, scratch[s]);
            }
            if (buyLeft == 0) {
                if (++b == end) break;
                buyLeft = _energyOf(book, scratch[b]);
            }
        }
    }

    /// @dev The energy of the entry a scratch word names.
    function _energyOf(IntervalBook memory book, uint256 word) private pure returns (uint256) {
        return book.households[word & 0xffff].entries.entryAt(book.index).energyWh();
    }

    /// @dev The price part of a scratch word's key (ask', or BID_FLIP - bid').
    function _priceOf(uint256 word) private pure returns (uint256) {
        return ((word >> 16) - 1) >> 16;
    }

    function _clearAtCommunityPrice(IntervalBook memory book)
        private
        pure
        returns (uint256 pricePerKwh, uint256 tradedWh)
    {
        HouseholdBook[] memory books = book.households;
        Rules memory rules = book.rules;
        uint256[] memory traded = book.energyWh;
        uint256 i = book.index;
        pricePerKwh = rules.communityPricePerKwh;
        uint256 sold;
        uint256 bought;
        uint256 householdCount = books.length;
        for (uint256 h; h < householdCount; ++h) {
            Entry entry = books[h].entries.entryAt(i);
            uint8 side = entry.side();
            uint256 energyWh;
            if (side == SIDE_SELL && effectiveAsk(entry, rules) <= pricePerKwh) {
                energyWh = entry.energyWh();
                sold += energyWh;
            } else if (side == SIDE_BUY && effectiveBid(entry, rules) >= pricePerKwh) {
                energyWh = entry.energyWh();
                bought += energyWh;
            }
            traded[h] = energyWh;
        }
        tradedWh = sold < bought ? sold : bought;
    }

    function _u16(bytes calldata data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := shr(240, calldataload(add(data.offset, offset)))
        }
    }
}
