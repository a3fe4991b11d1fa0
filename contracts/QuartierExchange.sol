// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IQuartierCommunity} from "./interfaces/IQuartierCommunity.sol";
import {IQuartierExchange} from "./interfaces/IQuartierExchange.sol";
import {HouseholdBook} from "./types/HouseholdBook.sol";
import {Rules} from "./types/Rules.sol";
import {Clearing} from "./libraries/Clearing.sol";
import {MeterCodec} from "./libraries/MeterCodec.sol";
import {Netting} from "./libraries/Netting.sol";
import {ScheduleCodec} from "./libraries/ScheduleCodec.sol";

/// @title QuartierExchange
/// @notice Protocol v2 market of one community (the rule: IQuartierExchange). This contract
/// holds the state (escrow, schedule commitments, meter chains) and the checks that need it;
/// the book, clearing and netting are pure libraries over memory.
contract QuartierExchange is IQuartierExchange, EIP712 {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Postings per (household, period): bounds what settlement must re-supply.
    uint32 public constant MAX_POSTINGS_PER_PERIOD = 24;
    /// @notice Households posting per period: keeps PeriodCleared's uint32 volumes exact.
    uint32 public constant MAX_HOUSEHOLDS_PER_PERIOD = 255;
    /// @dev What a deposit writes into a free reusable record slot (`_prepare`): non-zero,
    /// read by nothing (a free slot is never read as a record).
    uint256 private constant PREPARED_RECORD = 1;
    /// @dev floor(n / 2) of P-256 (OpenZeppelin P256's HALF_N): the largest s accepted.
    uint256 private constant P256_HALF_N = P256.N / 2;

    /// @dev Balances fit 96 bits (7.9e28 units). The tags name, per period parity, which
    /// period holds the household's reusable record slot (period id + 1; 0: free).
    struct Escrow {
        uint96 freeUnits;
        uint96 lockedUnits;
        uint32 evenPeriodTag;
        uint32 oddPeriodTag;
    }

    /// @dev Per (household, period), one slot: the commitment to its postings (the hash
    /// chain's head, 192 bits: ScheduleCodec.chain) with the last version and the count. The
    /// postings' locks are not stored: settlement recomputes them from the postings.
    struct ScheduleRecord {
        bytes24 head;
        uint32 lastVersion;
        uint32 postings;
    }

    struct PeriodState {
        uint32 households;
        bool settled;
    }

    /// @dev `prepared` is 1 once a deposit wrote the slot ahead of the meter's first batch
    /// (see `_prepare`); it means nothing else, and the first batch clears it.
    struct MeterChain {
        uint64 nextPeriodId;
        uint64 endImportWh;
        uint64 endExportWh;
        uint64 prepared;
    }

    /// @dev A meter batch's signed scalars (keeps the verifying functions' stacks small).
    struct BatchKey {
        bytes32 meterId;
        uint64 periodId;
        uint64 startImportWh;
        uint64 startExportWh;
    }

    IQuartierCommunity private immutable _community;
    IERC20 private immutable _token;
    /// Fixed at the community's deployment (IQuartierCommunity, "Time"), so read once.
    uint256 private immutable _intervalSeconds;
    uint256 private immutable _periodIntervals;

    mapping(address household => Escrow) private _escrow;
    /// @dev A record lives in the household's reusable slot of its period's parity while the
    /// escrow's tag names the period, else in the per-period slot (see `_recordOf`).
    mapping(address household => mapping(uint256 parity => ScheduleRecord)) private
        _reusableRecords;
    mapping(address household => mapping(uint64 periodId => ScheduleRecord)) private _records;
    mapping(uint64 periodId => PeriodState) private _periods;
    mapping(bytes32 meterId => MeterChain) private _meterChains;
    mapping(bytes32 meterId => mapping(uint64 periodId => bytes32)) private _postedBatches;

    constructor(address community_, address token_) EIP712("Quartier", "2") {
        _community = IQuartierCommunity(community_);
        _token = IERC20(token_);
        _intervalSeconds = IQuartierCommunity(community_).intervalSeconds();
        _periodIntervals = IQuartierCommunity(community_).periodIntervals();
    }

    // ------------------------------------------------------------------ escrow

    /// @inheritdoc IQuartierExchange
    function deposit(uint256 amountUnits) external {
        if (amountUnits == 0) revert ExchangeZeroAmount();
        _token.safeTransferFrom(msg.sender, address(this), amountUnits);
        _escrow[msg.sender].freeUnits += amountUnits.toUint96();
        _prepare(msg.sender);
        emit Deposited(msg.sender, amountUnits);
    }

    /// @dev Onboarding pays, once, for the storage every trading day rewrites: the
    /// household's two reusable record slots and the chain slot of each of its meters are
    /// written non-zero (a value nothing reads: a record slot counts only while its tag names
    /// a period, a chain slot's `prepared` flag is ignored), so that a day's postings and
    /// settlement rewrite non-zero slots (2,900 gas) instead of filling zero ones (20,000),
    /// the community's first day included. Slots already written are left alone.
    function _prepare(address household) private {
        for (uint256 parity; parity < 2; ++parity) {
            ScheduleRecord storage slot = _reusableRecords[household][parity];
            bool empty;
            assembly ("memory-safe") {
                empty := iszero(sload(slot.slot))
            }
            if (empty) _setRecord(slot, bytes24(0), 0, 0, PREPARED_RECORD);
        }
        bytes32[] memory meterIds = _community.metersOf(household);
        for (uint256 j; j < meterIds.length; ++j) {
            MeterChain storage chain = _meterChains[meterIds[j]];
            if (chain.nextPeriodId == 0 && chain.prepared == 0) chain.prepared = 1;
        }
    }

    /// @inheritdoc IQuartierExchange
    function withdraw(uint256 amountUnits) external {
        if (amountUnits == 0) revert ExchangeZeroAmount();
        Escrow storage escrow = _escrow[msg.sender];
        uint256 freeUnits = escrow.freeUnits;
        if (freeUnits < amountUnits) {
            revert ExchangeInsufficientFree(msg.sender, freeUnits, amountUnits);
        }
        escrow.freeUnits = uint96(freeUnits - amountUnits);
        _token.safeTransfer(msg.sender, amountUnits);
        emit Withdrawn(msg.sender, amountUnits);
    }

    // ---------------------------------------------------------------- schedules

    /// @inheritdoc IQuartierExchange
    function postSchedules(SignedSchedule[] calldata schedules) external {
        uint64 lastOpenPeriodId = _currentPeriod() + 1;
        uint64 rulesPeriodId = type(uint64).max;
        Rules memory rules;
        for (uint256 i; i < schedules.length; ++i) {
            Schedule calldata schedule = schedules[i].schedule;
            if (schedule.periodId != rulesPeriodId) {
                rulesPeriodId = schedule.periodId;
                rules = _community.rulesAt(rulesPeriodId);
            }
            _post(i, schedule, schedules[i].signature, lastOpenPeriodId, rules);
        }
    }

    function _post(
        uint256 index,
        Schedule calldata schedule,
        bytes calldata signature,
        uint64 lastOpenPeriodId,
        Rules memory rules
    ) private {
        address household = schedule.household;
        IQuartierCommunity.Membership memory membership = _community.membership(household);
        if (membership.admittedAt == 0 || membership.removedAt != 0) {
            revert ExchangeNotMember(index, household);
        }
        bytes32 scheduleHash = ScheduleCodec.structHash(
            household,
            schedule.periodId,
            schedule.version,
            schedule.firstIntervalId,
            schedule.entries
        );
        (address signer, ECDSA.RecoverError recoverError,) =
            ECDSA.tryRecoverCalldata(_hashTypedDataV4(scheduleHash), signature);
        if (recoverError != ECDSA.RecoverError.NoError || signer != household) {
            revert ExchangeBadSignature(index, household, signer);
        }
        _checkTiming(index, schedule, lastOpenPeriodId, rules.gateLeadSeconds);
        (uint256 lockUnits, uint256 badIndex) =
            ScheduleCodec.lockOf(schedule.entries, rules.minEntryWh);
        if (badIndex != type(uint256).max) revert ExchangeBadEntries(index, badIndex);
        _record(index, schedule, scheduleHash, lockUnits);
        _lock(household, lockUnits);
    }

    /// @dev Moves a posting's lock from free to locked.
    function _lock(address household, uint256 lockUnits) private {
        Escrow storage escrow = _escrow[household];
        uint256 freeUnits = escrow.freeUnits;
        if (freeUnits < lockUnits) {
            revert ExchangeInsufficientFree(household, freeUnits, lockUnits);
        }
        // Cannot overflow: lockUnits <= freeUnits < 2^96 moves within one escrow.
        escrow.freeUnits = uint96(freeUnits - lockUnits);
        escrow.lockedUnits += uint96(lockUnits);
    }

    /// @dev Version and count checks, then the hash chain and the period's household count.
    function _record(
        uint256 index,
        Schedule calldata schedule,
        bytes32 scheduleHash,
        uint256 lockUnits
    ) private {
        address household = schedule.household;
        uint64 periodId = schedule.periodId;
        (ScheduleRecord storage slot, bool reused) = _recordOf(household, periodId);
        ScheduleRecord memory record = slot;
        if (schedule.version <= record.lastVersion) {
            revert ExchangeStaleVersion(index, schedule.version, record.lastVersion);
        }
        uint32 postings = record.postings;
        if (postings >= MAX_POSTINGS_PER_PERIOD) {
            revert ExchangeTooManyPostings(index, household, periodId);
        }
        if (postings == 0 && !reused) slot = _claimReusable(household, periodId, slot);
        _setRecord(
            slot, ScheduleCodec.chain(record.head, scheduleHash), schedule.version, postings + 1, 0
        );
        if (postings == 0) {
            PeriodState storage period = _periods[schedule.periodId];
            if (period.households >= MAX_HOUSEHOLDS_PER_PERIOD) {
                revert ExchangeTooManyHouseholds(index, schedule.periodId);
            }
            ++period.households;
        }
        emit SchedulePosted(
            schedule.periodId,
            schedule.household,
            schedule.version,
            schedule.firstIntervalId,
            scheduleHash,
            lockUnits,
            schedule.entries
        );
    }

    /// @dev Where (household, periodId)'s record lives: the reusable slot of the period's
    /// parity if the escrow's tag names the period, else the per-period slot.
    function _recordOf(address household, uint64 periodId)
        private
        view
        returns (ScheduleRecord storage record, bool reused)
    {
        Escrow storage escrow = _escrow[household];
        uint256 tag = periodId & 1 == 0 ? escrow.evenPeriodTag : escrow.oddPeriodTag;
        if (tag != 0 && tag == uint256(periodId) + 1) {
            return (_reusableRecords[household][periodId & 1], true);
        }
        return (_records[household][periodId], false);
    }

    /// @dev A household's first posting for a period takes the reusable slot of its parity
    /// when it is free (its last period is settled, or it never held one): writing a slot
    /// already written costs 2,900 gas instead of 20,000. An unsettled period's record is
    /// never overwritten: while its tag is set, the new period keeps the per-period slot.
    function _claimReusable(address household, uint64 periodId, ScheduleRecord storage perPeriod)
        private
        returns (ScheduleRecord storage slot)
    {
        if (periodId >= type(uint32).max) return perPeriod;
        Escrow storage escrow = _escrow[household];
        uint32 tag = uint32(periodId + 1);
        if (periodId & 1 == 0) {
            if (escrow.evenPeriodTag != 0) return perPeriod;
            escrow.evenPeriodTag = tag;
        } else {
            if (escrow.oddPeriodTag != 0) return perPeriod;
            escrow.oddPeriodTag = tag;
        }
        return _reusableRecords[household][periodId & 1];
    }

    /// @dev One SSTORE of the whole slot (field by field, the legacy code generator reads and
    /// writes it three times). Layout: head in the low 192 bits, then version, then count.
    function _setRecord(
        ScheduleRecord storage slot,
        bytes24 head,
        uint32 version,
        uint32 postings,
        uint256 marker
    ) private {
        uint256 packed = uint256(uint192(head)) | (uint256(version) << 192)
            | (uint256(postings) << 224) | marker;
        assembly ("memory-safe") {
            sstore(slot.slot, packed)
        }
    }

    /// @dev Horizon, interval range and gate of a posting.
    function _checkTiming(
        uint256 index,
        Schedule calldata schedule,
        uint64 lastOpenPeriodId,
        uint256 gateLeadSeconds
    ) private view {
        uint64 periodId = schedule.periodId;
        if (periodId > lastOpenPeriodId) {
            revert ExchangePeriodBeyondHorizon(index, periodId, lastOpenPeriodId);
        }
        uint256 firstK = uint256(periodId) * _periodIntervals;
        uint256 endK = firstK + _periodIntervals;
        uint256 first = schedule.firstIntervalId;
        if (first < firstK || first >= endK) {
            revert ExchangeIntervalOutsidePeriod(index, schedule.firstIntervalId, periodId);
        }
        uint256 entryCount = schedule.entries.length / ScheduleCodec.ENTRY_BYTES;
        if (first + entryCount > endK) {
            revert ExchangeIntervalOutsidePeriod(index, uint64(first + entryCount - 1), periodId);
        }
        uint256 startsAt = first * _intervalSeconds;
        if (block.timestamp + gateLeadSeconds >= startsAt) {
            uint256 gateClosedAt = startsAt > gateLeadSeconds ? startsAt - gateLeadSeconds : 0;
            revert ExchangeGateClosed(index, schedule.firstIntervalId, gateClosedAt);
        }
    }

    // ------------------------------------------------------------ meter batches

    /// @inheritdoc IQuartierExchange
    function postMeterBatches(MeterBatch[] calldata batches) external {
        for (uint256 i; i < batches.length; ++i) {
            MeterBatch calldata batch = batches[i];
            uint256 endsAt = _periodStart(batch.periodId + 1);
            if (block.timestamp < endsAt) revert ExchangePeriodNotOver(batch.periodId, endsAt);
            IQuartierCommunity.MeterInfo memory info = _community.meter(batch.meterId);
            if (info.household == address(0)) revert ExchangeUnknownMeter(batch.meterId);
            bytes32 batchHash = _acceptBatch(
                BatchKey(batch.meterId, batch.periodId, batch.startImportWh, batch.startExportWh),
                info,
                batch.deltas,
                batch.signature
            );
            _postedBatches[batch.meterId][batch.periodId] = batchHash;
        }
    }

    /// @dev Verifies one batch and chains it; returns its struct hash.
    function _acceptBatch(
        BatchKey memory key,
        IQuartierCommunity.MeterInfo memory info,
        bytes calldata deltas,
        bytes calldata signature
    ) private returns (bytes32 batchHash) {
        uint256 expectedLength = _periodIntervals * MeterCodec.DELTA_BYTES;
        if (deltas.length != expectedLength) {
            revert ExchangeBadDeltas(key.meterId, deltas.length, expectedLength);
        }
        (uint256 fromIndex, uint256 toIndex) =
            _countingRange(info.admittedAt, info.revokedAt, key.periodId);
        if (fromIndex >= toIndex) revert ExchangeMeterOutsidePeriod(key.meterId, key.periodId);
        _checkChained(key, info.admittedAt);
        batchHash = MeterCodec.structHash(
            key.meterId, key.periodId, key.startImportWh, key.startExportWh, deltas
        );
        _verifyMeter(key.meterId, key.periodId, batchHash, signature, info);
        _extendChain(key, deltas);
    }

    /// @dev The meter's chain moves to the batch's end registers.
    function _extendChain(BatchKey memory key, bytes calldata deltas) private {
        (uint256 importWh, uint256 exportWh) = MeterCodec.totals(deltas);
        uint64 endImportWh = (key.startImportWh + importWh).toUint64();
        uint64 endExportWh = (key.startExportWh + exportWh).toUint64();
        // One SSTORE of the whole slot (a struct assignment writes it field by field);
        // layout: nextPeriodId, endImportWh, endExportWh, prepared (0) from the low bits.
        uint256 packed = uint256(key.periodId + 1) | (uint256(endImportWh) << 64)
            | (uint256(endExportWh) << 128);
        MeterChain storage chain = _meterChains[key.meterId];
        assembly ("memory-safe") {
            sstore(chain.slot, packed)
        }
        emit MeterBatchAccepted(key.meterId, key.periodId, endImportWh, endExportWh);
    }

    /// @dev A batch for P follows the meter's last accepted one (period Q, end registers E):
    /// P == Q + 1 starts at E, P > Q + 1 (a gap) at or above E; a first batch anywhere. Every
    /// period strictly between Q and P (first batch: from the meter's admission period on) is
    /// settled or has no posting, so no accepted batch ever shuts an open period's data out.
    function _checkChained(BatchKey memory key, uint64 admittedAt) private view {
        MeterChain memory chain = _meterChains[key.meterId];
        uint64 fromPeriodId = chain.nextPeriodId;
        if (fromPeriodId == 0) {
            fromPeriodId = uint64(admittedAt / (_intervalSeconds * _periodIntervals));
        } else {
            uint64 lastPeriodId = fromPeriodId - 1;
            if (key.periodId == lastPeriodId) {
                revert ExchangeBatchExists(key.meterId, key.periodId);
            }
            bool chained = key.periodId == fromPeriodId
                ? key.startImportWh == chain.endImportWh && key.startExportWh == chain.endExportWh
                : key.periodId > fromPeriodId && key.startImportWh >= chain.endImportWh
                    && key.startExportWh >= chain.endExportWh;
            if (!chained) revert ExchangeBatchNotChained(key.meterId, key.periodId, lastPeriodId);
        }
        // Each of these periods has ended (P has), so its posting count is final.
        for (uint64 p = fromPeriodId; p < key.periodId; ++p) {
            PeriodState memory state = _periods[p];
            if (state.households != 0 && !state.settled) {
                revert ExchangeEarlierPeriodOpen(key.meterId, p);
            }
        }
    }

    /// @dev The meter's P-256 signature (r || s, low s) of the batch's EIP-712 digest, by the
    /// P256VERIFY precompile (EIP-7951 / RIP-7212) alone. It checks 0 < r, s < n and the key
    /// on the curve; low s (s <= n/2, OpenZeppelin P256's malleability rule) is checked here.
    /// Only exactly 32 bytes equal to 1 count: without the precompile (before Osaka) a call
    /// to 0x100 succeeds empty, so a chain without it refuses every inline batch instead of
    /// falling back to a Solidity verifier (~200k gas and 5 KB of bytecode; DESIGN names
    /// P256VERIFY as a requirement of the chain).
    function _verifyMeter(
        bytes32 meterId,
        uint64 periodId,
        bytes32 batchHash,
        bytes calldata signature,
        IQuartierCommunity.MeterInfo memory info
    ) private view {
        bool valid;
        if (signature.length == 64) {
            bytes32 digest = _hashTypedDataV4(batchHash);
            uint256 publicKeyX = info.publicKeyX;
            uint256 publicKeyY = info.publicKeyY;
            uint256 halfN = P256_HALF_N;
            assembly ("memory-safe") {
                let s := calldataload(add(signature.offset, 32))
                if iszero(gt(s, halfN)) {
                    let input := mload(0x40)
                    mstore(input, digest)
                    calldatacopy(add(input, 0x20), signature.offset, 0x40)
                    mstore(add(input, 0x60), publicKeyX)
                    mstore(add(input, 0x80), publicKeyY)
                    let ok := staticcall(gas(), 0x100, input, 0xa0, 0, 0x20)
                    valid := and(ok, and(eq(returndatasize(), 0x20), eq(mload(0), 1)))
                }
            }
        }
        if (!valid) revert ExchangeBadMeterSignature(meterId, periodId);
    }

    // --------------------------------------------------------------- settlement

    /// @inheritdoc IQuartierExchange
    function settlePeriod(
        uint64 periodId,
        HouseholdPeriod[] calldata households,
        bytes calldata hints
    ) external {
        uint256 endsAt = _periodStart(periodId + 1);
        if (block.timestamp < endsAt) revert ExchangePeriodNotOver(periodId, endsAt);
        PeriodState storage period = _periods[periodId];
        if (period.settled) revert ExchangeAlreadySettled(periodId);
        if (households.length != period.households) {
            revert ExchangeHouseholdsIncomplete(periodId, households.length, period.households);
        }
        period.settled = true;
        Rules memory rules = _community.rulesAt(periodId);
        (HouseholdBook[] memory books, uint256[] memory releasedUnits) =
            _loadHouseholds(periodId, households, endsAt + rules.settlementDeadlineSeconds);
        (Netting.Totals memory totals, uint256 deliveredWh) =
            _clearAndNet(periodId, books, rules, hints);
        uint256 roundingUnits = _pay(periodId, households, releasedUnits, totals);
        emit PeriodSettled(periodId, households.length, deliveredWh, roundingUnits);
    }

    /// @dev Checks every household's postings and meter data; builds their books.
    function _loadHouseholds(
        uint64 periodId,
        HouseholdPeriod[] calldata households,
        uint256 deadline
    ) private returns (HouseholdBook[] memory books, uint256[] memory releasedUnits) {
        uint256 count = households.length;
        if (count > type(uint16).max) {
            revert ExchangeHouseholdsIncomplete(periodId, count, type(uint16).max);
        }
        books = new HouseholdBook[](count);
        releasedUnits = new uint256[](count);
        address previous;
        for (uint256 h; h < count; ++h) {
            HouseholdPeriod calldata entry = households[h];
            if (entry.household <= previous) revert ExchangeHouseholdsNotSorted(h);
            previous = entry.household;
            // One registry call per household: membership, meter keys and times.
            (
                IQuartierCommunity.Membership memory membership,
                IQuartierCommunity.MeterFacts[] memory meters
            ) = _community.settlementFacts(entry.household);
            (books[h].entries, releasedUnits[h]) = _loadBook(periodId, entry, membership);
            books[h].meters = _loadMeters(periodId, entry.household, entry.meters, meters, deadline);
        }
    }

    /// @dev The household's postings, checked against its hash chain, applied in order.
    function _loadBook(
        uint64 periodId,
        HouseholdPeriod calldata entry,
        IQuartierCommunity.Membership memory membership
    ) private view returns (bytes memory book, uint256 releasedUnits) {
        address household = entry.household;
        Posting[] calldata postings = entry.postings;
        bytes24 head;
        (head, releasedUnits) = _chainOf(household, periodId, postings);
        (ScheduleRecord storage slot,) = _recordOf(household, periodId);
        ScheduleRecord memory record = slot;
        if (head != record.head || postings.length != record.postings || postings.length == 0) {
            revert ExchangePostingsMismatch(household, record.head, head);
        }
        uint256 firstK = uint256(periodId) * _periodIntervals;
        book = new bytes(_periodIntervals * ScheduleCodec.ENTRY_BYTES);
        for (uint256 j; j < postings.length; ++j) {
            ScheduleCodec.applyPosting(
                book, postings[j].firstIntervalId - firstK, postings[j].entries
            );
        }
        _keepMembership(book, membership, periodId);
    }

    /// @dev The hash chain of `postings` as posted by `household` for `periodId`, and the
    /// sum of their locks (what settlement releases).
    function _chainOf(address household, uint64 periodId, Posting[] calldata postings)
        private
        pure
        returns (bytes24 head, uint256 lockedUnits)
    {
        for (uint256 j; j < postings.length; ++j) {
            Posting calldata posting = postings[j];
            bytes32 scheduleHash = ScheduleCodec.structHash(
                household, periodId, posting.version, posting.firstIntervalId, posting.entries
            );
            head = ScheduleCodec.chain(head, scheduleHash);
            lockedUnits += ScheduleCodec.lockOfValid(posting.entries);
        }
    }

    /// @dev Entries count only while the household's membership counts.
    function _keepMembership(
        bytes memory book,
        IQuartierCommunity.Membership memory membership,
        uint64 periodId
    ) private view {
        (uint256 fromIndex, uint256 toIndex) =
            _countingRange(membership.admittedAt, membership.removedAt, periodId);
        if (fromIndex != 0 || toIndex != _periodIntervals) {
            ScheduleCodec.keepOnly(book, fromIndex, toIndex);
        }
    }

    /// @dev One MeterData per registered meter: posted batches must be used, inline ones are
    /// verified and chained, missing ones are allowed only from the deadline on.
    function _loadMeters(
        uint64 periodId,
        address household,
        MeterData[] calldata data,
        IQuartierCommunity.MeterFacts[] memory meters,
        uint256 deadline
    ) private returns (uint256[] memory refs) {
        if (meters.length != data.length) {
            revert ExchangeMetersMismatch(household, data.length, meters.length);
        }
        refs = new uint256[](data.length);
        uint256 used;
        for (uint256 j; j < data.length; ++j) {
            IQuartierCommunity.MeterFacts memory facts = meters[j];
            IQuartierCommunity.MeterInfo memory info = IQuartierCommunity.MeterInfo(
                household, facts.admittedAt, facts.revokedAt, facts.publicKeyX, facts.publicKeyY
            );
            uint256 ref = _loadMeter(periodId, info, data[j], deadline);
            if (ref != 0) refs[used++] = ref;
        }
        assembly ("memory-safe") {
            mstore(refs, used)
        }
    }

    /// @dev One meter's data; returns its MeterCodec ref, 0 if it has none or counts for no
    /// interval of the period.
    function _loadMeter(
        uint64 periodId,
        IQuartierCommunity.MeterInfo memory info,
        MeterData calldata item,
        uint256 deadline
    ) private returns (uint256 ref) {
        bytes32 meterId = _meterIdOf(info.publicKeyX, info.publicKeyY);
        // A posted batch for P moved the meter's chain past P (chains only move forward), so
        // the (usually empty, cold) posted-batch slot is read only then.
        bytes32 posted;
        if (_meterChains[meterId].nextPeriodId > periodId) {
            posted = _postedBatches[meterId][periodId];
        }
        if (posted != 0) {
            if (
                item.source != MeterSource.Posted
                    || MeterCodec.structHash(
                            meterId, periodId, item.startImportWh, item.startExportWh, item.deltas
                        ) != posted
            ) revert ExchangePostedBatchMismatch(meterId, periodId);
        } else if (item.source == MeterSource.Posted) {
            revert ExchangePostedBatchMismatch(meterId, periodId);
        } else if (item.source == MeterSource.Inline) {
            _acceptBatch(
                BatchKey(meterId, periodId, item.startImportWh, item.startExportWh),
                info,
                item.deltas,
                item.signature
            );
        }
        (uint256 fromIndex, uint256 toIndex) =
            _countingRange(info.admittedAt, info.revokedAt, periodId);
        if (item.source == MeterSource.None) {
            if (
                item.deltas.length != 0 || item.signature.length != 0 || item.startImportWh != 0
                    || item.startExportWh != 0
            ) revert ExchangeBadDeltas(meterId, item.deltas.length, 0);
            if (fromIndex < toIndex && block.timestamp < deadline) {
                revert ExchangeMeterDataMissing(meterId, periodId, deadline);
            }
            return 0;
        }
        if (fromIndex < toIndex) ref = MeterCodec.packRef(item.deltas, fromIndex, toIndex);
    }

    /// @dev Every interval: clearing (its claim checked), netting, money; emits PeriodCleared.
    function _clearAndNet(
        uint64 periodId,
        HouseholdBook[] memory books,
        Rules memory rules,
        bytes calldata hints
    ) private returns (Netting.Totals memory totals, uint256 deliveredWh) {
        uint256 count = books.length;
        totals = Netting.Totals(new int256[](count), new uint256[](count), new uint256[](count));
        uint256 intervalCount = _periodIntervals;
        // 16 bytes more than the event needs: each interval is written as a 32-byte word.
        bytes memory intervals = new bytes(16 * intervalCount + 16);
        deliveredWh = Clearing.clearPeriod(
            Clearing.work(books, rules, uint256(periodId) * intervalCount, totals),
            hints,
            intervalCount,
            intervals
        );
        assembly ("memory-safe") {
            mstore(intervals, mul(intervalCount, 16))
        }
        emit PeriodCleared(periodId, intervals);
    }

    /// @dev One balance change per household; the rounding goes to the settler.
    function _pay(
        uint64 periodId,
        HouseholdPeriod[] calldata households,
        uint256[] memory releasedUnits,
        Netting.Totals memory totals
    ) private returns (uint256 roundingUnits) {
        int256 changeSum;
        for (uint256 h; h < households.length; ++h) {
            int256 net = totals.moneyMilli[h];
            // floor(net / 1000) towards minus infinity: payers round up.
            int256 change = net >= 0 ? net / 1000 : -((999 - net) / 1000);
            changeSum += change;
            address household = households[h].household;
            uint256 released = releasedUnits[h];
            _settleEscrow(_escrow[household], periodId, released, change);
            emit HouseholdSettled(
                periodId,
                household,
                uint64(totals.deliveredWh[h]),
                uint64(totals.receivedWh[h]),
                change,
                released
            );
        }
        // Σ net = 0, so -Σ floor(net / 1000) is in [0, households).
        roundingUnits = uint256(-changeSum);
        if (roundingUnits != 0) _escrow[msg.sender].freeUnits += uint96(roundingUnits);
    }

    /// @dev free += released + change, locked -= released, and the period's reusable record
    /// slot freed: a settled period's record is no longer needed (settlement is final and the
    /// SchedulePosted events hold the postings). One SSTORE of the escrow slot (field by
    /// field, the legacy code generator reads and writes it three times). Layout (Escrow):
    /// freeUnits, lockedUnits, evenPeriodTag, oddPeriodTag from the low bits.
    function _settleEscrow(Escrow storage escrow, uint64 periodId, uint256 released, int256 change)
        private
    {
        uint256 word;
        assembly ("memory-safe") {
            word := sload(escrow.slot)
        }
        uint256 mask96 = type(uint96).max;
        // A charge never exceeds the released lock (IQuartierExchange), so this is >= 0.
        uint256 freeUnits = uint256(int256((word & mask96) + released) + change).toUint96();
        uint256 lockedUnits = ((word >> 96) & mask96) - released;
        uint256 evenTag = (word >> 192) & type(uint32).max;
        uint256 oddTag = word >> 224;
        if (periodId < type(uint32).max) {
            uint256 tag = uint256(periodId) + 1;
            if (periodId & 1 == 0) {
                if (evenTag == tag) evenTag = 0;
            } else if (oddTag == tag) {
                oddTag = 0;
            }
        }
        word = freeUnits | (lockedUnits << 96) | (evenTag << 192) | (oddTag << 224);
        assembly ("memory-safe") {
            sstore(escrow.slot, word)
        }
    }

    /// @dev IQuartierCommunity.meterIdOf: keccak256(x || y).
    function _meterIdOf(uint256 publicKeyX, uint256 publicKeyY)
        private
        pure
        returns (bytes32 meterId)
    {
        assembly ("memory-safe") {
            mstore(0, publicKeyX)
            mstore(0x20, publicKeyY)
            meterId := keccak256(0, 0x40)
        }
    }

    // ---------------------------------------------------------------- time

    function _currentPeriod() private view returns (uint64) {
        return uint64(block.timestamp / (_intervalSeconds * _periodIntervals));
    }

    function _periodStart(uint64 periodId) private view returns (uint256) {
        return uint256(periodId) * _periodIntervals * _intervalSeconds;
    }

    /// @dev Indices [fromIndex, toIndex) of period `periodId`'s intervals for which something
    /// valid from `fromTime` to `untilTime` (0: still valid) counts: start(k) >= fromTime and
    /// end(k) <= untilTime. Empty (fromIndex >= toIndex) for a never-admitted one.
    function _countingRange(uint64 fromTime, uint64 untilTime, uint64 periodId)
        private
        view
        returns (uint256 fromIndex, uint256 toIndex)
    {
        if (fromTime == 0) return (0, 0);
        uint256 firstK = uint256(periodId) * _periodIntervals;
        uint256 fromK = (uint256(fromTime) + _intervalSeconds - 1) / _intervalSeconds;
        fromIndex = fromK > firstK ? fromK - firstK : 0;
        toIndex = _periodIntervals;
        if (untilTime != 0) {
            uint256 untilK = uint256(untilTime) / _intervalSeconds;
            uint256 until = untilK > firstK ? untilK - firstK : 0;
            if (until < toIndex) toIndex = until;
        }
        if (fromIndex > toIndex) fromIndex = toIndex;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IQuartierExchange
    function community() external view returns (address) {
        return address(_community);
    }

    /// @inheritdoc IQuartierExchange
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IQuartierExchange
    function escrowOf(address household)
        external
        view
        returns (uint256 freeUnits, uint256 lockedUnits)
    {
        Escrow storage escrow = _escrow[household];
        return (escrow.freeUnits, escrow.lockedUnits);
    }

    /// @inheritdoc IQuartierExchange
    function scheduleRecord(address household, uint64 periodId)
        external
        view
        returns (bytes32 head, uint32 lastVersion, uint32 postings)
    {
        (ScheduleRecord storage slot,) = _recordOf(household, periodId);
        return (slot.head, slot.lastVersion, slot.postings);
    }

    /// @inheritdoc IQuartierExchange
    function postingHouseholds(uint64 periodId) external view returns (uint256) {
        return _periods[periodId].households;
    }

    /// @inheritdoc IQuartierExchange
    function isSettled(uint64 periodId) external view returns (bool) {
        return _periods[periodId].settled;
    }

    /// @inheritdoc IQuartierExchange
    function meterChain(bytes32 meterId)
        external
        view
        returns (uint64 nextPeriodId, uint64 endImportWh, uint64 endExportWh)
    {
        MeterChain storage chain = _meterChains[meterId];
        return (chain.nextPeriodId, chain.endImportWh, chain.endExportWh);
    }

    /// @inheritdoc IQuartierExchange
    function postedBatchHash(bytes32 meterId, uint64 periodId) external view returns (bytes32) {
        return _postedBatches[meterId][periodId];
    }

    /// @inheritdoc IQuartierExchange
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IQuartierExchange
    function scheduleDigest(Schedule calldata schedule) external view returns (bytes32) {
        return _hashTypedDataV4(
            ScheduleCodec.structHash(
                schedule.household,
                schedule.periodId,
                schedule.version,
                schedule.firstIntervalId,
                schedule.entries
            )
        );
    }

    /// @inheritdoc IQuartierExchange
    function meterBatchDigest(
        bytes32 meterId,
        uint64 periodId,
        uint64 startImportWh,
        uint64 startExportWh,
        bytes calldata deltas
    ) external view returns (bytes32) {
        return _hashTypedDataV4(
            MeterCodec.structHash(meterId, periodId, startImportWh, startExportWh, deltas)
        );
    }
}
