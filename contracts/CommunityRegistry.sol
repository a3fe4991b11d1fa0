// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ICommunityRegistry} from "./interfaces/ICommunityRegistry.sol";
import {P256} from "./libraries/P256.sol";

/// @title CommunityRegistry
/// @notice The member and meter registry of one energy community.
contract CommunityRegistry is ICommunityRegistry {
    struct MeterKey {
        uint256 x;
        uint256 y;
    }

    address private _manager;
    mapping(address household => bool) private _members;
    mapping(address household => uint256) private _activeMeters;
    mapping(bytes32 meterId => MeterRecord) private _meters;
    mapping(bytes32 meterId => MeterKey) private _meterKeys;

    modifier onlyManager() {
        if (msg.sender != _manager) revert RegistryNotManager(msg.sender);
        _;
    }

    constructor(address initialManager) {
        if (initialManager == address(0)) revert RegistryZeroAddress();
        _manager = initialManager;
        emit ManagementTransferred(address(0), initialManager);
    }

    /// @inheritdoc ICommunityRegistry
    function admitHousehold(address household) external onlyManager {
        if (household == address(0)) revert RegistryZeroAddress();
        if (_members[household]) revert RegistryAlreadyMember(household);
        _members[household] = true;
        emit HouseholdAdmitted(household);
    }

    /// @inheritdoc ICommunityRegistry
    function removeHousehold(address household) external onlyManager {
        if (!_members[household]) revert RegistryNotMember(household);
        uint256 active = _activeMeters[household];
        // Meters are revoked one by one first, so every revocation leaves its own event.
        if (active != 0) revert RegistryHouseholdHasActiveMeters(household, active);
        _members[household] = false;
        emit HouseholdRemoved(household);
    }

    /// @inheritdoc ICommunityRegistry
    function admitMeter(address household, uint256 publicKeyX, uint256 publicKeyY)
        external
        onlyManager
        returns (bytes32 meterId)
    {
        if (!_members[household]) revert RegistryNotMember(household);
        if (!P256.isOnCurve(publicKeyX, publicKeyY)) {
            revert RegistryInvalidMeterKey(publicKeyX, publicKeyY);
        }
        meterId = meterIdOf(publicKeyX, publicKeyY);
        // A revoked key stays revoked: re-admitting it would revive its old signed readings.
        if (_meters[meterId].status != MeterStatus.Unknown) revert RegistryMeterExists(meterId);
        _meters[meterId] = MeterRecord({household: household, status: MeterStatus.Active});
        _meterKeys[meterId] = MeterKey({x: publicKeyX, y: publicKeyY});
        _activeMeters[household] += 1;
        emit MeterAdmitted(meterId, household, publicKeyX, publicKeyY);
    }

    /// @inheritdoc ICommunityRegistry
    function revokeMeter(bytes32 meterId) external onlyManager {
        MeterRecord storage record = _meters[meterId];
        if (record.status == MeterStatus.Unknown) revert RegistryUnknownMeter(meterId);
        if (record.status == MeterStatus.Revoked) revert RegistryMeterAlreadyRevoked(meterId);
        record.status = MeterStatus.Revoked;
        _activeMeters[record.household] -= 1;
        emit MeterRevoked(meterId, record.household);
    }

    /// @inheritdoc ICommunityRegistry
    function transferManagement(address newManager) external onlyManager {
        if (newManager == address(0)) revert RegistryZeroAddress();
        address previous = _manager;
        _manager = newManager;
        emit ManagementTransferred(previous, newManager);
    }

    function manager() external view returns (address) {
        return _manager;
    }

    function isMember(address household) external view returns (bool) {
        return _members[household];
    }

    function activeMeterCount(address household) external view returns (uint256) {
        return _activeMeters[household];
    }

    function meter(bytes32 meterId) external view returns (MeterRecord memory) {
        return _meters[meterId];
    }

    function meterKey(bytes32 meterId)
        external
        view
        returns (uint256 publicKeyX, uint256 publicKeyY)
    {
        MeterKey storage key = _meterKeys[meterId];
        return (key.x, key.y);
    }

    function meterIdOf(uint256 publicKeyX, uint256 publicKeyY) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(publicKeyX, publicKeyY));
    }
}
