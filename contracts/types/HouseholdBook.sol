// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Rules} from "./Rules.sol";

/// @notice One household's period as settlement sees it once its postings and meter data are
/// checked: what clearing and netting read, interval by interval.
struct HouseholdBook {
    /// The period's entries, 8 bytes per interval (index i = intervalId - first interval of
    /// the period), after applying every posting in order; none where the household's
    /// membership does not count.
    bytes entries;
    /// The meters that have data and count for some interval of the period, each packed as
    /// MeterCodec.packRef(calldata offset of its deltas, first counting index, end index).
    uint256[] meters;
}

/// @notice The interval being settled: every household's book, the period's rules, and the
/// working arrays clearing and netting share (allocated once per settlement).
struct IntervalBook {
    HouseholdBook[] households;
    /// Per household h: the memory address of its book's first entry (the hot loops read
    /// entries through it).
    uint256[] entriesAt;
    Rules rules;
    /// Index of the interval within its period, and its interval id.
    uint256 index;
    uint64 intervalId;
    /// The interval's entries as clearing lists them, sells at positions [0, sellCount), buys
    /// at [sellCount, sellCount + buyCount), each side in h order: per position energyWh <<
    /// 128 | key << 16 | h, key the limit (Clearing); under CommunityPrice just h.
    uint256[] listed;
    uint256 sellCount;
    uint256 buyCount;
    /// Per position: t after clearing, then o, then d after netting.
    uint256[] energyWh;
}
