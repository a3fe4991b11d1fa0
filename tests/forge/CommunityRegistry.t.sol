// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {CommunityRegistry} from "../../contracts/CommunityRegistry.sol";
import {ICommunityRegistry} from "../../contracts/interfaces/ICommunityRegistry.sol";

contract CommunityRegistryTest is Test {
    address internal constant MANAGER = address(0xA11CE);
    address internal constant HOUSEHOLD = address(0xB0B);
    uint256 internal constant METER_PRIVATE_KEY = 0x1234;

    CommunityRegistry internal registry;
    uint256 internal keyX;
    uint256 internal keyY;

    function setUp() public {
        registry = new CommunityRegistry(MANAGER);
        (keyX, keyY) = vm.publicKeyP256(METER_PRIVATE_KEY);
    }

    function _admitHouseholdAndMeter() internal returns (bytes32 meterId) {
        vm.startPrank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        meterId = registry.admitMeter(HOUSEHOLD, keyX, keyY);
        vm.stopPrank();
    }

    function test_constructor_RevertWhen_ZeroManager() public {
        vm.expectRevert(abi.encodeWithSelector(ICommunityRegistry.RegistryZeroAddress.selector));
        new CommunityRegistry(address(0));
    }

    function test_admitHousehold_EmitsAndRecords() public {
        vm.expectEmit(true, false, false, true);
        emit ICommunityRegistry.HouseholdAdmitted(HOUSEHOLD);
        vm.prank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        assertTrue(registry.isMember(HOUSEHOLD), "member after admission");
    }

    function test_admitHousehold_RevertWhen_NotManager() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryNotManager.selector, HOUSEHOLD)
        );
        vm.prank(HOUSEHOLD);
        registry.admitHousehold(HOUSEHOLD);
    }

    function test_admitHousehold_RevertWhen_ZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(ICommunityRegistry.RegistryZeroAddress.selector));
        vm.prank(MANAGER);
        registry.admitHousehold(address(0));
    }

    function test_admitHousehold_RevertWhen_AlreadyMember() public {
        vm.startPrank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryAlreadyMember.selector, HOUSEHOLD)
        );
        registry.admitHousehold(HOUSEHOLD);
        vm.stopPrank();
    }

    function test_removeHousehold_RevertWhen_NotMember() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryNotMember.selector, HOUSEHOLD)
        );
        vm.prank(MANAGER);
        registry.removeHousehold(HOUSEHOLD);
    }

    function test_removeHousehold_RevertWhen_HouseholdHasActiveMeters() public {
        _admitHouseholdAndMeter();
        vm.expectRevert(
            abi.encodeWithSelector(
                ICommunityRegistry.RegistryHouseholdHasActiveMeters.selector, HOUSEHOLD, 1
            )
        );
        vm.prank(MANAGER);
        registry.removeHousehold(HOUSEHOLD);
    }

    function test_removeHousehold_AfterRevokingMeters() public {
        bytes32 meterId = _admitHouseholdAndMeter();
        vm.startPrank(MANAGER);
        registry.revokeMeter(meterId);
        vm.expectEmit(true, false, false, true);
        emit ICommunityRegistry.HouseholdRemoved(HOUSEHOLD);
        registry.removeHousehold(HOUSEHOLD);
        vm.stopPrank();
        assertTrue(!registry.isMember(HOUSEHOLD), "not a member after removal");
    }

    function test_admitMeter_RecordsKeyAndOwner() public {
        bytes32 expectedId = keccak256(abi.encodePacked(keyX, keyY));
        vm.prank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        vm.expectEmit(true, true, false, true);
        emit ICommunityRegistry.MeterAdmitted(expectedId, HOUSEHOLD, keyX, keyY);
        vm.prank(MANAGER);
        bytes32 meterId = registry.admitMeter(HOUSEHOLD, keyX, keyY);
        assertEq(meterId, expectedId, "meter id is keccak256(x || y)");
        ICommunityRegistry.MeterRecord memory record = registry.meter(meterId);
        assertEq(record.household, HOUSEHOLD, "owner");
        assertEq(uint256(record.status), uint256(ICommunityRegistry.MeterStatus.Active), "active");
        (uint256 x, uint256 y) = registry.meterKey(meterId);
        assertEq(x, keyX, "key x");
        assertEq(y, keyY, "key y");
        assertEq(registry.activeMeterCount(HOUSEHOLD), 1, "one active meter");
    }

    function test_admitMeter_RevertWhen_NotMember() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryNotMember.selector, HOUSEHOLD)
        );
        vm.prank(MANAGER);
        registry.admitMeter(HOUSEHOLD, keyX, keyY);
    }

    function test_admitMeter_RevertWhen_InvalidMeterKey() public {
        vm.prank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICommunityRegistry.RegistryInvalidMeterKey.selector, keyX, keyY + 1
            )
        );
        vm.prank(MANAGER);
        registry.admitMeter(HOUSEHOLD, keyX, keyY + 1);
    }

    function test_admitMeter_RevertWhen_MeterExists() public {
        bytes32 meterId = _admitHouseholdAndMeter();
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryMeterExists.selector, meterId)
        );
        vm.prank(MANAGER);
        registry.admitMeter(HOUSEHOLD, keyX, keyY);
    }

    function test_admitMeter_RevertWhen_RevokedKeyIsReadmitted() public {
        bytes32 meterId = _admitHouseholdAndMeter();
        vm.startPrank(MANAGER);
        registry.revokeMeter(meterId);
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryMeterExists.selector, meterId)
        );
        registry.admitMeter(HOUSEHOLD, keyX, keyY);
        vm.stopPrank();
    }

    function test_revokeMeter_EmitsAndDeactivates() public {
        bytes32 meterId = _admitHouseholdAndMeter();
        vm.expectEmit(true, true, false, true);
        emit ICommunityRegistry.MeterRevoked(meterId, HOUSEHOLD);
        vm.prank(MANAGER);
        registry.revokeMeter(meterId);
        assertEq(
            uint256(registry.meter(meterId).status),
            uint256(ICommunityRegistry.MeterStatus.Revoked),
            "revoked"
        );
        assertEq(registry.activeMeterCount(HOUSEHOLD), 0, "no active meter");
    }

    function test_revokeMeter_RevertWhen_UnknownMeter() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICommunityRegistry.RegistryUnknownMeter.selector, bytes32(uint256(7))
            )
        );
        vm.prank(MANAGER);
        registry.revokeMeter(bytes32(uint256(7)));
    }

    function test_revokeMeter_RevertWhen_MeterAlreadyRevoked() public {
        bytes32 meterId = _admitHouseholdAndMeter();
        vm.startPrank(MANAGER);
        registry.revokeMeter(meterId);
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryMeterAlreadyRevoked.selector, meterId)
        );
        registry.revokeMeter(meterId);
        vm.stopPrank();
    }

    function test_revokeMeter_RevertWhen_NotManager() public {
        bytes32 meterId = _admitHouseholdAndMeter();
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryNotManager.selector, HOUSEHOLD)
        );
        vm.prank(HOUSEHOLD);
        registry.revokeMeter(meterId);
    }

    function test_transferManagement_HandsOverTheRole() public {
        vm.prank(MANAGER);
        registry.transferManagement(HOUSEHOLD);
        assertEq(registry.manager(), HOUSEHOLD, "new manager");
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryNotManager.selector, MANAGER)
        );
        vm.prank(MANAGER);
        registry.admitHousehold(address(0xCAFE));
    }

    function test_transferManagement_RevertWhen_ZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(ICommunityRegistry.RegistryZeroAddress.selector));
        vm.prank(MANAGER);
        registry.transferManagement(address(0));
    }

    function testFuzz_admitMeter_AcceptsEveryRealKey(uint256 privateKey) public {
        // P-256 group order: valid private keys are 1 .. n-1.
        privateKey = 1
            + (privateKey
                % (0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551 - 1));
        (uint256 x, uint256 y) = vm.publicKeyP256(privateKey);
        vm.startPrank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        bytes32 meterId = registry.admitMeter(HOUSEHOLD, x, y);
        vm.stopPrank();
        assertEq(meterId, keccak256(abi.encodePacked(x, y)), "meter id");
    }

    function testFuzz_admitMeter_RejectsPointsOffTheCurve(uint256 x, uint256 y) public {
        (uint256 realX, uint256 realY) = vm.publicKeyP256(METER_PRIVATE_KEY);
        vm.assume(!(x == realX && y == realY));
        // A random (x, y) is on the curve with negligible probability; the known point is excluded.
        vm.prank(MANAGER);
        registry.admitHousehold(HOUSEHOLD);
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryInvalidMeterKey.selector, x, y)
        );
        vm.prank(MANAGER);
        registry.admitMeter(HOUSEHOLD, x, y);
    }

    function testFuzz_onlyManagerMayAdmit(address caller, address household) public {
        vm.assume(caller != MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(ICommunityRegistry.RegistryNotManager.selector, caller)
        );
        vm.prank(caller);
        registry.admitHousehold(household);
    }
}
