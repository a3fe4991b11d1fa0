// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IQuartierExchange
/// @notice Protocol v2 market of one community: escrow, the schedule book, meters' period
/// batches and per-period settlement. This text is THE rule; `api/settlement` (Python) is the
/// same rule and is property-tested against this contract for identical results.
///
/// ## Schedules (the book)
/// EIP-712 domain ("Quartier", "2", chainId, this contract). A household signs
///   Schedule(address household,uint64 periodId,uint32 version,uint64 firstIntervalId,bytes entries)
/// with its secp256k1 key (65-byte r||s||v, v in {27, 28}, s <= n/2: OpenZeppelin ECDSA).
/// `entries` holds 8 bytes per interval from `firstIntervalId` on: byte 0 the side
/// (0 none, 1 sell, 2 buy), bytes 1-3 `energyWh` (uint24, big-endian), bytes 4-7
/// `pricePerKwh` (uint32, big-endian; the seller's lowest ask or the buyer's highest bid).
/// A none entry is all zeros; a sell/buy entry has energyWh >= rules.minEntryWh. Intervals
/// past the end of `entries` (and up to the period's end) have no entry. `entries` is a
/// multiple of 8 bytes long (it may be empty: no entry from firstIntervalId on), and
/// firstIntervalId, like all of [firstIntervalId, firstIntervalId + entries/8), lies in
/// period `periodId`.
///
/// Posting (by anyone holding the signed schedule: the relayer, or the household itself) is
/// accepted iff the household is a member now, periodId <= currentPeriod + 1, now <
/// gate(firstIntervalId) = start(firstIntervalId) - gateLeadSeconds, `version` is greater than
/// every earlier posted version of (household, periodId), fewer than MAX_POSTINGS_PER_PERIOD
/// (24) postings of (household, periodId) exist, the household already posted for periodId
/// or fewer than MAX_HOUSEHOLDS_PER_PERIOD (255) households did, and the household's free
/// escrow covers the posting's lock: ceil(Σ over its buy entries energyWh * pricePerKwh /
/// 1000) units. The lock moves from free to locked and is released at the period's
/// settlement. A posting
/// replaces, for every interval k >= firstIntervalId, the entries of earlier postings: the
/// entry of (household, k) is that of the last posting with firstIntervalId <= k. As every
/// posting's first gate is still open, the book of interval k is fixed when its gate closes.
/// The contract stores per (household, period), in one slot, the hash chain's head
///   head' = bytes24(keccak256(abi.encode(bytes32(head), scheduleStructHash))), from head = 0
/// (the high 192 bits; `scheduleRecord` returns it as bytes32 with the low 8 bytes zero),
/// the last version and the posting count, and per period the number of households posting.
/// Slot reuse (storage only, no change to what is accepted): each household has one
/// reusable record slot per period parity (P mod 2), named by a tag (P + 1; 0: free) kept
/// in its escrow slot. A household's first posting for P takes the slot of P's parity iff
/// its tag is 0 and P < 2^32 - 1, else P's record has a slot of its own; the settlement of P
/// frees the tag of each of its households. So the slot of an unsettled period is never
/// overwritten, and a settled period's record, no longer needed (settlement is final;
/// SchedulePosted holds every posting), is overwritten by a later period's (20,000 gas for a
/// fresh slot, 2,900 for a reused one). Once P is settled `scheduleRecord(household, P)` may
/// read (0, 0, 0). Onboarding (storage only, no change to what is accepted): a deposit
/// writes, once, a non-zero value nobody reads into each still-empty reusable record slot of
/// the depositor and into the chain slot (see "Meter batches") of each of its meters in
/// `metersOf` that has no batch yet, so that trading days, the first included, rewrite
/// non-zero slots: that storage is paid at onboarding, not by a trading day (a meter
/// admitted after the household's last deposit fills its slot at its first batch instead).
/// Escrow balances are uint96 (a deposit taking free escrow past 2^96 - 1
/// units reverts, SafeCast).
///
/// ## Meter batches
/// A meter signs, with its P-256 key (r, s with s <= n/2: OpenZeppelin P256), the digest of
///   MeterPeriod(bytes32 meterId,uint64 periodId,uint64 startImportWh,uint64 startExportWh,bytes deltas)
/// in the same domain: its cumulative registers at start(P) and `deltas`, 8 bytes per
/// interval of the period (uint32 importWh, uint32 exportWh, big-endian), exactly
/// periodIntervals * 8 bytes. The registers at every boundary of the period follow. A batch
/// for period P chains from the meter's last accepted batch (period Q, end registers E):
/// P > Q, and start == E if P == Q + 1, start >= E (both registers) if P > Q + 1 (a gap).
/// A meter's first batch may start anywhere. A batch for P is accepted only if every period
/// strictly between Q and P (for a meter's first batch: every period from the one holding
/// the meter's `admittedAt` up to P, excluded) is settled or has no posting; those periods
/// have ended, so this is final. Hence no batch of a later period can shut the meter's
/// batch of a still-open period out of its chain (a household could otherwise erase its own
/// purchases: its meter would measure 0 Wh there past the deadline); periods settle in
/// order for each meter that has data in them. The check reads one slot per period skipped.
/// A batch enters the chain either inside the
/// settlement of P (the default: no transaction of its own) or by `postMeterBatches` (forced
/// inclusion by anyone, from end(P) on: the household, its meter agent, a relayer). Per
/// (meter, P) at most one batch is ever accepted; a posted batch must be the one used at
/// settlement.
///
/// ## Settlement of period P (anyone, once, from end(P) on)
/// The settler supplies every household that posted for P (count and strictly increasing
/// addresses prove completeness), each with all its postings in posting order (checked
/// against the hash chain) and one MeterData per entry of `metersOf(household)`. Before
/// end(P) + settlementDeadlineSeconds, every meter that counts for some interval of P must
/// have data (posted, or inline with its signature); from then on, a meter without data
/// measures 0 Wh. Household index h = position in the supplied list (H households).
///
/// For each interval k of P, with R = rulesAt(P):
/// 1. Book. entry(h, k) as above; it counts only if the household's membership counts for
///    k. Effective limit: ask' = max(ask, R.priceFloorPerKwh) for sells,
///    bid' = min(bid, R.priceCeilingPerKwh) for buys.
/// 2. Clearing, into traded energy t_h (Wh) per entry:
///    - PayAsClear / PayAsBid: priority is sells by (ask' ascending, rank ascending), buys
///      by (bid' descending, rank ascending), rank = (h + k) mod H with k the interval id:
///      ties rotate fairly across intervals. Walking both in priority order, matching while
///      ask' <= bid', fills sells and buys (the marginal entries partly): t_h. Q is the Wh
///      matched; the marginal ask a and bid b are those of the last Wh matched. PayAsClear
///      price p = (a + b) / 2 (rounded down; p = 0 if nothing is matched); PayAsBid: each
///      buyer's price is its bid'.
///      The settler does not walk for the contract: it claims, per interval, (a, b) or
///      "nothing matched" ("Hints"), and the contract checks the claim in one pass and fills
///      by price class. With S<(x), S<=(x) the sells' energy with ask' < x, <= x, and B>(y),
///      B>=(y) the buys' with bid' > y, >= y (counting entries only), a claim (a, b) is
///      accepted iff a <= b, Q := min(S<=(a), B>=(b)) > max(S<(a), B>(b)), and the (Q + 1)-th
///      Wh pair does not cross: Q is all of one side's energy, or ask'(Q + 1) > bid'(Q + 1),
///      where ask'(Q + 1) is a if Q < S<=(a), else the least ask' above a (bid'(Q + 1): b if
///      Q < B>=(b), else the greatest bid' below b). "Nothing matched" is accepted iff a side
///      has no entry or the least ask' > the greatest bid'. Why this is exactly the walk: the
///      walk's q-th sell Wh has a non-decreasing ask' s_q and its q-th buy Wh a
///      non-increasing bid' b_q (every entry has energyWh >= 1), so it matches exactly the Wh
///      q <= Q* with s_q <= b_q. The first two conditions say s_Q = a and b_Q = b with
///      a <= b, so Q <= Q*; the last says Wh Q + 1 does not match, so Q = Q* and (a, b) is
///      the walk's last pair: exactly one claim is accepted per interval. The fill: sells
///      with ask' < a and buys with bid' > b trade their energyWh; the tie group ask' = a gets
///      Q - S<(a) Wh and the tie group bid' = b gets Q - B>(b) Wh, each given in rank order
///      (h0, h0 + 1, ..., H - 1, 0, ..., h0 - 1 with (h0 + k) mod H = 0), each entry
///      min(energyWh, what is left); all others 0. This is the walk's outcome: it takes a
///      side's first Q Wh in priority order, which are all of the classes beyond the
///      marginal price, then the tie group's in rank order.
///    - CommunityPrice: t_h = energyWh for sells with ask' <= c and buys with bid' >= c,
///      c = R.communityPricePerKwh (no hints); price c.
/// 3. Netting against meters. m_h = Σ over the household's meters counting for k of the
///    interval's exportWh (sellers) or importWh (buyers). o_h = min(t_h, m_h).
///    S = Σ_sell o_h, B = Σ_buy o_h, D = min(S, B). (Money is pooled per interval, so who
///    was matched with whom in the walk does not matter once volumes are netted.) The short
///    side (S <= B: sellers) is delivered in full, d_h = o_h; the long side L
///    (Σ = max(S, B)) gets d_h = floor(o_h * D / L), and the D - Σ d_h Wh left over go 1 Wh
///    each to the first long-side households (by h) with o_h > 0 (L = 0: every d_h = 0).
///    So Σ_sell d_h = Σ_buy d_h = D exactly.
/// 4. Money, in milli-units (units * 1000, exact): PayAsClear and CommunityPrice: a seller
///    gains d_h * p, a buyer pays d_h * p. PayAsBid: a buyer pays d_h * bid'_h; the pot Q
///    (Σ of those) goes to sellers, floor(Q * d_h / D) each, the remainder to the first
///    seller (by h) with d_h > 0 (D = 0: no money moves).
///
/// Per household: net = Σ_k money (milli-units, Σ over households exactly 0);
/// change = floor(net / 1000) (towards minus infinity, so payers round up); free escrow +=
/// released lock (Σ of the locks of all its postings for P) + change. The rounding remainder
/// -Σ change (< 1 unit per household) is credited to the settler's free escrow.
/// Σ free + Σ locked == tokens held, always.
/// A buyer's charge never exceeds its lock: d_h <= t_h <= energyWh and price <= bid.
///
/// ## Refusals (which error, where the text above leaves it open)
/// - A posting is checked in this order: membership (ExchangeNotMember), signature
///   (ExchangeBadSignature; `signer` is address(0) when recovery fails: not 65 bytes, v not
///   27/28, s > n/2), horizon, interval range (the first interval outside the period),
///   gate, entries (ExchangeBadEntries: the first bad entry; a length not a multiple of 8
///   names entry entries.length / 8), version, posting count, household count
///   (ExchangeTooManyHouseholds), free escrow.
/// - A meter batch (posted, or inline in a settlement) for a meter that counts for no
///   interval of P: ExchangeMeterOutsidePeriod. MeterData None must have all fields empty
///   (else ExchangeBadDeltas(meterId, deltas.length, 0)); Posted without a posted batch, or
///   Inline/None when one was posted, or Posted with other fields: ExchangePostedBatchMismatch.
///   A batch for the meter's last accepted period: ExchangeBatchExists; any other unchained
///   one: ExchangeBatchNotChained; then, a chained one while an earlier period is open:
///   ExchangeEarlierPeriodOpen(meterId, the first such period). Registers past uint64 revert
///   (SafeCast).
/// - A supplied household with no posting for P: ExchangePostingsMismatch(household, 0, 0).
///   More than 65,535 households: ExchangeHouseholdsIncomplete (settlement packs a
///   household's index in 16 bits).
/// - Hints: ExchangeBadHint(k, position), position = the offset in `hints` where interval
///   k's claim starts, when its tag is neither 0 nor 1, a > b, or the claim is not accepted
///   (see step 2); (k, type(uint256).max) when `hints` ends inside (or before) k's claim; if
///   bytes are left after the last interval (any byte, under CommunityPrice),
///   ExchangeBadHint(first interval after P, type(uint256).max).
///
/// Known limits: the settlement of a large community (~60 households with daily periods)
/// passes a node's transaction-size limit; splitting it is not done yet. The token must be a
/// plain ERC-20. Postings are read from SchedulePosted alone (it carries the entries); the
/// audit still re-checks a posting's signature from posting calldata, so one posted through
/// another contract is audited without it, and meter batches are read from calldata
/// (posted or inline), so those calls must be direct to be audited. A period P + 1 whose
/// meters chain from an open P waits for P's settlement: anyone can settle P from its
/// deadline on (missing meters then measure 0 Wh), so a settler settles periods in order.
interface IQuartierExchange {
    /// @notice What is signed and posted: one household's plan for (part of) a period.
    struct Schedule {
        address household;
        uint64 periodId;
        uint32 version;
        uint64 firstIntervalId;
        bytes entries;
    }

