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

    /// @notice The lock of entries already checked by `lockOf` (settlement's recomputation).
    function lockOfValid(bytes calldata entries) internal pure returns (uint256 lockUnits) {
        assembly ("memory-safe") {
            let lockMilli := 0
            for {
                let at := entries.offset
                let end := add(at, entries.length)
            } lt(at, end) { at := add(at, 8) } {
                let entry := shr(192, calldataload(at))
                if eq(shr(56, entry), 2) {
                    lockMilli := add(
                        lockMilli,
                        mul(and(shr(32, entry), 0xffffff), and(entry, 0xffffffff))
                    )
                }
            }
            lockUnits := div(add(lockMilli, 999), 1000)
        }
    }

    /// @notice Checks every entry (side 0-2; a none entry all zeros; energyWh >= minEntryWh
    /// otherwise) and returns the posting's lock, ceil(Σ_buy energyWh * pricePerKwh / 1000).
    /// @return lockUnits the posting's lock.
    /// @return badIndex type(uint256).max when every entry is valid, else the first bad one.
    function lockOf(bytes calldata entries, uint256 minEntryWh)
        internal
        pure
        returns (uint256 lockUnits, uint256 badIndex)
    {
        uint256 count = entries.length / ENTRY_BYTES;
        if (entries.length % ENTRY_BYTES != 0) return (0, count);
        badIndex = type(uint256).max;
        assembly ("memory-safe") {
            let lockMilli := 0
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                let entry := shr(192, calldataload(add(entries.offset, shl(3, i))))
                let side := shr(56, entry)
                let energyWh := and(shr(32, entry), 0xffffff)
                // none: all zeros; sell (1) or buy (2): energyWh >= minEntryWh.
                let bad := 0
                switch side
                case 0 { bad := iszero(iszero(entry)) }
                case 1 { bad := lt(energyWh, minEntryWh) }
                case 2 {
                    bad := lt(energyWh, minEntryWh)
                    lockMilli := add(lockMilli, mul(energyWh, and(entry, 0xffffffff)))
                }
                default { bad := 1 }
                if bad {
                    badIndex := i
                    break
                }
            }
            switch eq(badIndex, not(0))
            case 1 { lockUnits := div(add(lockMilli, 999), 1000) }
            default { lockUnits := 0 }
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
