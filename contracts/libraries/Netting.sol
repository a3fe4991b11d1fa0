// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Entry, SIDE_SELL, SIDE_BUY} from "../types/Entry.sol";
import {HouseholdBook, IntervalBook} from "../types/HouseholdBook.sol";
import {Mechanism, Rules} from "../types/Rules.sol";
import {Clearing} from "./Clearing.sol";
import {MeterCodec} from "./MeterCodec.sol";
import {ScheduleCodec} from "./ScheduleCodec.sol";

/// @title Netting
/// @notice One interval's traded energy against the meters, then its money (IQuartierExchange,
/// "Settlement", steps 3-4). Volumes are pooled per interval, so Σ_sell d_h = Σ_buy d_h = D
/// and the interval's money sums to exactly zero.
library Netting {
    using ScheduleCodec for bytes;

    uint256 private constant LONG_FLAG = 1 << 255;

    /// @notice Per-household running totals of a settlement.
    struct Totals {
        int256[] moneyMilli;
        uint256[] deliveredWh;
        uint256[] receivedWh;
    }

    /// @notice Nets interval index `i` and adds its money and volumes to `totals`.
    /// @dev `book.energyWh` holds t_h per household on entry, o_h then d_h on return.
    /// @return deliveredWh D.
    function settleInterval(IntervalBook memory book, uint256 pricePerKwh, Totals memory totals)
        internal
        pure
        returns (uint256 deliveredWh)
    {
        HouseholdBook[] memory books = book.households;
        uint256[] memory traded = book.energyWh;
        uint256 i = book.index;
        (uint256 sold, uint256 bought) = _meter(books, i, traded);
        deliveredWh = sold < bought ? sold : bought;
        if (deliveredWh == 0) return 0;
        // The long side is scaled down to D; the short side keeps o_h (d_h = o_h).
        uint8 longSide = sold <= bought ? SIDE_BUY : SIDE_SELL;
        _scaleLongSide(books, i, traded, longSide, deliveredWh, sold <= bought ? bought : sold);
        if (book.rules.mechanism == Mechanism.PayAsBid) {
            _payAsBid(books, i, book.rules, traded, deliveredWh, totals);
        } else {
            _payAtPrice(books, i, pricePerKwh, traded, totals);
        }
    }

    /// @dev o_h = min(t_h, m_h) into `traded`; returns S and B.
    function _meter(HouseholdBook[] memory books, uint256 i, uint256[] memory traded)
        private
        pure
        returns (uint256 sold, uint256 bought)
    {
        uint256 householdCount = books.length;
        for (uint256 h; h < householdCount; ++h) {
            uint256 t = traded[h];
            if (t == 0) continue;
            bool isSell = books[h].entries.entryAt(i).side() == SIDE_SELL;
            uint256 m = MeterCodec.flowAt(books[h].meters, i, isSell);
            uint256 o = t < m ? t : m;
            traded[h] = o;
            if (isSell) sold += o;
            else bought += o;
        }
    }

    /// @dev d_h = floor(o_h * D / L) on the long side, then the D - Σ d_h Wh left over 1 Wh
    /// each to the first long-side households (by h) with o_h > 0.
    function _scaleLongSide(
        HouseholdBook[] memory books,
        uint256 i,
        uint256[] memory traded,
        uint8 longSide,
        uint256 deliveredWh,
        uint256 longWh
    ) private pure {
        if (deliveredWh == longWh) return;
        uint256 householdCount = books.length;
        uint256 left = deliveredWh;
        for (uint256 h; h < householdCount; ++h) {
            uint256 o = traded[h];
            if (o == 0 || books[h].entries.entryAt(i).side() != longSide) continue;
            uint256 d = o * deliveredWh / longWh;
            // The flag remembers o_h > 0 for the remainder pass even when d_h rounds to 0.
            traded[h] = d | LONG_FLAG;
            left -= d;
        }
        for (uint256 h; h < householdCount; ++h) {
            uint256 value = traded[h];
            if (value & LONG_FLAG == 0) continue;
            value ^= LONG_FLAG;
            if (left > 0) {
                ++value;
                --left;
            }
            traded[h] = value;
        }
    }

    function _payAtPrice(
        HouseholdBook[] memory books,
        uint256 i,
        uint256 pricePerKwh,
        uint256[] memory delivered,
        Totals memory totals
    ) private pure {
        uint256 householdCount = books.length;
        for (uint256 h; h < householdCount; ++h) {
            uint256 d = delivered[h];
            if (d == 0) continue;
            int256 amount = int256(d * pricePerKwh);
            if (books[h].entries.entryAt(i).side() == SIDE_SELL) {
                totals.moneyMilli[h] += amount;
                totals.deliveredWh[h] += d;
            } else {
                totals.moneyMilli[h] -= amount;
                totals.receivedWh[h] += d;
            }
        }
    }

    function _payAsBid(
        HouseholdBook[] memory books,
        uint256 i,
        Rules memory rules,
        uint256[] memory delivered,
        uint256 deliveredWh,
        Totals memory totals
    ) private pure {
        uint256 householdCount = books.length;
        uint256 pot;
        for (uint256 h; h < householdCount; ++h) {
            uint256 d = delivered[h];
            if (d == 0) continue;
            Entry entry = books[h].entries.entryAt(i);
            if (entry.side() == SIDE_BUY) {
                uint256 amount = d * Clearing.effectiveBid(entry, rules);
                pot += amount;
                totals.moneyMilli[h] -= int256(amount);
                totals.receivedWh[h] += d;
            }
        }
        uint256 left = pot;
        uint256 first = type(uint256).max;
        for (uint256 h; h < householdCount; ++h) {
            uint256 d = delivered[h];
            if (d == 0 || books[h].entries.entryAt(i).side() != SIDE_SELL) continue;
            if (first == type(uint256).max) first = h;
            uint256 share = pot * d / deliveredWh;
            left -= share;
            totals.moneyMilli[h] += int256(share);
            totals.deliveredWh[h] += d;
        }
        totals.moneyMilli[first] += int256(left);
    }
}
