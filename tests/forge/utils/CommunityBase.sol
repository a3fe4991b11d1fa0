// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./Test.sol";
import {QuartierCommunity} from "../../../contracts/QuartierCommunity.sol";
import {IQuartierCommunity} from "../../../contracts/interfaces/IQuartierCommunity.sol";
import {Validity} from "../../../contracts/libraries/Validity.sol";
import {Mechanism, Rules} from "../../../contracts/types/Rules.sol";

/// Shared deployment: 15-minute intervals, daily periods, a two-period rule delay, the clock at
/// a period boundary (2026-01-01 00:00 UTC).
abstract contract CommunityBase is Test {
    address internal constant MANAGER = address(0xA11CE);
    address internal constant HOUSEHOLD = address(0xB0B);
    address internal constant OTHER = address(0xCA401);
    uint32 internal constant INTERVAL_SECONDS = 900;
    uint32 internal constant PERIOD_INTERVALS = 96;
    uint32 internal constant PERIOD_SECONDS = 86_400;
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
