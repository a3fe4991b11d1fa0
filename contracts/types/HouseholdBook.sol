// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

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
