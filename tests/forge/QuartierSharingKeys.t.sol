// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SharingKeysBase} from "./utils/SharingKeysBase.sol";
import {QuartierSharingKeys} from "../../contracts/QuartierSharingKeys.sol";
import {IQuartierSharingKeys} from "../../contracts/interfaces/IQuartierSharingKeys.sol";
import {KeyRule, SharingKey} from "../../contracts/types/SharingKey.sol";

/// The keys' validity: set at deployment, changed by the community's manager with its delay,
/// every change an event, the history readable by period and by time.
contract QuartierSharingKeysTest is SharingKeysBase {
    function test_deployment_KeyHoldsForItsPeriods() public view {
        (uint256 id, SharingKey memory key) = keys.keyAt(START_PERIOD);
        assertEq(id, 0, "the deployment's key");
        assertEq(key.members.length, 3, "its members");
        (id,) = keys.keyAtTime(START + 3600);
        assertEq(id, 0, "by time too");
        assertEq(address(keys.community()), address(community), "bound community");
        assertEq(keys.earliestChangePeriod(), START_PERIOD + DELAY, "current + delay");
    }

    function test_deployment_RefusesOverlappingKeys() public {
        SharingKey[] memory initial = new SharingKey[](2);
        initial[0] = _equalKey(0, 100, 3);
        initial[1] = _equalKey(100, NO_END, 3);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysValidityOverlap.selector, 1, 0)
        );
        new QuartierSharingKeys(community, initial);
    }

    function test_deployment_RefusesAReversedValidity() public {
        SharingKey[] memory initial = new SharingKey[](1);
        initial[0] = _equalKey(10, 9, 3);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysValidityReversed.selector, 10, 9)
        );
        new QuartierSharingKeys(community, initial);
    }

    function test_change_EndThenReplaceFromTheEarliestPeriod() public {
        uint64 earliest = START_PERIOD + DELAY;
        SharingKey memory next = _keyOf(_cascade(KeyRule.ProRata), new uint16[](0));
        next.validFromPeriod = earliest;
        vm.startPrank(MANAGER);
        vm.expectEmit(true, false, false, true);
        emit IQuartierSharingKeys.KeyEnded(0, earliest - 1);
        keys.endKeyFrom(0, earliest);
        vm.expectEmit(true, false, false, true);
        emit IQuartierSharingKeys.KeyScheduled(1, next);
        uint256 id = keys.scheduleKey(next);
        vm.stopPrank();
        assertEq(id, 1, "second key");
        (uint256 current,) = keys.keyAt(START_PERIOD + 1);
        assertEq(current, 0, "the next period keeps its key");
        (uint256 later, SharingKey memory key) = keys.keyAt(earliest);
        assertEq(later, 1, "the new key from the earliest period");
        assertTrue(key.cascade[0] == KeyRule.ProRata, "its rule");
        assertEq(keys.keyCount(), 2, "history keeps both");
        assertEq(keys.keyById(0).validUntilPeriod, earliest - 1, "the old one's end");
    }

    function test_change_TooEarlyNamesTheEarliestPeriod() public {
        uint64 earliest = START_PERIOD + DELAY;
        vm.startPrank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSharingKeys.SharingKeysChangeTooEarly.selector, earliest - 1, earliest
            )
        );
        keys.endKeyFrom(0, earliest - 1);
        SharingKey memory next = _equalKey(earliest - 1, NO_END, 3);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSharingKeys.SharingKeysChangeTooEarly.selector, earliest - 1, earliest
            )
        );
        keys.scheduleKey(next);
        vm.stopPrank();
    }

    function test_change_NewKeyMayNotOverlapAnOpenOne() public {
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysValidityOverlap.selector, 1, 0)
        );
        keys.scheduleKey(_equalKey(START_PERIOD + DELAY, NO_END, 3));
    }

    function test_change_OnlyTheCommunitysManager() public {
        vm.prank(HOUSEHOLD);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysNotManager.selector, HOUSEHOLD)
        );
        keys.endKeyFrom(0, START_PERIOD + DELAY);
        vm.prank(MANAGER);
        community.transferManagement(OTHER);
        vm.prank(OTHER);
        keys.endKeyFrom(0, START_PERIOD + DELAY);
        assertEq(keys.keyById(0).validUntilPeriod, START_PERIOD + DELAY - 1, "new manager");
    }

    function test_end_WithdrawsAFutureKeyAndOnlyMovesEarlier() public {
        uint64 from = START_PERIOD + 10;
        vm.startPrank(MANAGER);
        keys.endKeyFrom(0, from);
        keys.scheduleKey(_equalKey(from, NO_END, 3));
        keys.endKeyFrom(1, START_PERIOD + DELAY);
        assertEq(keys.keyById(1).validUntilPeriod, from - 1, "withdrawn: ends before it begins");
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSharingKeys.SharingKeysEndNotEarlier.selector, 1, from - 1, from - 1
            )
        );
        keys.endKeyFrom(1, START_PERIOD + DELAY);
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysNoKeyInForce.selector, from)
        );
        keys.keyAt(from);
    }

    function test_allocateAt_UsesThePeriodsKey() public view {
        (uint256[] memory received,) =
            keys.allocateAt(START_PERIOD, _three(7, 0, 0), _three(0, 10, 10));
        _assertThree(received, 0, 4, 3, "the equal key");
    }

    function test_gas_scheduleKey100Members() public {
        SharingKey memory key = _equalKey(START_PERIOD + DELAY, NO_END, 100);
        key.cascade = _cascade(KeyRule.Fixed, KeyRule.ProRata);
        key.sharesBp = new uint16[](100);
        for (uint256 i = 0; i < 100; ++i) {
            key.sharesBp[i] = 100;
        }
        vm.startPrank(MANAGER);
        keys.endKeyFrom(0, START_PERIOD + DELAY);
        uint256 before = gasleft();
        keys.scheduleKey(key);
        uint256 used = before - gasleft();
        vm.stopPrank();
        assertLe(used, 5_000_000, "a key of 100 members");
    }
}
