// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierCommunity} from "./interfaces/IQuartierCommunity.sol";
import {IQuartierExchange} from "./interfaces/IQuartierExchange.sol";
import {IQuartierSettlementVersions} from "./interfaces/IQuartierSettlementVersions.sol";

/// @title QuartierSettlementVersions
/// @notice Append-only corrections of an exchange's settled periods (the rule is
/// IQuartierSettlementVersions). Holds no funds.
contract QuartierSettlementVersions is IQuartierSettlementVersions {
    uint256 public constant MAX_LINES = 255;

    struct VersionRecord {
        bytes32 sourceKeccak;
        bytes32 linesHash;
        uint64 recordedAt;
    }

    IQuartierExchange private immutable _exchange;
    IQuartierCommunity private immutable _community;

    /// Versions recorded per period (version 1, the exchange's, is not counted).
    mapping(uint64 periodId => uint32) private _recorded;
    mapping(uint64 periodId => mapping(uint32 version => VersionRecord)) private _versions;

    /// @param exchange_ The community's exchange; the community is the one it names.
    constructor(IQuartierExchange exchange_) {
        if (address(exchange_) == address(0)) revert VersionsZeroAddress();
        _exchange = exchange_;
        _community = IQuartierCommunity(exchange_.community());
    }

    /// @inheritdoc IQuartierSettlementVersions
    function recordVersion(
        uint64 periodId,
        uint32 version,
        bytes32 sourceKeccak,
        Line[] calldata lines
    ) external {
        if (msg.sender != _community.manager()) {
            revert VersionsNotManager(msg.sender);
        }
        if (!_exchange.isSettled(periodId)) revert VersionsPeriodNotSettled(periodId);
        uint32 expected = _recorded[periodId] + 2;
        if (version != expected) revert VersionsOutOfOrder(periodId, version, expected);
        if (sourceKeccak == bytes32(0)) revert VersionsNoSource(periodId);
        if (lines.length == 0 || lines.length > MAX_LINES) {
            revert VersionsLineCount(periodId, lines.length, MAX_LINES);
        }
        _checkLines(periodId, lines);
        bytes32 linesHash = keccak256(abi.encode(lines));
        _recorded[periodId] = expected - 1;
        _versions[periodId][version] =
            VersionRecord(sourceKeccak, linesHash, uint64(block.timestamp));
        emit SettlementVersionRecorded(periodId, version, sourceKeccak, linesHash, lines);
    }

    function _checkLines(uint64 periodId, Line[] calldata lines) private view {
        address previous;
        int256 units;
        int256 deliveredWh;
        int256 receivedWh;
        for (uint256 i; i < lines.length; ++i) {
            Line calldata line = lines[i];
            address household = line.household;
            if (uint160(household) <= uint160(previous)) {
                revert VersionsLinesNotSorted(i, household);
            }
            if (line.deliveredWh == 0 && line.receivedWh == 0 && line.changeUnits == 0) {
                revert VersionsEmptyLine(i, household);
            }
            if (_community.membership(household).admittedAt == 0) {
                revert VersionsNotMember(i, household);
            }
            previous = household;
            units += line.changeUnits;
            deliveredWh += line.deliveredWh;
            receivedWh += line.receivedWh;
        }
        if (units != 0) revert VersionsMoneyNotConserved(periodId, units);
        if (deliveredWh != receivedWh) {
            revert VersionsEnergyNotConserved(periodId, deliveredWh, receivedWh);
        }
    }

    /// @inheritdoc IQuartierSettlementVersions
    function exchange() external view returns (address) {
        return address(_exchange);
    }

    /// @inheritdoc IQuartierSettlementVersions
    function community() external view returns (address) {
        return address(_community);
    }

    /// @inheritdoc IQuartierSettlementVersions
    function latestVersion(uint64 periodId) external view returns (uint32) {
        if (!_exchange.isSettled(periodId)) return 0;
        return _recorded[periodId] + 1;
    }

    /// @inheritdoc IQuartierSettlementVersions
    function versionOf(uint64 periodId, uint32 version)
        external
        view
        returns (bytes32 sourceKeccak, bytes32 linesHash, uint64 recordedAt)
    {
        VersionRecord storage record = _versions[periodId][version];
        return (record.sourceKeccak, record.linesHash, record.recordedAt);
    }
}
