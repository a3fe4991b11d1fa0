// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";
import {CommunityRegistry} from "../../contracts/CommunityRegistry.sol";
import {ICommunityRegistry} from "../../contracts/interfaces/ICommunityRegistry.sol";

/// Drives the registry as the manager with random admissions, revocations and removals,
/// keeping ghost counts of what should be true.
contract RegistryHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    CommunityRegistry public immutable registry;
    address public immutable manager;
    address[] public households;
    bytes32[] public meterIds;
    mapping(address household => uint256) public ghostActiveMeters;
    uint256 public ghostAdmittedMeters;
    uint256 public ghostRevokedMeters;
    uint256 internal nextMeterKey = 1;

    constructor(CommunityRegistry registry_, address manager_) {
        registry = registry_;
        manager = manager_;
        for (uint160 i = 1; i <= 4; i++) {
            households.push(address(i * 0x1000));
        }
    }

    function householdCount() external view returns (uint256) {
        return households.length;
    }

    function admitHousehold(uint256 seed) external {
        address household = households[seed % households.length];
        if (registry.isMember(household)) return;
        vm.prank(manager);
        registry.admitHousehold(household);
    }

    function admitMeter(uint256 seed) external {
        address household = households[seed % households.length];
        if (!registry.isMember(household)) return;
        (uint256 x, uint256 y) = vm.publicKeyP256(nextMeterKey++);
        vm.prank(manager);
        meterIds.push(registry.admitMeter(household, x, y));
        ghostActiveMeters[household] += 1;
        ghostAdmittedMeters += 1;
    }

    function revokeMeter(uint256 seed) external {
        if (meterIds.length == 0) return;
        bytes32 meterId = meterIds[seed % meterIds.length];
        ICommunityRegistry.MeterRecord memory record = registry.meter(meterId);
        if (record.status != ICommunityRegistry.MeterStatus.Active) return;
        vm.prank(manager);
        registry.revokeMeter(meterId);
        ghostActiveMeters[record.household] -= 1;
        ghostRevokedMeters += 1;
    }

    function removeHousehold(uint256 seed) external {
        address household = households[seed % households.length];
        if (!registry.isMember(household) || registry.activeMeterCount(household) != 0) return;
        vm.prank(manager);
        registry.removeHousehold(household);
    }
}

contract CommunityRegistryInvariantTest is Test {
    address internal constant MANAGER = address(0xA11CE);
    CommunityRegistry internal registry;
    RegistryHandler internal handler;

    function setUp() public {
        registry = new CommunityRegistry(MANAGER);
        handler = new RegistryHandler(registry, MANAGER);
        targetContract(address(handler));
    }

    function invariant_activeMeterCountsMatchGhosts() public view {
        for (uint256 i = 0; i < handler.householdCount(); i++) {
            address household = handler.households(i);
            assertEq(
                registry.activeMeterCount(household),
                handler.ghostActiveMeters(household),
                "active meters"
            );
        }
    }

    function invariant_aRemovedHouseholdHasNoActiveMeter() public view {
        for (uint256 i = 0; i < handler.householdCount(); i++) {
            address household = handler.households(i);
            if (!registry.isMember(household)) {
                assertEq(registry.activeMeterCount(household), 0, "non-member with active meters");
            }
        }
    }

    function invariant_revocationsNeverExceedAdmissions() public view {
        assertLe(handler.ghostRevokedMeters(), handler.ghostAdmittedMeters(), "revoked <= admitted");
    }
}
