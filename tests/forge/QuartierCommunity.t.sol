// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {QuartierCommunity} from "../../contracts/QuartierCommunity.sol";
import {IQuartierCommunity} from "../../contracts/interfaces/IQuartierCommunity.sol";
import {P256 as OurP256} from "../../contracts/libraries/P256.sol";
import {Validity} from "../../contracts/libraries/Validity.sol";
import {Mechanism, Rules} from "../../contracts/types/Rules.sol";

/// Shared deployment: 15-minute intervals, daily periods, a two-period rule delay, the clock at
/// a period boundary (2026-01-01 00:00 UTC).
abstract contract CommunityBase is Test {
    address internal constant MANAGER = address(0xA11CE);
    address internal constant HOUSEHOLD = address(0xB0B);
    address internal constant OTHER = address(0xCA401);
    uint32 internal constant INTERVAL_SECONDS = 900;
    uint32 internal constant PERIOD_INTERVALS = 96;
    uint64 internal constant PERIOD_SECONDS = 86_400;
    uint32 internal constant DELAY = 2;
    uint64 internal constant START = 1_767_225_600;
    uint64 internal constant START_PERIOD = START / PERIOD_SECONDS;

    QuartierCommunity internal community;

    function setUp() public virtual {
        vm.warp(START);
        community = new QuartierCommunity(
            MANAGER, INTERVAL_SECONDS, PERIOD_INTERVALS, DELAY, _rules(Mechanism.PayAsClear)
        );
    }

    function _rules(Mechanism mechanism) internal pure returns (Rules memory) {
        return Rules({
            mechanism: mechanism,
            gateLeadSeconds: 300,
            settlementDeadlineSeconds: 6 hours,
            minEntryWh: 1,
            priceFloorPerKwh: 50_000,
            priceCeilingPerKwh: 300_000,
            communityPricePerKwh: 120_000
        });
    }

    function _hash(Rules memory rules) internal pure returns (bytes32) {
        return keccak256(abi.encode(rules));
    }

    function _assertRules(uint64 periodId, Rules memory expected, string memory message)
        internal
        view
    {
        assertEq(_hash(community.rulesAt(periodId)), _hash(expected), message);
    }

    function _key(uint256 privateKey) internal pure returns (uint256 x, uint256 y) {
        return vm.publicKeyP256(privateKey);
    }

    function _admit(address household) internal {
        vm.prank(MANAGER);
        community.admitHousehold(household);
    }

    function _admitMeter(address household, uint256 privateKey) internal returns (bytes32) {
        (uint256 x, uint256 y) = _key(privateKey);
        vm.prank(MANAGER);
        return community.admitMeter(household, x, y);
    }

    function _intervalStart(uint64 intervalId) internal pure returns (uint64) {
        return intervalId * INTERVAL_SECONDS;
    }

    function _meterCounts(bytes32 meterId, uint64 intervalId) internal view returns (bool) {
        IQuartierCommunity.MeterInfo memory info = community.meter(meterId);
        return Validity.counts(
            info.admittedAt,
            info.revokedAt,
            _intervalStart(intervalId),
            _intervalStart(intervalId + 1)
        );
    }

    function _memberCounts(address household, uint64 intervalId) internal view returns (bool) {
        IQuartierCommunity.Membership memory entry = community.membership(household);
        return Validity.counts(
            entry.admittedAt,
            entry.removedAt,
            _intervalStart(intervalId),
            _intervalStart(intervalId + 1)
        );
    }
}