    struct SignedSchedule {
        Schedule schedule;
        bytes signature;
    }

    /// @notice One meter's signed period; `signature` is r || s (64 bytes).
    struct MeterBatch {
        bytes32 meterId;
        uint64 periodId;
        uint64 startImportWh;
        uint64 startExportWh;
        bytes deltas;
        bytes signature;
    }

    /// @notice A posting as settlement re-supplies it (the signature was checked at posting).
    struct Posting {
        uint32 version;
        uint64 firstIntervalId;
        bytes entries;
    }

    /// @notice Where a meter's data for the period comes from.
    enum MeterSource {
        None,
        Posted,
        Inline
    }

    /// @notice Data of one meter of `metersOf(household)`. Posted: the fields of the posted
    /// batch (signature empty). Inline: a batch with its signature. None: all fields empty.
    struct MeterData {
        MeterSource source;
        uint64 startImportWh;
        uint64 startExportWh;
        bytes deltas;
        bytes signature;
    }

    struct HouseholdPeriod {
        address household;
        Posting[] postings;
        MeterData[] meters;
    }

    event Deposited(address indexed household, uint256 amountUnits);
    event Withdrawn(address indexed household, uint256 amountUnits);
    /// @notice `entries` is the posting's entries as signed: with the other fields they are
    /// the Posting that settlement re-supplies, so postings are read from events alone (a
    /// schedule posted through another contract stays readable: no period can be frozen).
    event SchedulePosted(
        uint64 indexed periodId,
        address indexed household,
        uint32 version,
        uint64 firstIntervalId,
        bytes32 scheduleHash,
        uint256 lockedUnits,
        bytes entries
    );
    event MeterBatchAccepted(
        bytes32 indexed meterId, uint64 indexed periodId, uint64 endImportWh, uint64 endExportWh
    );
    /// @notice `intervals` packs, per interval of the period, 16 bytes: uint64 pricePerKwh
    /// (PayAsClear: p, 0 if nothing is matched; CommunityPrice: c; PayAsBid: 0), uint32
    /// tradedWh (min(Σ_sell t_h, Σ_buy t_h)), uint32 deliveredWh (D). Both fit by
    /// construction: D <= tradedWh <= Σ energyWh of one side <= MAX_HOUSEHOLDS_PER_PERIOD
    /// * (2^24 - 1) = 4,278,189,825 < 2^32 (one entry per household and interval, uint24).
    event PeriodCleared(uint64 indexed periodId, bytes intervals);
    event HouseholdSettled(
        uint64 indexed periodId,
        address indexed household,
        uint64 deliveredWh,
        uint64 receivedWh,
        int256 changeUnits,
        uint256 releasedUnits
    );
    event PeriodSettled(
        uint64 indexed periodId, uint256 householdCount, uint256 deliveredWh, uint256 roundingUnits
    );

