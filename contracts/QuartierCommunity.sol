// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

import {IQuartierCommunity} from "./interfaces/IQuartierCommunity.sol";
import {Mechanism, Rules} from "./types/Rules.sol";

/// @title QuartierCommunity
/// @notice Protocol v2 registry of one energy community: members, meters and rules, each with
/// the times or periods it holds for (see IQuartierCommunity for the rule).
/// @dev Management is one-step (`transferManagement`), as the interface names it; the manager
/// is a multisig in production, whose own process guards against a mistyped address.
contract QuartierCommunity is IQuartierCommunity {
    /// @dev A rules change lands no earlier than two periods ahead, so the current and the next
    /// period, the only ones that can hold schedules, always have final rules.
    uint32 internal constant MIN_RULE_CHANGE_DELAY_PERIODS = 2;
    /// @dev Settlement supplies data for every meter in `metersOf`, revoked ones included, so
    /// the cap counts every meter a household ever had: it bounds settlement's work per
    /// household (and `removeHousehold`'s loop).
    uint256 internal constant MAX_METERS_PER_HOUSEHOLD = 8;
    /// @dev Past the deadline a missing meter measures 0 Wh; before it, escrow stays locked.
    /// A month bounds how long one silent meter can hold a period's settlement up.
    uint32 internal constant MAX_SETTLEMENT_DEADLINE_SECONDS = 30 days;

    uint32 private immutable _intervalSeconds;
    uint32 private immutable _periodIntervals;
    uint32 private immutable _ruleChangeDelayPeriods;

    address private _manager;

    mapping(address household => Membership) private _memberships;
    mapping(bytes32 meterId => MeterInfo) private _meters;
    mapping(address household => bytes32[]) private _metersOf;

    /// @dev The rules history as two parallel arrays, effective periods non-decreasing: the
    /// periods pack four to a slot, which keeps `rulesAt`'s binary search cheap. Entry 0 is
    /// the deployment's rules, effective from period 0.
    uint64[] private _ruleEffectivePeriods;
    Rules[] private _rules;

    modifier onlyManager() {
        if (msg.sender != _manager) revert CommunityNotManager(msg.sender);
        _;
    }

    constructor(
        address initialManager,
        uint32 intervalSeconds_,
        uint32 periodIntervals_,
        uint32 ruleChangeDelayPeriods_,
        Rules memory initialRules
    ) {
        if (initialManager == address(0)) revert CommunityZeroAddress();
        if (intervalSeconds_ == 0 || periodIntervals_ == 0) {
            revert CommunityInvalidTimeGrid(intervalSeconds_, periodIntervals_);
        }
        if (ruleChangeDelayPeriods_ < MIN_RULE_CHANGE_DELAY_PERIODS) {
            revert CommunityRuleDelayTooShort(
                ruleChangeDelayPeriods_, MIN_RULE_CHANGE_DELAY_PERIODS
            );
        }
        _intervalSeconds = intervalSeconds_;
        _periodIntervals = periodIntervals_;
        _ruleChangeDelayPeriods = ruleChangeDelayPeriods_;
        _validateRules(initialRules, uint64(intervalSeconds_) * periodIntervals_);

        _manager = initialManager;
        emit ManagementTransferred(address(0), initialManager);
        _ruleEffectivePeriods.push(0);
        _rules.push(initialRules);
        emit RulesScheduled(0, initialRules);
    }

    // ---------------------------------------------------------------- members and meters

    /// @inheritdoc IQuartierCommunity
    function admitHousehold(address household) external onlyManager {
        if (household == address(0)) revert CommunityZeroAddress();
        Membership storage membership_ = _memberships[household];
        // Once ever: a re-admission would make an old removal look like a gap in one record.
        if (membership_.admittedAt != 0) {
            revert CommunityAlreadyAdmitted(household, membership_.admittedAt);
        }
        uint64 now_ = _now();
        membership_.admittedAt = now_;
        emit HouseholdAdmitted(household, now_);
    }

    /// @inheritdoc IQuartierCommunity
    /// @dev Revokes the household's active meters first, each with its MeterRevoked event, so
    /// every meter's own record shows when it stopped counting.
    function removeHousehold(address household) external onlyManager {
        Membership storage membership_ = _memberships[household];
        if (membership_.admittedAt == 0 || membership_.removedAt != 0) {
            revert CommunityNotMember(household);
        }
        uint64 now_ = _now();
        bytes32[] storage meterIds = _metersOf[household];
        for (uint256 i = 0; i < meterIds.length; ++i) {
            MeterInfo storage info = _meters[meterIds[i]];
            if (info.revokedAt == 0) {
                info.revokedAt = now_;
                emit MeterRevoked(meterIds[i], household, now_);
            }
        }
        membership_.removedAt = now_;
        emit HouseholdRemoved(household, now_);
    }

    /// @inheritdoc IQuartierCommunity
    function admitMeter(address household, uint256 publicKeyX, uint256 publicKeyY)
        external
        onlyManager
        returns (bytes32 meterId)
    {
        Membership storage membership_ = _memberships[household];
        if (membership_.admittedAt == 0 || membership_.removedAt != 0) {
            revert CommunityNotMember(household);
        }
        // P256VERIFY rejects off-curve keys anyway; checking here keeps an unusable meter out
        // of metersOf, where settlement would have to carry it for ever.
        if (!P256.isValidPublicKey(bytes32(publicKeyX), bytes32(publicKeyY))) {
            revert CommunityInvalidMeterKey(publicKeyX, publicKeyY);
        }
        meterId = meterIdOf(publicKeyX, publicKeyY);
        // A key is admitted once ever: re-admitting a revoked key would revive its signatures.
        if (_meters[meterId].household != address(0)) revert CommunityMeterExists(meterId);
        bytes32[] storage meterIds = _metersOf[household];
        if (meterIds.length >= MAX_METERS_PER_HOUSEHOLD) {
            revert CommunityTooManyMeters(household, meterIds.length);
        }
        uint64 now_ = _now();
        _meters[meterId] = MeterInfo({
            household: household,
            admittedAt: now_,
            revokedAt: 0,
            publicKeyX: publicKeyX,
            publicKeyY: publicKeyY
        });
        meterIds.push(meterId);
        emit MeterAdmitted(meterId, household, publicKeyX, publicKeyY, now_);
    }

    /// @inheritdoc IQuartierCommunity
    function revokeMeter(bytes32 meterId) external onlyManager {
        MeterInfo storage info = _meters[meterId];
        if (info.household == address(0)) revert CommunityUnknownMeter(meterId);
        if (info.revokedAt != 0) revert CommunityMeterAlreadyRevoked(meterId, info.revokedAt);
        uint64 now_ = _now();
        info.revokedAt = now_;
        emit MeterRevoked(meterId, info.household, now_);
    }

    // ---------------------------------------------------------------- rules

    /// @inheritdoc IQuartierCommunity
    /// @dev Appends to the history even when it replaces a change for the same period: the
    /// history keeps every change ever scheduled, and `rulesAt` takes the last one.
    function scheduleRules(Rules calldata rules)
        external
        onlyManager
        returns (uint64 effectiveFromPeriodId)
    {
        _validateRules(rules, _periodSeconds());
        effectiveFromPeriodId = currentPeriod() + _ruleChangeDelayPeriods;
        _ruleEffectivePeriods.push(effectiveFromPeriodId);
        _rules.push(rules);
        emit RulesScheduled(effectiveFromPeriodId, rules);
    }

    /// @inheritdoc IQuartierCommunity
    function rulesAt(uint64 periodId) external view returns (Rules memory) {
        // The last entry effective at or before periodId: binary search for the first entry
        // effective after it. Entry 0 is effective from period 0, so `high` ends >= 1.
        uint256 low = 0;
        uint256 high = _ruleEffectivePeriods.length;
        while (low < high) {
            uint256 middle = (low + high) / 2;
            if (_ruleEffectivePeriods[middle] <= periodId) low = middle + 1;
            else high = middle;
        }
        return _rules[high - 1];
    }

    /// @inheritdoc IQuartierCommunity
    function rulesHistory()
        external
        view
        returns (uint64[] memory effectiveFromPeriodIds, Rules[] memory rules)
    {
        return (_ruleEffectivePeriods, _rules);
    }

    // ---------------------------------------------------------------- management

    /// @inheritdoc IQuartierCommunity
    function transferManagement(address newManager) external onlyManager {
        if (newManager == address(0)) revert CommunityZeroAddress();
        address previous = _manager;
        _manager = newManager;
        emit ManagementTransferred(previous, newManager);
    }

    // ---------------------------------------------------------------- views

    function manager() external view returns (address) {
        return _manager;
    }

    function intervalSeconds() external view returns (uint32) {
        return _intervalSeconds;
    }

    function periodIntervals() external view returns (uint32) {
        return _periodIntervals;
    }

    function ruleChangeDelayPeriods() external view returns (uint32) {
        return _ruleChangeDelayPeriods;
    }

    function currentPeriod() public view returns (uint64) {
        return uint64(block.timestamp / _periodSeconds());
    }

    function membership(address household) external view returns (Membership memory) {
        return _memberships[household];
    }

    function meter(bytes32 meterId) external view returns (MeterInfo memory) {
        return _meters[meterId];
    }

    function metersOf(address household) external view returns (bytes32[] memory) {
        return _metersOf[household];
    }

    function meterIdOf(uint256 publicKeyX, uint256 publicKeyY) public pure returns (bytes32) {
        // keccak256(x || y), the id v1's registry and metering.reading.meter_id_of derive.
        return keccak256(abi.encode(publicKeyX, publicKeyY));
    }

    // ---------------------------------------------------------------- internal

    function _periodSeconds() private view returns (uint64) {
        return uint64(_intervalSeconds) * _periodIntervals;
    }

    /// @dev Block times fit in 64 bits for the next 500 billion years.
    function _now() private view returns (uint64) {
        return uint64(block.timestamp);
    }

    /// @dev The bounds are those IQuartierCommunity.CommunityInvalidRules lists.
    function _validateRules(Rules memory rules, uint64 periodSeconds) private pure {
        // The ABI decoder already refuses an out-of-range enum; kept so the bound is explicit
        // should Mechanism ever grow.
        if (uint8(rules.mechanism) > uint8(Mechanism.CommunityPrice)) {
            revert CommunityInvalidRules("mechanism");
        }
        // Schedule entries carry uint32 prices: a bound above that could never bind.
        if (
            rules.priceFloorPerKwh > rules.priceCeilingPerKwh
                || rules.priceCeilingPerKwh > type(uint32).max
        ) revert CommunityInvalidRules("price bounds");
        if (
            rules.communityPricePerKwh < rules.priceFloorPerKwh
                || rules.communityPricePerKwh > rules.priceCeilingPerKwh
        ) revert CommunityInvalidRules("community price");
        // Schedules for period P can be posted from start(P - 1) on; a gate lead of a whole
        // period would close P's first interval before anyone could post for it.
        if (rules.gateLeadSeconds >= periodSeconds) revert CommunityInvalidRules("gate lead");
        if (
            rules.settlementDeadlineSeconds == 0
                || rules.settlementDeadlineSeconds > MAX_SETTLEMENT_DEADLINE_SECONDS
        ) revert CommunityInvalidRules("deadline");
        // Schedule entries carry uint24 energies.
        if (rules.minEntryWh == 0 || rules.minEntryWh > type(uint24).max) {
            revert CommunityInvalidRules("min entry");
        }
    }
}
