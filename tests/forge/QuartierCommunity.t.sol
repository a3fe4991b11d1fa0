// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CommunityBase} from "./utils/CommunityBase.sol";
import {QuartierCommunity} from "../../contracts/QuartierCommunity.sol";
import {IQuartierCommunity} from "../../contracts/interfaces/IQuartierCommunity.sol";
import {P256 as OurP256} from "../../contracts/libraries/P256.sol";
import {Validity} from "../../contracts/libraries/Validity.sol";
import {Mechanism, Rules} from "../../contracts/types/Rules.sol";

/// The registry: deployment checks, households, meters, their validity over intervals, and
/// management. The rules are in QuartierCommunityRules.t.sol.
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

    /// The packed registry: settlementFacts agrees with membership / metersOf / meter for a
    /// household's first meter (times in the household's slot) and later ones (own slot),
    /// across a revocation of each and the household's removal.
    function test_settlementFacts_MatchTheRegistryViews() public {
        _admit(HOUSEHOLD);
        _admit(OTHER);
        vm.warp(START + 10);
        bytes32 first = _admitMeter(HOUSEHOLD, 1);
        vm.warp(START + 20);
        bytes32 second = _admitMeter(HOUSEHOLD, 2);
        bytes32 third = _admitMeter(HOUSEHOLD, 3);
        bytes32 others = _admitMeter(OTHER, 4);
        vm.warp(START + 30);
        vm.prank(MANAGER);
        community.revokeMeter(second);
        vm.warp(START + 40);
        vm.prank(MANAGER);
        community.revokeMeter(others);
        vm.warp(START + 50);
        vm.prank(MANAGER);
        community.removeHousehold(HOUSEHOLD);

        (
            IQuartierCommunity.Membership memory membership,
            IQuartierCommunity.MeterFacts[] memory meters
        ) = community.settlementFacts(HOUSEHOLD);
        assertEq(membership.admittedAt, START, "admittedAt");
        assertEq(membership.removedAt, START + 50, "removedAt");
        bytes32[] memory ids = community.metersOf(HOUSEHOLD);
        assertEq(meters.length, 3, "three meters");
        assertEq(ids[0], first, "order 0");
        assertEq(ids[1], second, "order 1");
        assertEq(ids[2], third, "order 2");
        uint64[3] memory admitted = [uint64(START + 10), START + 20, START + 20];
        uint64[3] memory revoked = [uint64(START + 50), START + 30, START + 50];
        for (uint256 j; j < 3; ++j) {
            IQuartierCommunity.MeterInfo memory info = community.meter(ids[j]);
            assertEq(community.meterIdOf(meters[j].publicKeyX, meters[j].publicKeyY), ids[j], "id");
            assertEq(meters[j].publicKeyX, info.publicKeyX, "x");
            assertEq(meters[j].publicKeyY, info.publicKeyY, "y");
            assertEq(meters[j].admittedAt, admitted[j], "admittedAt");
            assertEq(info.admittedAt, admitted[j], "meter admittedAt");
            assertEq(meters[j].revokedAt, revoked[j], "revokedAt");
            assertEq(info.revokedAt, revoked[j], "meter revokedAt");
            assertEq(info.household, HOUSEHOLD, "owner");
        }
        (membership, meters) = community.settlementFacts(OTHER);
        assertEq(membership.removedAt, 0, "other still a member");
        assertEq(meters.length, 1, "other's meter");
        assertEq(meters[0].revokedAt, START + 40, "other's revocation");
        assertEq(community.meter(others).household, OTHER, "other owns it");
        (, meters) = community.settlementFacts(address(0xBEEF));
        assertEq(meters.length, 0, "a stranger has none");
        assertEq(community.meter(keccak256("unknown")).household, address(0), "unknown meter");
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
}
