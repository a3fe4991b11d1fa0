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
            // 8-byte lane; sums of at most 2^16 deltas of 32 bits never overflow a lane pair.
            let cursor := deltas.offset
            let end := add(cursor, deltas.length)
            let whole := add(cursor, and(deltas.length, not(31)))
            for {} lt(cursor, whole) { cursor := add(cursor, 32) } {
                let word := calldataload(cursor)
                importWh := add(
                    importWh,
                    add(
                        add(shr(224, word), and(shr(160, word), 0xffffffff)),
                        add(and(shr(96, word), 0xffffffff), and(shr(32, word), 0xffffffff))
                    )
                )
                exportWh := add(
                    exportWh,
                    add(
                        add(and(shr(192, word), 0xffffffff), and(shr(128, word), 0xffffffff)),
                        add(and(shr(64, word), 0xffffffff), and(word, 0xffffffff))
                    )
                )
            }
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
