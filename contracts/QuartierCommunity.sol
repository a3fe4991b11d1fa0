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

    /// @dev The registry is laid out for settlement, which reads every posting household's
    /// facts (`settlementFacts`): one slot per household holds its membership times, its
    /// meter count and its first meter's times; each meter j adds its key (two slots) and,
    /// from the second meter on, a slot of times. A one-meter household is three slots (seven
    /// with one slot per fact). Meter ids are not stored: meterId = keccak256(x, y).
    /// Times are uint48 in storage (block times fit for 8.9 million years), uint64 outside.
    struct Member {
        uint48 admittedAt;
        uint48 removedAt;
        uint8 meterCount;
        uint48 firstMeterAdmittedAt;
        uint48 firstMeterRevokedAt;
    }

    /// @dev Meter j of a household; the times are used from j = 1 on (j = 0: in Member).
    struct MeterSlots {
        uint256 publicKeyX;
        uint256 publicKeyY;
        uint48 admittedAt;
        uint48 revokedAt;
    }

    /// @dev Which household's meter j a meter id is (`index` = j + 1; 0: unknown meter).
    struct MeterOwner {
        address household;
        uint8 index;
    }

    mapping(address household => Member) private _members;
    mapping(address household => mapping(uint256 j => MeterSlots)) private _meterSlots;
    mapping(bytes32 meterId => MeterOwner) private _meterOwners;

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
        Member storage member = _members[household];
        // Once ever: a re-admission would make an old removal look like a gap in one record.
        if (member.admittedAt != 0) {
            revert CommunityAlreadyAdmitted(household, member.admittedAt);
        }
        uint64 now_ = _now();
        member.admittedAt = uint48(now_);
        emit HouseholdAdmitted(household, now_);
    }

    /// @inheritdoc IQuartierCommunity
    /// @dev Revokes the household's active meters first, each with its MeterRevoked event, so
    /// every meter's own record shows when it stopped counting.
    function removeHousehold(address household) external onlyManager {
        Member storage member = _members[household];
        if (member.admittedAt == 0 || member.removedAt != 0) {
            revert CommunityNotMember(household);
        }
        uint64 now_ = _now();
        uint256 count = member.meterCount;
        for (uint256 j = 0; j < count; ++j) {
            (, uint64 revokedAt) = _timesOf(household, j);
            if (revokedAt == 0) {
                _setRevokedAt(household, j, now_);
                emit MeterRevoked(_meterIdAt(household, j), household, now_);
            }
        }
        member.removedAt = uint48(now_);
        emit HouseholdRemoved(household, now_);
    }

    /// @inheritdoc IQuartierCommunity
    function admitMeter(address household, uint256 publicKeyX, uint256 publicKeyY)
        external
        onlyManager
        returns (bytes32 meterId)
    {
        Member storage member = _members[household];
        if (member.admittedAt == 0 || member.removedAt != 0) {
            revert CommunityNotMember(household);
        }
        // P256VERIFY rejects off-curve keys anyway; checking here keeps an unusable meter out
        // of metersOf, where settlement would have to carry it for ever.
        if (!P256.isValidPublicKey(bytes32(publicKeyX), bytes32(publicKeyY))) {
            revert CommunityInvalidMeterKey(publicKeyX, publicKeyY);
        }
        meterId = meterIdOf(publicKeyX, publicKeyY);
        // A key is admitted once ever: re-admitting a revoked key would revive its signatures.
        if (_meterOwners[meterId].household != address(0)) revert CommunityMeterExists(meterId);
        uint256 j = member.meterCount;
        if (j >= MAX_METERS_PER_HOUSEHOLD) revert CommunityTooManyMeters(household, j);
        uint64 now_ = _now();
        MeterSlots storage slots = _meterSlots[household][j];
        slots.publicKeyX = publicKeyX;
        slots.publicKeyY = publicKeyY;
        if (j == 0) member.firstMeterAdmittedAt = uint48(now_);
        else slots.admittedAt = uint48(now_);
        member.meterCount = uint8(j + 1);
        _meterOwners[meterId] = MeterOwner(household, uint8(j + 1));
        emit MeterAdmitted(meterId, household, publicKeyX, publicKeyY, now_);
    }

    /// @inheritdoc IQuartierCommunity
    function revokeMeter(bytes32 meterId) external onlyManager {
        MeterOwner memory owner = _meterOwners[meterId];
        if (owner.household == address(0)) revert CommunityUnknownMeter(meterId);
        (, uint64 revokedAt) = _timesOf(owner.household, owner.index - 1);
        if (revokedAt != 0) revert CommunityMeterAlreadyRevoked(meterId, revokedAt);
        uint64 now_ = _now();
        _setRevokedAt(owner.household, owner.index - 1, now_);
        emit MeterRevoked(meterId, owner.household, now_);
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
        Member storage member = _members[household];
        return Membership(member.admittedAt, member.removedAt);
    }

    function meter(bytes32 meterId) external view returns (MeterInfo memory info) {
        MeterOwner memory owner = _meterOwners[meterId];
        if (owner.household == address(0)) return info;
        MeterSlots storage slots = _meterSlots[owner.household][owner.index - 1];
        (uint64 admittedAt, uint64 revokedAt) = _timesOf(owner.household, owner.index - 1);
        return MeterInfo(owner.household, admittedAt, revokedAt, slots.publicKeyX, slots.publicKeyY);
    }

    function metersOf(address household) external view returns (bytes32[] memory meterIds) {
        meterIds = new bytes32[](_members[household].meterCount);
        for (uint256 j = 0; j < meterIds.length; ++j) {
            meterIds[j] = _meterIdAt(household, j);
        }
    }

    /// @inheritdoc IQuartierCommunity
    function settlementFacts(address household)
        external
        view
        returns (Membership memory membership_, MeterFacts[] memory meters)
    {
        Member memory member = _members[household];
        membership_ = Membership(member.admittedAt, member.removedAt);
        meters = new MeterFacts[](member.meterCount);
        for (uint256 j = 0; j < meters.length; ++j) {
            MeterSlots storage slots = _meterSlots[household][j];
            MeterFacts memory facts = meters[j];
            facts.publicKeyX = slots.publicKeyX;
            facts.publicKeyY = slots.publicKeyY;
            if (j == 0) {
                facts.admittedAt = member.firstMeterAdmittedAt;
                facts.revokedAt = member.firstMeterRevokedAt;
            } else {
                facts.admittedAt = slots.admittedAt;
                facts.revokedAt = slots.revokedAt;
            }
        }
    }

    function meterIdOf(uint256 publicKeyX, uint256 publicKeyY) public pure returns (bytes32) {
        // keccak256(x || y), the id v1's registry and metering.reading.meter_id_of derive.
        return keccak256(abi.encode(publicKeyX, publicKeyY));
    }

    // ---------------------------------------------------------------- internal

    function _meterIdAt(address household, uint256 j) private view returns (bytes32) {
        MeterSlots storage slots = _meterSlots[household][j];
        return meterIdOf(slots.publicKeyX, slots.publicKeyY);
    }

    function _timesOf(address household, uint256 j)
        private
        view
        returns (uint64 admittedAt, uint64 revokedAt)
    {
        if (j == 0) {
            Member storage member = _members[household];
            return (member.firstMeterAdmittedAt, member.firstMeterRevokedAt);
        }
        MeterSlots storage slots = _meterSlots[household][j];
        return (slots.admittedAt, slots.revokedAt);
    }

    function _setRevokedAt(address household, uint256 j, uint64 revokedAt) private {
        if (j == 0) _members[household].firstMeterRevokedAt = uint48(revokedAt);
        else _meterSlots[household][j].revokedAt = uint48(revokedAt);
    }

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
