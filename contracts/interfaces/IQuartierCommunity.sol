// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Rules} from "../types/Rules.sol";

/// @title IQuartierCommunity
/// @notice Protocol v2: the community's members, meters and rules, each with its history, so
/// that any past interval can be judged by the facts in force during it.
///
/// Time. Interval k covers [k*intervalSeconds, (k+1)*intervalSeconds) (UTC unix seconds).
/// Period P covers intervals [P*periodIntervals, (P+1)*periodIntervals). Both lengths are
/// fixed at deployment: changing them would renumber every interval and period already signed.
///
/// Registry. A household is a member from `admittedAt` (the block time of its admission) until
/// `removedAt` (0 while it is a member); an address is admitted at most once. A meter belongs
/// to one household for ever, counts from `admittedAt` and stops at `revokedAt` (0 while
/// active); its key is never re-admitted. Nothing can be back-dated: the times are block times.
/// A meter COUNTS for interval k iff admittedAt <= start(k) and (revokedAt == 0 or
/// revokedAt >= end(k)); a household's entry counts for k iff the same holds of its
/// membership. A household's meters are listed in admission order (`metersOf`), revoked ones
/// included, so that settlement can prove it was given all of them; a household has at most 8
/// meters ever (revoked ones included: settlement carries each), and its removal revokes its
/// active meters at the same moment.
///
/// Rules. `rulesAt(P)` are the rules of period P. The deployment sets the first rules,
/// effective from period 0. The manager's `scheduleRules` takes effect from period
/// `currentPeriod() + ruleChangeDelayPeriods()` (at least 2): schedules may be posted for the
/// current and the next period only, so the rules of any period that has a schedule are final.
/// A second change for the same effective period replaces the first (both emit RulesScheduled).
interface IQuartierCommunity {
    event HouseholdAdmitted(address indexed household, uint64 admittedAt);
    event HouseholdRemoved(address indexed household, uint64 removedAt);
    event MeterAdmitted(
        bytes32 indexed meterId,
        address indexed household,
        uint256 publicKeyX,
        uint256 publicKeyY,
        uint64 admittedAt
    );
    event MeterRevoked(bytes32 indexed meterId, address indexed household, uint64 revokedAt);
    event RulesScheduled(uint64 indexed effectiveFromPeriodId, Rules rules);
    event ManagementTransferred(address indexed previousManager, address indexed newManager);

    error CommunityNotManager(address caller);
    error CommunityZeroAddress();
    error CommunityAlreadyAdmitted(address household, uint64 admittedAt);
    error CommunityNotMember(address household);
    error CommunityInvalidMeterKey(uint256 publicKeyX, uint256 publicKeyY);
    error CommunityMeterExists(bytes32 meterId);
    error CommunityUnknownMeter(bytes32 meterId);
    error CommunityMeterAlreadyRevoked(bytes32 meterId, uint64 revokedAt);
    error CommunityTooManyMeters(address household, uint256 meterCount);
    error CommunityInvalidTimeGrid(uint32 intervalSeconds, uint32 periodIntervals);
    error CommunityRuleDelayTooShort(uint32 ruleChangeDelayPeriods, uint32 minimumPeriods);
    /// @notice `reason` names the broken bound: "mechanism", "price bounds", "community price",
    /// "gate lead", "deadline", "min entry". The bounds: floor <= ceiling <= 2^32 - 1 (entries
    /// carry uint32 prices); floor <= communityPrice <= ceiling; gateLeadSeconds < the period's
    /// length (else no moment could post for a period's first interval); 1 <=
    /// settlementDeadlineSeconds <= 30 days; 1 <= minEntryWh <= 2^24 - 1 (uint24 energies).
    error CommunityInvalidRules(string reason);

    struct Membership {
        uint64 admittedAt;
        uint64 removedAt;
    }

    struct MeterInfo {
        address household;
        uint64 admittedAt;
        uint64 revokedAt;
        uint256 publicKeyX;
        uint256 publicKeyY;
    }

    /// @notice A meter's facts as settlement reads them; its id is meterIdOf(x, y).
    struct MeterFacts {
        uint256 publicKeyX;
        uint256 publicKeyY;
        uint64 admittedAt;
        uint64 revokedAt;
    }

    /// @notice Admits `household` now. Reverts CommunityAlreadyAdmitted if it ever was.
    function admitHousehold(address household) external;

    /// @notice Ends `household`'s membership now; its meters stop counting too.
    function removeHousehold(address household) external;

    /// @notice Admits the P-256 key (x, y) as a meter of a current member, counting from now.
    function admitMeter(address household, uint256 publicKeyX, uint256 publicKeyY)
        external
        returns (bytes32 meterId);

    /// @notice Revokes a meter now: it counts for no interval that ends after this moment.
    function revokeMeter(bytes32 meterId) external;

    /// @notice Schedules `rules` from period currentPeriod() + ruleChangeDelayPeriods().
    function scheduleRules(Rules calldata rules) external returns (uint64 effectiveFromPeriodId);

    function transferManagement(address newManager) external;

    function manager() external view returns (address);
    function intervalSeconds() external view returns (uint32);
    function periodIntervals() external view returns (uint32);
    function ruleChangeDelayPeriods() external view returns (uint32);
    function currentPeriod() external view returns (uint64);
    function rulesAt(uint64 periodId) external view returns (Rules memory);
    /// @notice Every rules change ever scheduled, oldest first: (effective period, rules). A
    /// replaced change stays listed; for each period the last entry effective by then holds.
    function rulesHistory()
        external
        view
        returns (uint64[] memory effectiveFromPeriodIds, Rules[] memory rules);
    function membership(address household) external view returns (Membership memory);
    function meter(bytes32 meterId) external view returns (MeterInfo memory);
    function metersOf(address household) external view returns (bytes32[] memory);
    /// @notice In one call, what settlement needs of `household`: `membership(household)`
    /// and, per entry of `metersOf(household)` in the same order, the meter's key and times
    /// (those of `meter(meterId)`, meterId = meterIdOf(publicKeyX, publicKeyY)).
    function settlementFacts(address household)
        external
        view
        returns (Membership memory householdMembership, MeterFacts[] memory meters);
    function meterIdOf(uint256 publicKeyX, uint256 publicKeyY) external pure returns (bytes32);
}
