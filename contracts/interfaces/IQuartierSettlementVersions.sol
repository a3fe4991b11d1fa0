// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IQuartierSettlementVersions
/// @notice Protocol v2, later corrections of a settled period (DESIGN "Settlement per period",
/// item 5: a settled period never changes; a correction is a new version referencing its
/// source). This text is THE rule; `ledger/dso/resettle.py` computes versions by it and
/// `ledger/audit/versions.py` checks them.
///
/// ## Versions
/// Version 1 of period P is the exchange's own settlement (`IQuartierExchange.settlePeriod`,
/// its HouseholdSettled events): it is never rewritten and nothing here moves escrow or
/// tokens. Version N >= 2 is recorded by `recordVersion` and holds, per household, the
/// difference between what the settlement of P would have been on the source's volumes and
/// version N - 1's outcome (version 1's figures plus the lines of versions 2..N - 1): signed
/// Wh delivered (sold), Wh received (bought) and token units. A positive `changeUnits` is a
/// credit to the household, a negative one a debit; the community settles them off chain
/// (they are the credit and debit lines of the member's monthly statement).
///
/// `recordVersion(P, N, source, lines)` is accepted iff, in this order:
/// - the caller is the community's manager now (`IQuartierCommunity.manager()`);
/// - the exchange has settled P (`isSettled(P)`);
/// - N == latestVersion(P) + 1 (append-only: versions are consecutive from 2);
/// - `source` is not zero: the keccak256 of the file the volumes came from (for the grid
///   operator's monthly workbook, of the .xlsx file's bytes);
/// - 1 <= lines.length <= MAX_LINES, households strictly increasing (no household twice);
///   no line is all zero (a household without a difference is left out); each household
///   was ever admitted to the community;
/// - conservation: Σ changeUnits == 0 (what one member was over-credited another was
///   under-credited: the settlement pools money per interval, so the volumes' correction
///   moves money between members and creates none), and Σ deliveredWh == Σ receivedWh
///   (every settlement delivers as much as it receives, so do its differences).
///
/// Rounding (how the lines' units are computed, so that they conserve exactly): with
/// net'_h the household's exact money in milli-units on the source's volumes and net1_h
/// version 1's, C_h = net'_h - net1_h (Σ C_h = 0); U_h = floor(C_h / 1000), and the
/// R = -Σ U_h units left go 1 each to the R households with the largest C_h mod 1000
/// (ties: ascending address). Version N's units line is U_h minus the units of h's lines
/// in versions 2..N - 1. (Version 1 itself rounds towards minus infinity and credits the
/// remainder to its settler; a version never re-pays that rounding.)
///
/// The version's `linesHash` is keccak256(abi.encode(lines)) (the array as the ABI encodes
/// it); SettlementVersionRecorded carries the lines themselves, so a version is audited from
/// events alone.
interface IQuartierSettlementVersions {
    /// @notice One household's difference from the previous version.
    struct Line {
        address household;
        int64 deliveredWh;
        int64 receivedWh;
        int256 changeUnits;
    }

    event SettlementVersionRecorded(
        uint64 indexed periodId,
        uint32 indexed version,
        bytes32 indexed sourceKeccak,
        bytes32 linesHash,
        Line[] lines
    );

    error VersionsZeroAddress();
    error VersionsNotManager(address caller);
    error VersionsPeriodNotSettled(uint64 periodId);
    error VersionsOutOfOrder(uint64 periodId, uint32 version, uint32 expectedVersion);
    error VersionsNoSource(uint64 periodId);
    error VersionsLineCount(uint64 periodId, uint256 count, uint256 maxLines);
    error VersionsLinesNotSorted(uint256 index, address household);
    error VersionsEmptyLine(uint256 index, address household);
    error VersionsNotMember(uint256 index, address household);
    error VersionsMoneyNotConserved(uint64 periodId, int256 sumUnits);
    error VersionsEnergyNotConserved(uint64 periodId, int256 deliveredWh, int256 receivedWh);

    /// @notice Records version `version` of settled period `periodId` (see "Versions").
    function recordVersion(
        uint64 periodId,
        uint32 version,
        bytes32 sourceKeccak,
        Line[] calldata lines
    ) external;

    /// @notice The most lines of one version (the exchange's MAX_HOUSEHOLDS_PER_PERIOD).
    function MAX_LINES() external view returns (uint256);
    function exchange() external view returns (address);
    function community() external view returns (address);
    /// @notice 0 while the exchange has not settled `periodId`, then 1 + the versions recorded.
    function latestVersion(uint64 periodId) external view returns (uint32);
    /// @notice Version `version` (>= 2) of `periodId`: its source's keccak, its lines' hash
    /// and the block time it was recorded at (all zero when there is no such version).
    function versionOf(uint64 periodId, uint32 version)
        external
        view
        returns (bytes32 sourceKeccak, bytes32 linesHash, uint64 recordedAt);
}
