// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierCommunity} from "./interfaces/IQuartierCommunity.sol";
import {IQuartierSharingKeys} from "./interfaces/IQuartierSharingKeys.sol";
import {SharingKeys} from "./libraries/SharingKeys.sol";
import {SharingKey} from "./types/SharingKey.sol";

/// @title QuartierSharingKeys
/// @notice Protocol v2: one community's CWaPE allocation keys with their validity, changed by
/// the community's manager with the community's rule delay (see IQuartierSharingKeys).
/// @dev Bound to a QuartierCommunity for good: its manager (read at each change, so a
/// transfer of management carries over), its period clock and its rule delay apply.
contract QuartierSharingKeys is IQuartierSharingKeys {
    IQuartierCommunity private immutable _community;

    /// @dev Every key ever set, by id; validities never overlap (withdrawn keys hold for none).
    SharingKey[] private _keys;

    modifier onlyManager() {
        if (msg.sender != _community.manager()) revert SharingKeysNotManager(msg.sender);
        _;
    }

    /// @param initialKeys the keys from community.toml's [[sharing]], any periods (nothing
    /// can have been settled under a key that did not exist yet).
    constructor(IQuartierCommunity community_, SharingKey[] memory initialKeys) {
        if (address(community_) == address(0)) revert SharingKeysZeroAddress();
        _community = community_;
        for (uint256 i = 0; i < initialKeys.length; ++i) {
            _add(initialKeys[i]);
        }
    }

    /// @inheritdoc IQuartierSharingKeys
    function scheduleKey(SharingKey calldata key) external onlyManager returns (uint256 keyId) {
        uint64 earliest = earliestChangePeriod();
        if (key.validFromPeriod < earliest) {
            revert SharingKeysChangeTooEarly(key.validFromPeriod, earliest);
        }
        keyId = _add(key);
    }

    /// @inheritdoc IQuartierSharingKeys
    function endKeyFrom(uint256 keyId, uint64 period) external onlyManager {
        if (keyId >= _keys.length) revert SharingKeysUnknownKey(keyId);
        uint64 earliest = earliestChangePeriod();
        if (period < earliest) revert SharingKeysChangeTooEarly(period, earliest);
        SharingKey storage key = _keys[keyId];
        uint64 from = key.validFromPeriod;
        // period >= earliest >= 2 (the community's minimum delay): neither side underflows.
        uint64 newUntil = period <= from ? from - 1 : period - 1;
        uint64 until = key.validUntilPeriod;
        if (newUntil >= until) revert SharingKeysEndNotEarlier(keyId, until, newUntil);
        key.validUntilPeriod = newUntil;
        emit KeyEnded(keyId, newUntil);
    }

    /// @inheritdoc IQuartierSharingKeys
    function community() external view returns (IQuartierCommunity) {
        return _community;
    }

    /// @inheritdoc IQuartierSharingKeys
    function earliestChangePeriod() public view returns (uint64) {
        return _community.currentPeriod() + _community.ruleChangeDelayPeriods();
    }

    /// @inheritdoc IQuartierSharingKeys
    function keyCount() external view returns (uint256) {
        return _keys.length;
    }

    /// @inheritdoc IQuartierSharingKeys
    function keyById(uint256 keyId) external view returns (SharingKey memory) {
        if (keyId >= _keys.length) revert SharingKeysUnknownKey(keyId);
        return _keys[keyId];
    }

    /// @inheritdoc IQuartierSharingKeys
    function keyAt(uint64 period) public view returns (uint256 keyId, SharingKey memory key) {
        keyId = _idAt(period);
        key = _keys[keyId];
    }

    /// @inheritdoc IQuartierSharingKeys
    function keyAtTime(uint64 timestamp)
        external
        view
        returns (uint256 keyId, SharingKey memory key)
    {
        uint64 periodSeconds =
            uint64(_community.intervalSeconds()) * uint64(_community.periodIntervals());
        return keyAt(timestamp / periodSeconds);
    }

    /// @inheritdoc IQuartierSharingKeys
    function allocate(
        SharingKey calldata key,
        uint64[] calldata productionWh,
        uint64[] calldata consumptionWh
    ) external pure returns (uint256[] memory receivedWh, uint256[] memory sharedWh) {
        SharingKeys.checkRule(key);
        _checkVolumes(key.members.length, productionWh, consumptionWh);
        return SharingKeys.allocate(key.cascade, key.sharesBp, productionWh, consumptionWh);
    }

    /// @inheritdoc IQuartierSharingKeys
    function allocateAt(
        uint64 period,
        uint64[] calldata productionWh,
        uint64[] calldata consumptionWh
    ) external view returns (uint256[] memory receivedWh, uint256[] memory sharedWh) {
        // Only the rule is read: the members' addresses are not needed to share.
        SharingKey storage key = _keys[_idAt(period)];
        _checkVolumes(key.members.length, productionWh, consumptionWh);
        return SharingKeys.allocate(key.cascade, key.sharesBp, productionWh, consumptionWh);
    }

    function _idAt(uint64 period) private view returns (uint256) {
        for (uint256 id = _keys.length; id > 0; --id) {
            SharingKey storage key = _keys[id - 1];
            if (key.validFromPeriod <= period && period <= key.validUntilPeriod) return id - 1;
        }
        revert SharingKeysNoKeyInForce(period);
    }

    function _add(SharingKey memory key) private returns (uint256 keyId) {
        SharingKeys.checkRule(key);
        SharingKeys.checkValidity(key);
        keyId = _keys.length;
        for (uint256 other = 0; other < keyId; ++other) {
            SharingKey storage existing = _keys[other];
            if (SharingKeys.overlaps(
                    key.validFromPeriod,
                    key.validUntilPeriod,
                    existing.validFromPeriod,
                    existing.validUntilPeriod
                )) revert SharingKeysValidityOverlap(keyId, other);
        }
        _keys.push(key);
        emit KeyScheduled(keyId, key);
    }

    function _checkVolumes(
        uint256 members,
        uint64[] calldata productionWh,
        uint64[] calldata consumptionWh
    ) private pure {
        if (productionWh.length != members || consumptionWh.length != members) {
            revert SharingKeysVolumesLength(members, productionWh.length, consumptionWh.length);
        }
    }
}
