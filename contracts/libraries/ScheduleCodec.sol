// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ScheduleCodec
/// @notice The 8-byte entries of a schedule: validation and escrow lock at posting, the
/// period's book at settlement (IQuartierExchange, "Schedules").
library ScheduleCodec {
    uint256 internal constant ENTRY_BYTES = 8;

    /// @dev The EIP-712 type of what a household signs.
    bytes32 internal constant SCHEDULE_TYPEHASH = keccak256(
        "Schedule(address household,uint64 periodId,uint32 version,uint64 firstIntervalId,bytes entries)"
    );

    /// @notice The EIP-712 struct hash of a schedule (the value chained per household-period).
    function structHash(
        address household,
        uint64 periodId,
        uint32 version,
        uint64 firstIntervalId,
        bytes calldata entries
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                SCHEDULE_TYPEHASH, household, periodId, version, firstIntervalId, keccak256(entries)
            )
        );
    }

    /// @notice The next head of a (household, period)'s posting chain: the high 192 bits of
    /// keccak256(abi.encode(head, scheduleStructHash)), head read as bytes32 (low bits zero).
    /// 192 bits keep the record in one storage slot with its version and count.
    function chain(bytes24 head, bytes32 scheduleHash) internal pure returns (bytes24) {
        return bytes24(keccak256(abi.encode(bytes32(head), scheduleHash)));
    }

    /// @dev Word-wise (SWAR) reading: a calldata word holds four entries, one per 64-bit lane
    /// (side in the lane's bits 56-63, energyWh 32-55, pricePerKwh 0-31). Bit 0 of each lane:
    uint256 private constant LANE_ONES =
        0x0000000000000001000000000000000100000000000000010000000000000001;
    /// @dev Each lane's energyWh moved down to bits 0-23.
    uint256 private constant LANE_ENERGY =
        0x0000000000ffffff0000000000ffffff0000000000ffffff0000000000ffffff;
    /// @dev Side bits 58-63 (a side above 3).
    uint256 private constant LANE_SIDE_HIGH =
        0xfc00000000000000fc00000000000000fc00000000000000fc00000000000000;

    /// @notice The lock of entries already checked by `lockOf` (settlement's recomputation).
    function lockOfValid(bytes calldata entries) internal pure returns (uint256 lockUnits) {
        assembly ("memory-safe") {
            let lockMilli := 0
            let end := add(entries.offset, entries.length)
            for { let at := entries.offset } lt(at, end) { at := add(at, 32) } {
                let word := calldataload(at)
                // A last partial word: the bytes past the entries (other calldata) cleared.
                if lt(sub(end, at), 32) {
                    word := and(word, not(shr(shl(3, sub(end, at)), not(0))))
                }
                // Buy lanes (side 2: bit 57) keep their energy, the others 0.
                let buyWh :=
                    and(
                        and(shr(32, word), LANE_ENERGY),
                        mul(and(shr(57, word), LANE_ONES), 0xffffff)
                    )
                lockMilli := add(lockMilli, _buyMilli(word, buyWh))
            }
            lockUnits := div(add(lockMilli, 999), 1000)

            // Σ over the four lanes of buy energy * price.
            function _buyMilli(word, buyWh) -> milli {
                milli := add(
                    add(
                        mul(and(buyWh, 0xffffff), and(word, 0xffffffff)),
                        mul(and(shr(64, buyWh), 0xffffff), and(shr(64, word), 0xffffffff))
                    ),
                    add(
                        mul(and(shr(128, buyWh), 0xffffff), and(shr(128, word), 0xffffffff)),
                        mul(shr(192, buyWh), and(shr(192, word), 0xffffffff))
                    )
                )
            }
        }
    }

    /// @notice Checks every entry (side 0-2; a none entry all zeros; energyWh >= minEntryWh
    /// otherwise) and returns the posting's lock, ceil(Σ_buy energyWh * pricePerKwh / 1000).
    /// Four entries per word (SWAR); only a bad posting walks entry by entry, for the index.
    /// @return lockUnits the posting's lock.
    /// @return badIndex type(uint256).max when every entry is valid, else the first bad one.
    function lockOf(bytes calldata entries, uint256 minEntryWh)
        internal
        pure
        returns (uint256 lockUnits, uint256 badIndex)
    {
        uint256 count = entries.length / ENTRY_BYTES;
        if (entries.length % ENTRY_BYTES != 0) return (0, count);
        uint256 badBits;
        assembly ("memory-safe") {
            // energyWh + (2^24 - minEntryWh) has bit 24 set iff energyWh >= minEntryWh
            // (1 <= minEntryWh < 2^24: no carry leaves the lane).
            let slack := mul(LANE_ONES, sub(shl(24, 1), minEntryWh))
            let lockMilli := 0
            let end := add(entries.offset, entries.length)
            for { let at := entries.offset } lt(at, end) { at := add(at, 32) } {
                let word := calldataload(at)
                if lt(sub(end, at), 32) {
                    word := and(word, not(shr(shl(3, sub(end, at)), not(0))))
                }
                let side0 := and(shr(56, word), LANE_ONES)
                let side1 := and(shr(57, word), LANE_ONES)
                let used := or(side0, side1)
                let energyWh := and(shr(32, word), LANE_ENERGY)
                // Bad: a side above 2, a none lane with any bit set, a sell or buy lane
                // below the minimum energy.
                badBits := or(
                    badBits,
                    or(
                        or(and(word, LANE_SIDE_HIGH), and(side0, side1)),
                        or(
                            and(word, not(mul(used, 0xffffffffffffffff))),
                            and(used, not(shr(24, add(energyWh, slack))))
                        )
                    )
                )
                let buyWh := and(energyWh, mul(side1, 0xffffff))
                lockMilli := add(
                    lockMilli,
                    add(
                        add(
                            mul(and(buyWh, 0xffffff), and(word, 0xffffffff)),
                            mul(and(shr(64, buyWh), 0xffffff), and(shr(64, word), 0xffffffff))
                        ),
                        add(
                            mul(and(shr(128, buyWh), 0xffffff), and(shr(128, word), 0xffffffff)),
                            mul(shr(192, buyWh), and(shr(192, word), 0xffffffff))
                        )
                    )
                )
            }
            lockUnits := div(add(lockMilli, 999), 1000)
        }
        if (badBits != 0) return (0, _firstBad(entries, count, minEntryWh));
        badIndex = type(uint256).max;
    }

    /// @dev The first entry `lockOf` refuses (one exists).
    function _firstBad(bytes calldata entries, uint256 count, uint256 minEntryWh)
        private
        pure
        returns (uint256 badIndex)
    {
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                let entry := shr(192, calldataload(add(entries.offset, shl(3, i))))
                let side := shr(56, entry)
                let energyWh := and(shr(32, entry), 0xffffff)
                // none: all zeros; sell (1) or buy (2): energyWh >= minEntryWh.
                let bad := 0
                switch side
                case 0 { bad := iszero(iszero(entry)) }
                case 1 { bad := lt(energyWh, minEntryWh) }
                case 2 { bad := lt(energyWh, minEntryWh) }
                default { bad := 1 }
                if bad {
                    badIndex := i
                    break
                }
            }
        }
    }

    /// @notice Applies a posting to `book`: from index `firstIndex` on, its entries, then none
    /// up to the period's end. The caller has checked the posting against its commitment (so
    /// firstIndex + entries/8 <= the book's length).
    function applyPosting(bytes memory book, uint256 firstIndex, bytes calldata entries)
        internal
        pure
    {
        assembly ("memory-safe") {
            let start := add(add(book, 32), mul(firstIndex, 8))
            calldatacopy(start, entries.offset, entries.length)
            let tail := add(start, entries.length)
            // Copying from past the end of calldata writes zeros.
            calldatacopy(tail, calldatasize(), sub(add(add(book, 32), mload(book)), tail))
        }
    }

    /// @notice Sets to none the book's entries outside [fromIndex, toIndex) (where the
    /// household's membership does not count).
    function keepOnly(bytes memory book, uint256 fromIndex, uint256 toIndex) internal pure {
        uint256 length = book.length;
        if (toIndex < fromIndex) toIndex = fromIndex;
        assembly ("memory-safe") {
            let base := add(book, 32)
            calldatacopy(base, calldatasize(), mul(fromIndex, 8))
            calldatacopy(add(base, mul(toIndex, 8)), calldatasize(), sub(length, mul(toIndex, 8)))
        }
    }
}
