// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice One interval's schedule entry: the 8 signed bytes read as a big-endian uint64,
/// side (8 bits) | energyWh (24 bits) | pricePerKwh (32 bits) (IQuartierExchange, "Schedules").
type Entry is uint64;

uint8 constant SIDE_NONE = 0;
uint8 constant SIDE_SELL = 1;
uint8 constant SIDE_BUY = 2;

using EntryLib for Entry global;

library EntryLib {
    function side(Entry entry) internal pure returns (uint8) {
        return uint8(Entry.unwrap(entry) >> 56);
    }

    function energyWh(Entry entry) internal pure returns (uint256) {
        return (Entry.unwrap(entry) >> 32) & 0xffffff;
    }

    /// @notice The signed limit: a seller's lowest ask or a buyer's highest bid.
    function pricePerKwh(Entry entry) internal pure returns (uint256) {
        return Entry.unwrap(entry) & 0xffffffff;
    }
}