    error ExchangeZeroAmount();
    error ExchangeInsufficientFree(address household, uint256 freeUnits, uint256 neededUnits);
    // Postings (index = position in the batch).
    error ExchangeNotMember(uint256 index, address household);
    error ExchangeBadSignature(uint256 index, address household, address signer);
    error ExchangePeriodBeyondHorizon(uint256 index, uint64 periodId, uint64 lastOpenPeriodId);
    error ExchangeIntervalOutsidePeriod(uint256 index, uint64 intervalId, uint64 periodId);
    error ExchangeGateClosed(uint256 index, uint64 intervalId, uint256 gateClosedAt);
    error ExchangeStaleVersion(uint256 index, uint32 version, uint32 lastVersion);
    error ExchangeTooManyPostings(uint256 index, address household, uint64 periodId);
    error ExchangeTooManyHouseholds(uint256 index, uint64 periodId);
    error ExchangeBadEntries(uint256 index, uint256 entryIndex);
    // Meter batches.
    error ExchangeUnknownMeter(bytes32 meterId);
    error ExchangeBadMeterSignature(bytes32 meterId, uint64 periodId);
    error ExchangeBadDeltas(bytes32 meterId, uint256 length, uint256 expectedLength);
    error ExchangeBatchNotChained(bytes32 meterId, uint64 periodId, uint64 lastPeriodId);
    error ExchangeBatchExists(bytes32 meterId, uint64 periodId);
    error ExchangeMeterOutsidePeriod(bytes32 meterId, uint64 periodId);
    error ExchangeEarlierPeriodOpen(bytes32 meterId, uint64 openPeriodId);
    // Settlement.
    error ExchangePeriodNotOver(uint64 periodId, uint256 endsAt);
    error ExchangeAlreadySettled(uint64 periodId);
    error ExchangeHouseholdsIncomplete(uint64 periodId, uint256 given, uint256 posted);
    error ExchangeHouseholdsNotSorted(uint256 index);
    error ExchangePostingsMismatch(address household, bytes32 head, bytes32 given);
    error ExchangeMetersMismatch(address household, uint256 given, uint256 registered);
    error ExchangePostedBatchMismatch(bytes32 meterId, uint64 periodId);
    error ExchangeMeterDataMissing(bytes32 meterId, uint64 periodId, uint256 deadline);
    error ExchangeBadHint(uint64 intervalId, uint256 position);

