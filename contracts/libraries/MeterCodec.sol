// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title MeterCodec
/// @notice A meter's period batch: 8 bytes per interval (uint32 importWh, uint32 exportWh,
/// big-endian), read straight from calldata (IQuartierExchange, "Meter batches").
library MeterCodec {
    uint256 internal constant DELTA_BYTES = 8;

    /// @dev The EIP-712 type of what a meter signs.
    bytes32 internal constant METER_PERIOD_TYPEHASH = keccak256(
        "MeterPeriod(bytes32 meterId,uint64 periodId,uint64 startImportWh,uint64 startExportWh,bytes deltas)"
    );

    function structHash(
        bytes32 meterId,
        uint64 periodId,
        uint64 startImportWh,
        uint64 startExportWh,
        bytes calldata deltas
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                METER_PERIOD_TYPEHASH,
                meterId,
                periodId,
                startImportWh,
                startExportWh,
                keccak256(deltas)
            )
        );
    }

    /// @notice Σ importWh and Σ exportWh over the whole batch (length a multiple of 8).
    function totals(bytes calldata deltas)
        internal
        pure
        returns (uint256 importWh, uint256 exportWh)
    {
        assembly ("memory-safe") {
            // Four deltas per word: import in the high and export in the low half of each
            // 8-byte lane. Masking moves each register into its own 64-bit lane (SWAR), so a
            // word is summed in two additions; 2^16 deltas of 32 bits never overflow a lane.
            let imports := 0
            let exports := 0
            // The low 32 bits of each 64-bit lane: (2^256 - 1) / (2^32 + 1).
            let lowHalves := div(not(0), add(shl(32, 1), 1))
            let cursor := deltas.offset
            let end := add(cursor, deltas.length)
            let whole := add(cursor, and(deltas.length, not(31)))
            for {} lt(cursor, whole) { cursor := add(cursor, 32) } {
                let word := calldataload(cursor)
                imports := add(imports, and(shr(32, word), lowHalves))
                exports := add(exports, and(word, lowHalves))
            }
            importWh := add(
                add(shr(192, imports), and(shr(128, imports), 0xffffffffffffffff)),
                add(and(shr(64, imports), 0xffffffffffffffff), and(imports, 0xffffffffffffffff))
            )
            exportWh := add(
                add(shr(192, exports), and(shr(128, exports), 0xffffffffffffffff)),
                add(and(shr(64, exports), 0xffffffffffffffff), and(exports, 0xffffffffffffffff))
            )
            for {} lt(cursor, end) { cursor := add(cursor, 8) } {
                let word := calldataload(cursor)
                importWh := add(importWh, shr(224, word))
                exportWh := add(exportWh, and(shr(192, word), 0xffffffff))
            }
        }
    }

    /// @notice A meter as settlement keeps it: where its deltas are in calldata and the
    /// indices [fromIndex, toIndex) of the period's intervals it counts for.
    function packRef(bytes calldata deltas, uint256 fromIndex, uint256 toIndex)
        internal
        pure
        returns (uint256 ref)
    {
        uint256 offset;
        assembly ("memory-safe") {
            offset := deltas.offset
        }
        ref = (offset << 64) | (fromIndex << 32) | toIndex;
    }
}
