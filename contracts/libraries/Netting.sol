// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Entry} from "../types/Entry.sol";
import {IntervalBook} from "../types/HouseholdBook.sol";
import {Mechanism} from "../types/Rules.sol";
import {Clearing} from "./Clearing.sol";
import {MeterCodec} from "./MeterCodec.sol";

/// @title Netting
/// @notice One interval's traded energy against the meters, then its money (IQuartierExchange,
/// "Settlement", steps 3-4). Volumes are pooled per interval, so Σ_sell d_h = Σ_buy d_h = D
/// and the interval's money sums to exactly zero. Works on the entries clearing listed (a
/// household has at most one per interval), so "by h" orders are taken over those.
library Netting {
    /// @dev Marks, during scaling, a long-side entry with o_h > 0 (GIVEN: it got its 1 Wh).
    uint256 private constant LONG_FLAG = 1 << 255;
    uint256 private constant GIVEN_FLAG = 1 << 254;
    uint256 private constant NONE = type(uint256).max;

    /// @notice Per-household running totals of a settlement.
    struct Totals {
        int256[] moneyMilli;
        uint256[] deliveredWh;
        uint256[] receivedWh;
    }

    /// @notice Nets the interval and adds its money and volumes to `totals`.
    /// @dev `book.energyWh` holds t per listed position on entry, d on return.
    /// @return deliveredWh D.
    function settleInterval(IntervalBook memory book, uint256 pricePerKwh, Totals memory totals)
        internal
        pure
        returns (uint256 deliveredWh)
    {
        (uint256 sold, uint256 bought) = _meter(book);
        deliveredWh = sold < bought ? sold : bought;
        if (deliveredWh == 0) return 0;
        uint256 sellCount = book.sellCount;
        // The long side is scaled down to D; the short side keeps o_h (d_h = o_h).
        if (sold <= bought) {
            _scaleLongSide(book, sellCount, sellCount + book.buyCount, deliveredWh, bought);
        } else {
            _scaleLongSide(book, 0, sellCount, deliveredWh, sold);
        }
        if (book.rules.mechanism == Mechanism.PayAsBid) {
            _payAsBid(book, deliveredWh, totals);
        } else {
            _payAtPrice(book, pricePerKwh, totals);
        }
    }

    /// @dev o_h = min(t_h, m_h) in place; returns S and B.
    function _meter(IntervalBook memory book) private pure returns (uint256 sold, uint256 bought) {
        uint256 sellCount = book.sellCount;
        uint256 end = sellCount + book.buyCount;
        uint256[] memory energyWh = book.energyWh;
        for (uint256 p; p < end; ++p) {
            uint256 t = energyWh[p];
            if (t == 0) continue;
            bool isSell = p < sellCount;
            uint256 h = book.listed[p] & 0xffff;
            uint256 m = MeterCodec.flowAt(book.households[h].meters, book.index, isSell);
            uint256 o = t < m ? t : m;
            energyWh[p] = o;
            if (isSell) sold += o;
            else bought += o;
        }
    }

    /// @dev Positions [from, to) are the long side: d_h = floor(o_h * D / L), then the
    /// D - Σ d_h Wh left over 1 Wh each to its first households (by h) with o_h > 0.
    function _scaleLongSide(
        IntervalBook memory book,
        uint256 from,
        uint256 to,
        uint256 deliveredWh,
        uint256 longWh
    ) private pure {
        if (deliveredWh == longWh) return;
        uint256[] memory energyWh = book.energyWh;
        uint256 left = deliveredWh;
        for (uint256 p = from; p < to; ++p) {
            uint256 o = energyWh[p];
            if (o == 0) continue;
            uint256 d = o * deliveredWh / longWh;
            energyWh[p] = d | LONG_FLAG;
            left -= d;
        }
        // left < the number of flagged entries (each lost less than 1 Wh to the floor).
        for (; left > 0; --left) {
            uint256 best = NONE;
            uint256 bestH = NONE;
            for (uint256 p = from; p < to; ++p) {
                uint256 value = energyWh[p];
                if (value & LONG_FLAG == 0 || value & GIVEN_FLAG != 0) continue;
                uint256 h = book.listed[p] & 0xffff;
                if (h < bestH) (best, bestH) = (p, h);
            }
            energyWh[best] = (energyWh[best] + 1) | GIVEN_FLAG;
        }
        for (uint256 p = from; p < to; ++p) {
            energyWh[p] &= ~(LONG_FLAG | GIVEN_FLAG);
        }
    }

    function _payAtPrice(IntervalBook memory book, uint256 pricePerKwh, Totals memory totals)
        private
        pure
    {
        uint256 sellCount = book.sellCount;
        uint256 end = sellCount + book.buyCount;
        uint256[] memory energyWh = book.energyWh;
        for (uint256 p; p < end; ++p) {
            uint256 d = energyWh[p];
            if (d == 0) continue;
            uint256 h = book.listed[p] & 0xffff;
            int256 amount = int256(d * pricePerKwh);
            if (p < sellCount) {
                totals.moneyMilli[h] += amount;
                totals.deliveredWh[h] += d;
            } else {
                totals.moneyMilli[h] -= amount;
                totals.receivedWh[h] += d;
            }
        }
    }

    /// @dev Buyers pay d_h * bid'_h; the pot goes to sellers pro rata to d_h, the remainder
    /// to the first seller (by h) with d_h > 0.
    function _payAsBid(IntervalBook memory book, uint256 deliveredWh, Totals memory totals)
        private
        pure
    {
        uint256 sellCount = book.sellCount;
        uint256 end = sellCount + book.buyCount;
        uint256[] memory energyWh = book.energyWh;
        uint256 pot;
        for (uint256 p = sellCount; p < end; ++p) {
            uint256 d = energyWh[p];
            if (d == 0) continue;
            uint256 h = book.listed[p] & 0xffff;
            Entry entry = Clearing.entryOf(book, h);
            uint256 amount = d * Clearing.effectiveBid(entry, book.rules);
            pot += amount;
            totals.moneyMilli[h] -= int256(amount);
            totals.receivedWh[h] += d;
        }
        uint256 left = pot;
        uint256 firstH = NONE;
        for (uint256 p; p < sellCount; ++p) {
            uint256 d = energyWh[p];
            if (d == 0) continue;
            uint256 h = book.listed[p] & 0xffff;
            if (h < firstH) firstH = h;
            uint256 share = pot * d / deliveredWh;
            left -= share;
            totals.moneyMilli[h] += int256(share);
            totals.deliveredWh[h] += d;
        }
        totals.moneyMilli[firstH] += int256(left);
    }
}
