// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";
import {QuartierCommunity} from "../../contracts/QuartierCommunity.sol";
import {IQuartierCommunity} from "../../contracts/interfaces/IQuartierCommunity.sol";
import {Mechanism, Rules} from "../../contracts/types/Rules.sol";

/// Drives the community as its manager through random admissions, removals, meters,
/// revocations, rule changes and the passing of time. Before and after every action it
/// snapshots the rules of every period up to the next one: those must never change again.
contract CommunityHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint64 internal constant PERIOD_SECONDS = 86_400;

    QuartierCommunity public immutable community;
    address public immutable manager;
    address[] public households;
    bytes32[] public meterIds;
    uint256 internal nextMeterKey = 1;
    /// The clock, kept here so that it only moves forward whatever the runner does between calls.
    uint64 public ghostNow;

    uint64[] public frozenPeriods;
    bytes32[] public frozenRules;
    uint64 internal nextUnfrozen;

    constructor(QuartierCommunity community_, address manager_, uint64 start) {
        community = community_;
        manager = manager_;
        ghostNow = start;
        for (uint160 i = 1; i <= 4; i++) {
            households.push(address(i * 0x1000));
        }
        // Before the first action: period 0, the past and the current and next periods.
        uint64 current = community.currentPeriod();
        _record(0);
        _record(current - 1);
        nextUnfrozen = current;
        _freeze();
    }

    modifier step() {
        vm.warp(ghostNow);
        _freeze();
        vm.startPrank(manager);
        _;
        vm.stopPrank();
        _freeze();
    }

    function householdCount() external view returns (uint256) {
        return households.length;
    }

    function frozenCount() external view returns (uint256) {
        return frozenPeriods.length;
    }

    function wait(uint32 seconds_) external {
        ghostNow += uint64(seconds_ % (3 * PERIOD_SECONDS));
        vm.warp(ghostNow);
        _freeze();
    }

    function admitHousehold(uint256 seed) external step {
        address household = households[seed % households.length];
        if (community.membership(household).admittedAt != 0) return;
        community.admitHousehold(household);
    }

    function removeHousehold(uint256 seed) external step {
        address household = households[seed % households.length];
        IQuartierCommunity.Membership memory entry = community.membership(household);
        if (entry.admittedAt == 0 || entry.removedAt != 0) return;
        community.removeHousehold(household);
    }

    function admitMeter(uint256 seed) external step {
        address household = households[seed % households.length];
        IQuartierCommunity.Membership memory entry = community.membership(household);
        if (entry.admittedAt == 0 || entry.removedAt != 0) return;
        if (community.metersOf(household).length == 8) return;
        (uint256 x, uint256 y) = vm.publicKeyP256(nextMeterKey++);
        meterIds.push(community.admitMeter(household, x, y));
    }

    function revokeMeter(uint256 seed) external step {
        if (meterIds.length == 0) return;
        bytes32 meterId = meterIds[seed % meterIds.length];
        if (community.meter(meterId).revokedAt != 0) return;
        community.revokeMeter(meterId);
    }

    function scheduleRules(uint8 mechanism, uint64 price) external step {
        Rules memory rules = Rules({
            mechanism: Mechanism(mechanism % 3),
            gateLeadSeconds: 300,
            settlementDeadlineSeconds: 6 hours,
            minEntryWh: 1,
            priceFloorPerKwh: 50_000,
            priceCeilingPerKwh: 300_000,
            communityPricePerKwh: 50_000 + price % 250_001
        });
        community.scheduleRules(rules);
    }

    /// Records the rules of every period up to currentPeriod + 1 not recorded yet.
    function _freeze() internal {
        uint64 next = community.currentPeriod() + 1;
        for (uint64 period = nextUnfrozen; period <= next; ++period) {
            _record(period);
        }
        if (next + 1 > nextUnfrozen) nextUnfrozen = next + 1;
    }

    function _record(uint64 period) internal {
        frozenPeriods.push(period);
        frozenRules.push(keccak256(abi.encode(community.rulesAt(period))));
    }
}

contract QuartierCommunityInvariantTest is Test {
    address internal constant MANAGER = address(0xA11CE);
    uint64 internal constant START = 1_767_225_600;
    QuartierCommunity internal community;
    CommunityHandler internal handler;

    function setUp() public {
        vm.warp(START);
        community = new QuartierCommunity(
            MANAGER,
            900,
            96,
            2,
            Rules({
                mechanism: Mechanism.PayAsClear,
                gateLeadSeconds: 300,
                settlementDeadlineSeconds: 6 hours,
                minEntryWh: 1,
                priceFloorPerKwh: 50_000,
                priceCeilingPerKwh: 300_000,
                communityPricePerKwh: 120_000
            })
        );
        handler = new CommunityHandler(community, MANAGER, START);
        targetContract(address(handler));
    }

    function invariant_rulesOfPeriodsUpToNextNeverChange() public view {
        for (uint256 i = 0; i < handler.frozenCount(); i++) {
            assertEq(
                keccak256(abi.encode(community.rulesAt(handler.frozenPeriods(i)))),
                handler.frozenRules(i),
                "rules of a period once current or next"
            );
        }
    }

    function invariant_rulesHistoryIsOrderedFromPeriodZero() public view {
        (uint64[] memory periods, Rules[] memory rules) = community.rulesHistory();
        assertEq(periods.length, rules.length, "parallel history");
        assertEq(periods[0], 0, "first entry from period 0");
        for (uint256 i = 1; i < periods.length; i++) {
            assertLe(periods[i - 1], periods[i], "effective periods non-decreasing");
            assertGe(periods[i], 2, "a change lands at least two periods on");
        }
    }

    function invariant_metersStayWithinTheirHouseholdsRecord() public view {
        for (uint256 h = 0; h < handler.householdCount(); h++) {
            address household = handler.households(h);
            IQuartierCommunity.Membership memory entry = community.membership(household);
            bytes32[] memory meters = community.metersOf(household);
            assertLe(meters.length, 8, "meter cap");
            uint64 previousAdmission = 0;
            for (uint256 m = 0; m < meters.length; m++) {
                IQuartierCommunity.MeterInfo memory info = community.meter(meters[m]);
                assertEq(info.household, household, "listed under its household");
                assertGe(info.admittedAt, previousAdmission, "admission order");
                previousAdmission = info.admittedAt;
                assertGe(info.admittedAt, entry.admittedAt, "admitted while a member");
                if (info.revokedAt != 0) {
                    assertGe(info.revokedAt, info.admittedAt, "revoked after admission");
                }
                if (entry.removedAt != 0) {
                    assertLe(info.admittedAt, entry.removedAt, "admitted before removal");
                    assertTrue(info.revokedAt != 0, "a removed household's meter is revoked");
                    assertLe(info.revokedAt, entry.removedAt, "revoked by the removal");
                }
            }
        }
    }

    function invariant_timesAreNeverInTheFuture() public view {
        uint64 now_ = handler.ghostNow();
        for (uint256 h = 0; h < handler.householdCount(); h++) {
            IQuartierCommunity.Membership memory entry = community.membership(handler.households(h));
            assertLe(entry.admittedAt, now_, "admittedAt <= now");
            assertLe(entry.removedAt, now_, "removedAt <= now");
            if (entry.removedAt != 0) assertGe(entry.removedAt, entry.admittedAt, "order");
        }
    }
}
