// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CommunityBase} from "./utils/CommunityBase.sol";
import {IQuartierCommunity} from "../../contracts/interfaces/IQuartierCommunity.sol";
import {Mechanism, Rules} from "../../contracts/types/Rules.sol";

/// The rules: delayed changes, replacement, the history and its lookup, and every bound.
contract QuartierCommunityRulesTest is CommunityBase {
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
        for (uint64 i = 0; i < offsets.length; ++i) {
            vm.warp(START + offsets[i]);
            hostile.communityPricePerKwh = 100_000 + i;
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
        for (uint64 i = 0; i < waits.length; ++i) {
            timestamp += waits[i] % (3 * PERIOD_SECONDS);
            vm.warp(timestamp);
            uint64 current = community.currentPeriod();
            // Any period up to next, probed before and after the change.
            uint64 period = current + 1 - (probe % (current + 2));
            bytes32 before = _hash(community.rulesAt(period));
            bytes32 nextBefore = _hash(community.rulesAt(current + 1));
            Rules memory rules = _rules(Mechanism(i % 3));
            rules.communityPricePerKwh = 60_000 + i;
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
        for (uint64 i = 0; i < steps.length; ++i) {
            vm.warp(block.timestamp + uint256(steps[i] % 4) * PERIOD_SECONDS);
            Rules memory rules = _rules(Mechanism.PayAsClear);
            rules.communityPricePerKwh = 50_000 + i;
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
        rules.gateLeadSeconds = PERIOD_SECONDS;
        _expectInvalidRules(rules, "gate lead");
        rules.gateLeadSeconds = PERIOD_SECONDS - 1;
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
}