contract QuartierCommunityTest is CommunityBase {
    // ------------------------------------------------------------ constructor

    function test_constructor_SetsGridManagerAndInitialRules() public view {
        assertEq(community.manager(), MANAGER, "manager");
        assertEq(community.intervalSeconds(), INTERVAL_SECONDS, "interval seconds");
        assertEq(community.periodIntervals(), PERIOD_INTERVALS, "period intervals");
        assertEq(community.ruleChangeDelayPeriods(), DELAY, "delay");
        assertEq(community.currentPeriod(), START_PERIOD, "current period");
        _assertRules(0, _rules(Mechanism.PayAsClear), "period 0");
        _assertRules(START_PERIOD, _rules(Mechanism.PayAsClear), "current period");
        _assertRules(type(uint64).max, _rules(Mechanism.PayAsClear), "far future");
        (uint64[] memory periods, Rules[] memory rules) = community.rulesHistory();
        assertEq(periods.length, 1, "one history entry");
        assertEq(rules.length, 1, "one rules entry");
        assertEq(periods[0], 0, "effective from period 0");
        assertEq(_hash(rules[0]), _hash(_rules(Mechanism.PayAsClear)), "initial rules");
    }

    function test_constructor_EmitsManagementAndInitialRules() public {
        vm.expectEmit(true, true, false, true);
        emit IQuartierCommunity.ManagementTransferred(address(0), MANAGER);
        vm.expectEmit(true, false, false, true);
        emit IQuartierCommunity.RulesScheduled(0, _rules(Mechanism.PayAsBid));
        new QuartierCommunity(MANAGER, 900, 96, 2, _rules(Mechanism.PayAsBid));
    }

    function test_constructor_RevertWhen_ZeroManager() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierCommunity.CommunityZeroAddress.selector));
        new QuartierCommunity(address(0), 900, 96, 2, _rules(Mechanism.PayAsClear));
    }

    function test_constructor_RevertWhen_ZeroIntervalSeconds() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityInvalidTimeGrid.selector, 0, 96)
        );
        new QuartierCommunity(MANAGER, 0, 96, 2, _rules(Mechanism.PayAsClear));
    }

    function test_constructor_RevertWhen_ZeroPeriodIntervals() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityInvalidTimeGrid.selector, 900, 0)
        );
        new QuartierCommunity(MANAGER, 900, 0, 2, _rules(Mechanism.PayAsClear));
    }

    function test_constructor_RevertWhen_RuleDelayTooShort() public {
        for (uint32 delay = 0; delay < 2; ++delay) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IQuartierCommunity.CommunityRuleDelayTooShort.selector, delay, 2
                )
            );
            new QuartierCommunity(MANAGER, 900, 96, delay, _rules(Mechanism.PayAsClear));
        }
    }

    function test_constructor_RevertWhen_InvalidInitialRules() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.minEntryWh = 0;
        vm.expectRevert(_invalid("min entry"));
        new QuartierCommunity(MANAGER, 900, 96, 2, rules);
    }

    function test_constructor_RevertWhen_GateLeadNotShorterThanPeriod() public {
        // The gate-lead bound follows the deployment's own period length (here 4 x 60 s).
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.gateLeadSeconds = 240;
        vm.expectRevert(_invalid("gate lead"));
        new QuartierCommunity(MANAGER, 60, 4, 2, rules);
        rules.gateLeadSeconds = 239;
        new QuartierCommunity(MANAGER, 60, 4, 2, rules);
    }

    // ------------------------------------------------------------ households

    function test_admitHousehold_RecordsBlockTimeAndEmits() public {
        vm.warp(START + 1234);
        vm.expectEmit(true, false, false, true);
        emit IQuartierCommunity.HouseholdAdmitted(HOUSEHOLD, START + 1234);
        _admit(HOUSEHOLD);
        IQuartierCommunity.Membership memory entry = community.membership(HOUSEHOLD);
        assertEq(entry.admittedAt, START + 1234, "admittedAt is the block time");
        assertEq(entry.removedAt, 0, "not removed");
    }

    function test_admitHousehold_RevertWhen_NotManager() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, HOUSEHOLD)
        );
        vm.prank(HOUSEHOLD);
        community.admitHousehold(HOUSEHOLD);
    }

    function test_admitHousehold_RevertWhen_ZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierCommunity.CommunityZeroAddress.selector));
        vm.prank(MANAGER);
        community.admitHousehold(address(0));
    }

    function test_admitHousehold_RevertWhen_AlreadyAdmitted() public {
        _admit(HOUSEHOLD);
        vm.warp(START + 10);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierCommunity.CommunityAlreadyAdmitted.selector, HOUSEHOLD, START
            )
        );
        vm.prank(MANAGER);
        community.admitHousehold(HOUSEHOLD);
    }

    function test_admitHousehold_RevertWhen_AlreadyAdmittedAndRemoved() public {
        // Re-admission would rewrite admittedAt to now and revive a closed record.
        _admit(HOUSEHOLD);
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
        vm.warp(START + PERIOD_SECONDS);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierCommunity.CommunityAlreadyAdmitted.selector, HOUSEHOLD, START
            )
        );
        vm.prank(MANAGER);
        community.admitHousehold(HOUSEHOLD);
    }

    function test_removeHousehold_RecordsBlockTimeAndRevokesActiveMeters() public {
        _admit(HOUSEHOLD);
        bytes32 first = _admitMeter(HOUSEHOLD, 1);
        bytes32 second = _admitMeter(HOUSEHOLD, 2);
        vm.warp(START + 100);
        vm.prank(MANAGER);
        community.revokeMeter(first);
        vm.warp(START + 500);

        vm.expectEmit(true, true, false, true);
        emit IQuartierCommunity.MeterRevoked(second, HOUSEHOLD, START + 500);
        vm.expectEmit(true, false, false, true);
        emit IQuartierCommunity.HouseholdRemoved(HOUSEHOLD, START + 500);
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);

        assertEq(community.membership(HOUSEHOLD).removedAt, START + 500, "removedAt");
        assertEq(community.membership(HOUSEHOLD).admittedAt, START, "admittedAt kept");
        assertEq(community.meter(first).revokedAt, START + 100, "earlier revocation kept");
        assertEq(community.meter(second).revokedAt, START + 500, "active meter revoked");
        assertEq(community.metersOf(HOUSEHOLD).length, 2, "meters stay listed");
    }

    function test_removeHousehold_RevertWhen_NotManager() public {
        _admit(HOUSEHOLD);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, OTHER)
        );
        vm.prank(OTHER);
        community.removeHousehold(HOUSEHOLD);
    }

    function test_removeHousehold_RevertWhen_NeverAdmitted() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotMember.selector, HOUSEHOLD)
        );
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
    }

    function test_removeHousehold_RevertWhen_AlreadyRemoved() public {
        _admit(HOUSEHOLD);
        vm.startPrank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
        vm.warp(START + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotMember.selector, HOUSEHOLD)
        );
        community.removeHousehold(HOUSEHOLD);
        vm.stopPrank();
        assertEq(community.membership(HOUSEHOLD).removedAt, START, "first removal time kept");
    }

    // ------------------------------------------------------------ meters

    function test_admitMeter_RecordsKeyTimeAndOrderAndEmits() public {
        _admit(HOUSEHOLD);
        (uint256 x, uint256 y) = _key(1);
        bytes32 expectedId = keccak256(abi.encodePacked(x, y));
        vm.warp(START + 42);
        vm.expectEmit(true, true, false, true);
        emit IQuartierCommunity.MeterAdmitted(expectedId, HOUSEHOLD, x, y, START + 42);
        vm.prank(MANAGER);
        bytes32 first = community.admitMeter(HOUSEHOLD, x, y);
        vm.warp(START + 43);
        bytes32 second = _admitMeter(HOUSEHOLD, 2);

        assertEq(first, expectedId, "id is keccak256(x || y)");
        assertEq(community.meterIdOf(x, y), expectedId, "meterIdOf");
        IQuartierCommunity.MeterInfo memory info = community.meter(first);
        assertEq(info.household, HOUSEHOLD, "household");
        assertEq(info.admittedAt, START + 42, "admittedAt is the block time");
        assertEq(info.revokedAt, 0, "active");
        assertEq(info.publicKeyX, x, "key x");
        assertEq(info.publicKeyY, y, "key y");
        bytes32[] memory meters = community.metersOf(HOUSEHOLD);
        assertEq(meters.length, 2, "two meters");
        assertEq(meters[0], first, "admission order 0");
        assertEq(meters[1], second, "admission order 1");
        assertEq(community.metersOf(OTHER).length, 0, "no meters elsewhere");
    }

    function test_admitMeter_RevertWhen_NotManager() public {
        _admit(HOUSEHOLD);
        (uint256 x, uint256 y) = _key(1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, HOUSEHOLD)
        );
        vm.prank(HOUSEHOLD);
        community.admitMeter(HOUSEHOLD, x, y);
    }

    function test_admitMeter_RevertWhen_NeverAdmitted() public {
        (uint256 x, uint256 y) = _key(1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotMember.selector, HOUSEHOLD)
        );
        vm.prank(MANAGER);
        community.admitMeter(HOUSEHOLD, x, y);
    }

    function test_admitMeter_RevertWhen_HouseholdRemoved() public {
        _admit(HOUSEHOLD);
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
        (uint256 x, uint256 y) = _key(1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotMember.selector, HOUSEHOLD)
        );
        vm.prank(MANAGER);
        community.admitMeter(HOUSEHOLD, x, y);
    }

    function test_admitMeter_RevertWhen_KeyOffCurve() public {
        _admit(HOUSEHOLD);
        (uint256 x, uint256 y) = _key(1);
        _expectInvalidKey(x, y + 1);
        _expectInvalidKey(x + 1, y);
        _expectInvalidKey(0, 0);
        _expectInvalidKey(0, y);
    }

    function test_admitMeter_RevertWhen_KeyCoordinateNotBelowFieldPrime() public {
        // x + p (or y + p) satisfies the curve equation mod p but is no field element.
        _admit(HOUSEHOLD);
        (uint256 x, uint256 y) = _key(1);
        uint256 p = OurP256.FIELD_P;
        if (x < type(uint256).max - p) _expectInvalidKey(x + p, y);
        if (y < type(uint256).max - p) _expectInvalidKey(x, y + p);
        _expectInvalidKey(p, y);
        _expectInvalidKey(x, p);
    }

    function testFuzz_admitMeter_RevertWhen_KeyOffCurve(uint256 x, uint256 y) public {
        // Our own isOnCurve (v1's library) is the oracle for OpenZeppelin's check.
        vm.assume(!OurP256.isOnCurve(x, y));
        _admit(HOUSEHOLD);
        _expectInvalidKey(x, y);
    }

    function testFuzz_admitMeter_AcceptsEveryCurvePoint(uint256 privateKey) public {
        privateKey = 1 + (privateKey % (P256_ORDER - 1));
        _admit(HOUSEHOLD);
        (uint256 x, uint256 y) = _key(privateKey);
        vm.prank(MANAGER);
        bytes32 meterId = community.admitMeter(HOUSEHOLD, x, y);
        assertEq(community.meter(meterId).publicKeyX, x, "key stored");
        // The mirror point (x, p - y) is another valid key, hence another meter.
        vm.prank(MANAGER);
        bytes32 mirror = community.admitMeter(HOUSEHOLD, x, OurP256.FIELD_P - y);
        assertTrue(mirror != meterId, "mirror point is its own meter");
    }

    function test_admitMeter_RevertWhen_MeterExists() public {
        _admit(HOUSEHOLD);
        _admit(OTHER);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        (uint256 x, uint256 y) = _key(1);
        vm.startPrank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityMeterExists.selector, meterId)
        );
        community.admitMeter(HOUSEHOLD, x, y);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityMeterExists.selector, meterId)
        );
        community.admitMeter(OTHER, x, y);
        vm.stopPrank();
        assertEq(community.meter(meterId).household, HOUSEHOLD, "owner unchanged");
    }

    function test_admitMeter_RevertWhen_RevokedKeyReadmitted() public {
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.prank(MANAGER);
        community.revokeMeter(meterId);
        vm.warp(START + PERIOD_SECONDS);
        (uint256 x, uint256 y) = _key(1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityMeterExists.selector, meterId)
        );
        vm.prank(MANAGER);
        community.admitMeter(HOUSEHOLD, x, y);
        assertEq(community.meter(meterId).revokedAt, START, "still revoked");
    }

    function test_admitMeter_RevertWhen_TooManyMeters() public {
        _admit(HOUSEHOLD);
        for (uint256 k = 1; k <= 8; ++k) {
            _admitMeter(HOUSEHOLD, k);
        }
        (uint256 x, uint256 y) = _key(9);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityTooManyMeters.selector, HOUSEHOLD, 8)
        );
        vm.prank(MANAGER);
        community.admitMeter(HOUSEHOLD, x, y);
    }

    function test_admitMeter_RevertWhen_TooManyMetersCountingRevoked() public {
        // Settlement carries every listed meter, so revoked ones still use up the cap.
        _admit(HOUSEHOLD);
        bytes32[] memory ids = new bytes32[](8);
        for (uint256 k = 1; k <= 8; ++k) {
            ids[k - 1] = _admitMeter(HOUSEHOLD, k);
        }
        vm.startPrank(MANAGER);
        for (uint256 i = 0; i < 8; ++i) {
            community.revokeMeter(ids[i]);
        }
        (uint256 x, uint256 y) = _key(9);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityTooManyMeters.selector, HOUSEHOLD, 8)
        );
        community.admitMeter(HOUSEHOLD, x, y);
        vm.stopPrank();
        // The cap is per household.
        _admit(OTHER);
        _admitMeter(OTHER, 9);
    }

    function test_revokeMeter_RecordsBlockTimeAndEmits() public {
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.warp(START + 777);
        vm.expectEmit(true, true, false, true);
        emit IQuartierCommunity.MeterRevoked(meterId, HOUSEHOLD, START + 777);
        vm.prank(MANAGER);
        community.revokeMeter(meterId);
        assertEq(community.meter(meterId).revokedAt, START + 777, "revokedAt is the block time");
        assertEq(community.meter(meterId).admittedAt, START, "admittedAt kept");
        assertEq(community.membership(HOUSEHOLD).removedAt, 0, "household stays a member");
    }

    function test_revokeMeter_RevertWhen_NotManager() public {
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, HOUSEHOLD)
        );
        vm.prank(HOUSEHOLD);
        community.revokeMeter(meterId);
    }

    function test_revokeMeter_RevertWhen_UnknownMeter() public {
        bytes32 meterId = keccak256("no such meter");
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityUnknownMeter.selector, meterId)
        );
        vm.prank(MANAGER);
        community.revokeMeter(meterId);
    }

    function test_revokeMeter_RevertWhen_AlreadyRevoked() public {
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.startPrank(MANAGER);
        community.revokeMeter(meterId);
        vm.warp(START + 50);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierCommunity.CommunityMeterAlreadyRevoked.selector, meterId, START
            )
        );
        community.revokeMeter(meterId);
        vm.stopPrank();
    }

    function test_revokeMeter_RevertWhen_AlreadyRevokedByRemoval() public {
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.startPrank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierCommunity.CommunityMeterAlreadyRevoked.selector, meterId, START
            )
        );
        community.revokeMeter(meterId);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ validity over intervals

    function test_meterAdmittedAfterIntervalStart_DoesNotCountForIt() public {
        uint64 k = START / INTERVAL_SECONDS + 4;
        _admit(HOUSEHOLD);
        vm.warp(_intervalStart(k) + 1);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        assertEq(community.meter(meterId).admittedAt, _intervalStart(k) + 1, "block time");
        assertTrue(!_meterCounts(meterId, k), "admitted 1 s into k: not for k");
        assertTrue(!_meterCounts(meterId, k - 1), "nor for an earlier interval");
        assertTrue(_meterCounts(meterId, k + 1), "counts from the next interval");
    }

    function test_meterAdmittedAtIntervalStart_CountsForIt() public {
        uint64 k = START / INTERVAL_SECONDS + 4;
        _admit(HOUSEHOLD);
        vm.warp(_intervalStart(k));
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        assertTrue(_meterCounts(meterId, k), "admitted at start(k): counts for k");
        assertTrue(!_meterCounts(meterId, k - 1), "not for k - 1");
    }

    function test_meterRevokedBeforeIntervalEnd_DoesNotCountForIt() public {
        uint64 k = START / INTERVAL_SECONDS + 4;
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.warp(_intervalStart(k + 1) - 1);
        vm.prank(MANAGER);
        community.revokeMeter(meterId);
        assertTrue(_meterCounts(meterId, k - 1), "counts before");
        assertTrue(!_meterCounts(meterId, k), "revoked 1 s before end(k): not for k");
        assertTrue(!_meterCounts(meterId, k + 1), "nor after");
    }

    function test_meterRevokedAtIntervalEnd_CountsForIt() public {
        uint64 k = START / INTERVAL_SECONDS + 4;
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.warp(_intervalStart(k + 1));
        vm.prank(MANAGER);
        community.revokeMeter(meterId);
        assertTrue(_meterCounts(meterId, k), "revoked at end(k): counts for k");
        assertTrue(!_meterCounts(meterId, k + 1), "not for k + 1");
    }

    function test_removedHousehold_AndItsMeters_StopCounting() public {
        uint64 k = START / INTERVAL_SECONDS + 10;
        _admit(HOUSEHOLD);
        bytes32 meterId = _admitMeter(HOUSEHOLD, 1);
        vm.warp(_intervalStart(k) + 450);
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
        assertTrue(_memberCounts(HOUSEHOLD, k - 1), "member for k - 1");
        assertTrue(_meterCounts(meterId, k - 1), "meter for k - 1");
        assertTrue(!_memberCounts(HOUSEHOLD, k), "removed mid-interval: not for k");
        assertTrue(!_meterCounts(meterId, k), "its meter neither");
    }

    function test_householdAdmittedAndRemovedInOneBlock_CountsForNothing() public {
        uint64 k = START / INTERVAL_SECONDS;
        _admit(HOUSEHOLD);
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);
        assertTrue(!_memberCounts(HOUSEHOLD, k), "not for the interval at admission");
        assertTrue(!_memberCounts(HOUSEHOLD, k - 1), "not before");
        assertTrue(!_memberCounts(HOUSEHOLD, k + 1), "not after");
    }

    function test_counts_EdgeCases() public pure {
        assertTrue(!Validity.counts(0, 0, 100, 200), "never admitted counts for nothing");
        assertTrue(Validity.counts(100, 0, 100, 200), "admitted at start, active");
        assertTrue(Validity.counts(100, 200, 100, 200), "revoked exactly at end");
        assertTrue(!Validity.counts(101, 0, 100, 200), "admitted after start");
        assertTrue(!Validity.counts(100, 199, 100, 200), "revoked before end");
        assertTrue(!Validity.counts(100, 100, 100, 200), "revoked at its admission");
    }

    function testFuzz_counts_HoldsForEverySubspan(
        uint64 admittedAt,
        uint64 revokedAt,
        uint64 start,
        uint64 end,
        uint64 innerStart,
        uint64 innerEnd
    ) public pure {
        // A span an entry counts for is one it covers whole, so it counts for every part.
        vm.assume(start < end);
        innerStart = start + innerStart % (end - start);
        innerEnd = innerStart + 1 + innerEnd % (end - innerStart);
        if (Validity.counts(admittedAt, revokedAt, start, end)) {
            assertTrue(Validity.counts(admittedAt, revokedAt, innerStart, innerEnd), "subspan");
        }
        if (admittedAt > start || (revokedAt != 0 && revokedAt < end)) {
            assertTrue(!Validity.counts(admittedAt, revokedAt, start, end), "not covered");
        }
    }

    // ------------------------------------------------------------ rules

    function test_scheduleRules_AppliesFromCurrentPlusDelayAndEmits() public {
        Rules memory next = _rules(Mechanism.CommunityPrice);
        vm.warp(START + 3600);
        vm.expectEmit(true, false, false, true);
        emit IQuartierCommunity.RulesScheduled(START_PERIOD + DELAY, next);
        vm.prank(MANAGER);
        uint64 effective = community.scheduleRules(next);
        assertEq(effective, START_PERIOD + DELAY, "current + delay");
        _assertRules(START_PERIOD - 1, _rules(Mechanism.PayAsClear), "past period");
        _assertRules(START_PERIOD, _rules(Mechanism.PayAsClear), "current period");
        _assertRules(START_PERIOD + 1, _rules(Mechanism.PayAsClear), "next period");
        _assertRules(START_PERIOD + 2, next, "from current + delay");
        _assertRules(START_PERIOD + 1000, next, "and after");
        (uint64[] memory periods, Rules[] memory rules) = community.rulesHistory();
        assertEq(periods.length, 2, "history grows");
        assertEq(periods[1], START_PERIOD + DELAY, "effective period in history");
        assertEq(_hash(rules[1]), _hash(next), "rules in history");
    }

    function test_scheduleRules_AtLastSecondOfPeriod_StillWaitsTheFullDelay() public {
        vm.warp(START + PERIOD_SECONDS - 1);
        vm.prank(MANAGER);
        uint64 effective = community.scheduleRules(_rules(Mechanism.PayAsBid));
        assertEq(effective, START_PERIOD + DELAY, "same period, same effective period");
        _assertRules(START_PERIOD + 1, _rules(Mechanism.PayAsClear), "next period untouched");
        vm.warp(START + PERIOD_SECONDS);
        assertEq(community.currentPeriod(), START_PERIOD + 1, "period ticks over");
        _assertRules(START_PERIOD + 1, _rules(Mechanism.PayAsClear), "still untouched");
    }

    function test_scheduleRules_SecondChangeForSamePeriodReplacesFirst() public {
        Rules memory first = _rules(Mechanism.PayAsBid);
        Rules memory second = _rules(Mechanism.CommunityPrice);
        second.communityPricePerKwh = 99_000;
        vm.startPrank(MANAGER);
        community.scheduleRules(first);
        vm.warp(START + 7200);
        vm.expectEmit(true, false, false, true);
        emit IQuartierCommunity.RulesScheduled(START_PERIOD + DELAY, second);
        uint64 effective = community.scheduleRules(second);
        vm.stopPrank();
        assertEq(effective, START_PERIOD + DELAY, "same effective period");
        _assertRules(START_PERIOD + DELAY, second, "second replaces first");
        _assertRules(START_PERIOD + DELAY + 5, second, "and holds after");
        _assertRules(START_PERIOD + 1, _rules(Mechanism.PayAsClear), "next period untouched");
        (uint64[] memory periods, Rules[] memory rules) = community.rulesHistory();
        assertEq(periods.length, 3, "both changes stay in the history");
        assertEq(_hash(rules[1]), _hash(first), "first kept in history");
        assertEq(_hash(rules[2]), _hash(second), "second last");
    }

    function test_scheduleRules_ChangesInSuccessivePeriodsStack() public {
        Rules memory a = _rules(Mechanism.PayAsBid);
        Rules memory b = _rules(Mechanism.CommunityPrice);
        vm.prank(MANAGER);
        community.scheduleRules(a);
        vm.warp(START + PERIOD_SECONDS);
        vm.prank(MANAGER);
        uint64 effective = community.scheduleRules(b);
        assertEq(effective, START_PERIOD + 3, "one period later, one period later");
        _assertRules(START_PERIOD + 1, _rules(Mechanism.PayAsClear), "initial");
        _assertRules(START_PERIOD + 2, a, "a");
        _assertRules(START_PERIOD + 3, b, "b");
        _assertRules(START_PERIOD + 4, b, "b after");
    }

    function test_scheduleRules_ManagerCannotChangeRulesOfPastCurrentOrNextPeriod() public {
        // Attack: a manager tries, at every moment of the current period and with every kind
        // of change, to move the rules of periods whose schedules may already be posted.
        uint64 current = START_PERIOD;
        Rules memory initial = _rules(Mechanism.PayAsClear);
        Rules memory hostile = _rules(Mechanism.PayAsBid);
        hostile.priceCeilingPerKwh = 4_000_000_000;
        hostile.gateLeadSeconds = 0;
        uint64[5] memory offsets = [uint64(0), 1, 450, PERIOD_SECONDS / 2, PERIOD_SECONDS - 1];
        vm.startPrank(MANAGER);
        for (uint256 i = 0; i < offsets.length; ++i) {
            vm.warp(START + offsets[i]);
            hostile.communityPricePerKwh = uint64(100_000 + i);
            uint64 effective = community.scheduleRules(hostile);
            assertTrue(effective > current + 1, "lands after the next period");
            for (uint64 p = 0; p <= 3; ++p) {
                _assertRules(current + 1 - p, initial, "past, current and next periods hold");
            }
            _assertRules(0, initial, "period 0 holds");
        }
        vm.stopPrank();
        _assertRules(current + 2, hostile, "the change lands where it may");
    }

    function testFuzz_scheduleRules_NeverChangesRulesOfPeriodsUpToNext(
        uint32[4] memory waits,
        uint64 probe
    ) public {
        vm.startPrank(MANAGER);
        uint64 timestamp = START;
        for (uint256 i = 0; i < waits.length; ++i) {
            timestamp += waits[i] % (3 * PERIOD_SECONDS);
            vm.warp(timestamp);
            uint64 current = community.currentPeriod();
            // Any period up to next, probed before and after the change.
            uint64 period = current + 1 - (probe % (current + 2));
            bytes32 before = _hash(community.rulesAt(period));
            bytes32 nextBefore = _hash(community.rulesAt(current + 1));
            Rules memory rules = _rules(Mechanism(i % 3));
            rules.communityPricePerKwh = uint64(60_000 + i);
            assertEq(community.scheduleRules(rules), current + DELAY, "current + delay");
            assertEq(_hash(community.rulesAt(period)), before, "a period up to next held");
            assertEq(_hash(community.rulesAt(current + 1)), nextBefore, "next period held");
            assertEq(_hash(community.rulesAt(current + DELAY)), _hash(rules), "change landed");
        }
        vm.stopPrank();
    }

    function testFuzz_rulesAt_IsTheLastEntryEffectiveByThen(uint8[8] memory steps, uint64 probe)
        public
    {
        // rulesAt's binary search against a linear scan of rulesHistory.
        vm.startPrank(MANAGER);
        for (uint256 i = 0; i < steps.length; ++i) {
            vm.warp(block.timestamp + uint256(steps[i] % 4) * PERIOD_SECONDS);
            Rules memory rules = _rules(Mechanism.PayAsClear);
            rules.communityPricePerKwh = uint64(50_000 + i);
            community.scheduleRules(rules);
        }
        vm.stopPrank();
        (uint64[] memory periods, Rules[] memory history) = community.rulesHistory();
        uint64 last = periods[periods.length - 1];
        for (uint64 j = 0; j < 6; ++j) {
            uint64 period =
                j == 0 ? probe : START_PERIOD + (probe % 1000 + j) % (last - START_PERIOD + 3);
            uint256 found = 0;
            for (uint256 i = 0; i < periods.length; ++i) {
                if (periods[i] <= period) found = i;
            }
            assertEq(_hash(community.rulesAt(period)), _hash(history[found]), "last by then");
        }
    }

    function test_scheduleRules_RevertWhen_NotManager() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, HOUSEHOLD)
        );
        vm.prank(HOUSEHOLD);
        community.scheduleRules(_rules(Mechanism.PayAsBid));
        (uint64[] memory periods,) = community.rulesHistory();
        assertEq(periods.length, 1, "nothing scheduled");
    }

    function test_scheduleRules_RevertWhen_FloorAboveCeiling() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.priceFloorPerKwh = rules.priceCeilingPerKwh + 1;
        rules.communityPricePerKwh = rules.priceCeilingPerKwh;
        _expectInvalidRules(rules, "price bounds");
    }

    function test_scheduleRules_RevertWhen_CeilingAboveUint32() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.priceCeilingPerKwh = uint64(type(uint32).max) + 1;
        _expectInvalidRules(rules, "price bounds");
        rules.priceCeilingPerKwh = type(uint32).max;
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_CommunityPriceBelowFloor() public {
        Rules memory rules = _rules(Mechanism.CommunityPrice);
        rules.communityPricePerKwh = rules.priceFloorPerKwh - 1;
        _expectInvalidRules(rules, "community price");
        rules.communityPricePerKwh = rules.priceFloorPerKwh;
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_CommunityPriceAboveCeiling() public {
        Rules memory rules = _rules(Mechanism.CommunityPrice);
        rules.communityPricePerKwh = rules.priceCeilingPerKwh + 1;
        _expectInvalidRules(rules, "community price");
        rules.communityPricePerKwh = rules.priceCeilingPerKwh;
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_GateLeadNotShorterThanPeriod() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.gateLeadSeconds = uint32(PERIOD_SECONDS);
        _expectInvalidRules(rules, "gate lead");
        rules.gateLeadSeconds = uint32(PERIOD_SECONDS - 1);
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_ZeroDeadline() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.settlementDeadlineSeconds = 0;
        _expectInvalidRules(rules, "deadline");
        rules.settlementDeadlineSeconds = 1;
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_DeadlineAboveThirtyDays() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.settlementDeadlineSeconds = 30 days + 1;
        _expectInvalidRules(rules, "deadline");
        rules.settlementDeadlineSeconds = 30 days;
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_ZeroMinEntry() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.minEntryWh = 0;
        _expectInvalidRules(rules, "min entry");
    }

    function test_scheduleRules_RevertWhen_MinEntryAboveUint24() public {
        Rules memory rules = _rules(Mechanism.PayAsClear);
        rules.minEntryWh = uint32(type(uint24).max) + 1;
        _expectInvalidRules(rules, "min entry");
        rules.minEntryWh = type(uint24).max;
        _expectValidRules(rules);
    }

    function test_scheduleRules_RevertWhen_MechanismOutOfRange() public {
        // The ABI decoder refuses the enum before the contract's own "mechanism" check.
        Rules memory rules = _rules(Mechanism.PayAsClear);
        bytes memory tail = abi.encode(
            rules.gateLeadSeconds,
            rules.settlementDeadlineSeconds,
            rules.minEntryWh,
            rules.priceFloorPerKwh,
            rules.priceCeilingPerKwh,
            rules.communityPricePerKwh
        );
        bytes4 selector = community.scheduleRules.selector;
        vm.startPrank(MANAGER);
        (bool ok,) = address(community).call(abi.encodePacked(selector, uint256(3), tail));
        assertTrue(!ok, "mechanism 3 refused");
        (ok,) = address(community).call(abi.encodePacked(selector, uint256(2), tail));
        assertTrue(ok, "mechanism 2 accepted");
        vm.stopPrank();
    }

    // ------------------------------------------------------------ management

    function test_transferManagement_MovesEveryPowerAndEmits() public {
        vm.expectEmit(true, true, false, true);
        emit IQuartierCommunity.ManagementTransferred(MANAGER, OTHER);
        vm.prank(MANAGER);
        community.transferManagement(OTHER);
        assertEq(community.manager(), OTHER, "new manager");
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, MANAGER)
        );
        vm.prank(MANAGER);
        community.admitHousehold(HOUSEHOLD);
        vm.prank(OTHER);
        community.admitHousehold(HOUSEHOLD);
        assertEq(community.membership(HOUSEHOLD).admittedAt, START, "new manager admits");
    }

    function test_transferManagement_RevertWhen_NotManager() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityNotManager.selector, OTHER)
        );
        vm.prank(OTHER);
        community.transferManagement(OTHER);
        assertEq(community.manager(), MANAGER, "unchanged");
    }

    function test_transferManagement_RevertWhen_ZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierCommunity.CommunityZeroAddress.selector));
        vm.prank(MANAGER);
        community.transferManagement(address(0));
    }

    // ------------------------------------------------------------ helpers

    uint256 internal constant P256_ORDER =
        0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551;

    function _expectInvalidKey(uint256 x, uint256 y) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierCommunity.CommunityInvalidMeterKey.selector, x, y)
        );
        vm.prank(MANAGER);
        community.admitMeter(HOUSEHOLD, x, y);
    }

    function _invalid(string memory reason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IQuartierCommunity.CommunityInvalidRules.selector, reason);
    }

    function _expectInvalidRules(Rules memory rules, string memory reason) internal {
        vm.expectRevert(_invalid(reason));
        vm.prank(MANAGER);
        community.scheduleRules(rules);
    }

    function _expectValidRules(Rules memory rules) internal {
        vm.prank(MANAGER);
        uint64 effective = community.scheduleRules(rules);
        _assertRules(effective, rules, "the bound itself is valid");
    }
}
