// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ICommunityRegistry
/// @notice Members (households, by Ethereum address) and meters (by P-256 public key) of one
/// energy community. The community manager is the only privileged role.
interface ICommunityRegistry {
    /// @notice A meter's life: admitted once, revoked once, never reused.
    enum MeterStatus {
        Unknown,
        Active,
        Revoked
    }

    /// @notice One slot: what the market reads for every reading it verifies.
    struct MeterRecord {
        address household;
        MeterStatus status;
    }

    event HouseholdAdmitted(address indexed household);
    event HouseholdRemoved(address indexed household);
    event MeterAdmitted(
        bytes32 indexed meterId, address indexed household, uint256 publicKeyX, uint256 publicKeyY
    );
    event MeterRevoked(bytes32 indexed meterId, address indexed household);
    event ManagementTransferred(address indexed previousManager, address indexed newManager);

    error RegistryNotManager(address caller);
    error RegistryZeroAddress();
    error RegistryAlreadyMember(address household);
    error RegistryNotMember(address household);
    error RegistryHouseholdHasActiveMeters(address household, uint256 activeMeters);
    error RegistryInvalidMeterKey(uint256 publicKeyX, uint256 publicKeyY);
    error RegistryMeterExists(bytes32 meterId);
    error RegistryUnknownMeter(bytes32 meterId);
    error RegistryMeterAlreadyRevoked(bytes32 meterId);

    /// @notice Admits a household. Reverts with RegistryAlreadyMember if it is one.
    function admitHousehold(address household) external;

    /// @notice Removes a household that has no active meter left.
    function removeHousehold(address household) external;

    /// @notice Admits a meter of a member household; returns its id, keccak256(x ‖ y).
    function admitMeter(address household, uint256 publicKeyX, uint256 publicKeyY)
        external
        returns (bytes32 meterId);

    /// @notice Revokes an active meter for good: its readings are refused from now on.
    function revokeMeter(bytes32 meterId) external;

    /// @notice Hands the manager role to another account.
    function transferManagement(address newManager) external;

    function manager() external view returns (address);
    function isMember(address household) external view returns (bool);
    function activeMeterCount(address household) external view returns (uint256);
    function meter(bytes32 meterId) external view returns (MeterRecord memory);
    function meterKey(bytes32 meterId)
        external
        view
        returns (uint256 publicKeyX, uint256 publicKeyY);

    /// @notice The id of a meter: keccak256 of its uncompressed public key coordinates.
    function meterIdOf(uint256 publicKeyX, uint256 publicKeyY) external pure returns (bytes32);
}
