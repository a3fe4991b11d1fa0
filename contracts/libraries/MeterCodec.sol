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

    /// @notice Σ importWh and Σ exportWh over the whole batch.
    function totals(bytes calldata deltas)
        internal
        pure
        returns (uint256 importWh, uint256 exportWh)
    {
        uint256 end;
        uint256 cursor;
        assembly ("memory-safe") {
            cursor := deltas.offset
            end := add(cursor, deltas.length)
        }
        for (; cursor < end; cursor += DELTA_BYTES) {
            uint256 word;
            assembly ("memory-safe") {
                word := calldataload(cursor)
            }
            importWh += word >> 224;
            exportWh += (word >> 192) & 0xffffffff;
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

    /// @notice Σ over `meters` counting for interval index i of its importWh or exportWh.
    function flowAt(uint256[] memory meters, uint256 i, bool exported)
        internal
        pure
        returns (uint256 energyWh)
    {
        uint256 count = meters.length;
        for (uint256 j; j < count; ++j) {
            uint256 ref = meters[j];
            if (i < ((ref >> 32) & 0xffffffff) || i >= (ref & 0xffffffff)) continue;
            uint256 word;
            assembly ("memory-safe") {
                word := calldataload(add(shr(64, ref), mul(i, 8)))
            }
            energyWh += exported ? (word >> 192) & 0xffffffff : word >> 224;
        }
    }
}