    function deposit(uint256 amountUnits) external;
    function withdraw(uint256 amountUnits) external;

    /// @notice Posts signed schedules; all-or-nothing, errors name the item's index.
    function postSchedules(SignedSchedule[] calldata schedules) external;

    /// @notice Forced inclusion of meter batches (verified and chained now).
    function postMeterBatches(MeterBatch[] calldata batches) external;

    /// @notice Settles period `periodId` (see "Settlement"). `hints` packs, per interval of
    /// the period in order, the settler's claim of the walk: one byte 0x00 ("nothing
    /// matched"), or 0x01 then uint32 a, uint32 b (big-endian: the ask' and bid' of the last
    /// Wh matched; a <= b, both fit as ask', bid' are within [floor, ceiling] and ceiling
    /// < 2^32). Empty under CommunityPrice.
    function settlePeriod(
        uint64 periodId,
        HouseholdPeriod[] calldata households,
        bytes calldata hints
    ) external;

    /// @notice The most postings per (household, period): bounds what settlement re-supplies.
    function MAX_POSTINGS_PER_PERIOD() external view returns (uint32);
    /// @notice The most households posting per period: bounds PeriodCleared's volumes.
    function MAX_HOUSEHOLDS_PER_PERIOD() external view returns (uint32);
    function community() external view returns (address);
    function token() external view returns (address);
    function escrowOf(address household)
        external
        view
        returns (uint256 freeUnits, uint256 lockedUnits);
    /// @notice (hash chain head, last version, posting count) of (household, period).
    function scheduleRecord(address household, uint64 periodId)
        external
        view
        returns (bytes32 head, uint32 lastVersion, uint32 postings);
    function postingHouseholds(uint64 periodId) external view returns (uint256);
    function isSettled(uint64 periodId) external view returns (bool);
    /// @notice The meter's last accepted period + 1 (0: none yet) and its end registers.
    function meterChain(bytes32 meterId)
        external
        view
        returns (uint64 nextPeriodId, uint64 endImportWh, uint64 endExportWh);
    function postedBatchHash(bytes32 meterId, uint64 periodId) external view returns (bytes32);
    function domainSeparator() external view returns (bytes32);
    function scheduleDigest(Schedule calldata schedule) external view returns (bytes32);
    function meterBatchDigest(
        bytes32 meterId,
        uint64 periodId,
        uint64 startImportWh,
        uint64 startExportWh,
        bytes calldata deltas
    ) external view returns (bytes32);
}
