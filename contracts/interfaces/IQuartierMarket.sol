// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IQuartierMarket
/// @notice The market of one energy community: escrow, signed orders committed per interval,
/// P-256 meter readings, and settlement of delivered energy. The matcher and relayers are
/// trusted with nothing: every rule below is checked on-chain.
///
/// Time. Interval k covers [k*900, (k+1)*900). Orders for k close at the gate,
/// `k*900 - gateClosureLeadSeconds`; a commit of k is refused before that. A reading for k
/// holds the cumulative registers at (k+1)*900 and is refused before that moment.
///
/// Money. A buy order's escrow lock, taken at commit, is
/// `ceil(Σ_trades energyWh * pricePerKwh / 1000)` over the trades it fills, which is at most
/// `ceil(energyWh * pricePerKwh / 1000)` of the order: rounding up means the lock always
/// covers the payments. Each trade pays `floor(deliveredWh * pricePerKwh / 1000)`; the
/// rounded-down remainder stays with the buyer, released with the unused lock at settlement.
/// Σ free + Σ locked always equals the tokens the market holds.
///
/// Storage. A commit stores ONE hash per interval (keccak256 of the order struct hashes and
/// the trades) and emits events: no slot per trade. Settlement takes the same orders and
/// trades again as calldata and checks them against the hash.
///
/// Readings. A meter's accepted readings form a hash chain; the market stores only its head,
/// one slot per meter: `head' = keccak256(abi.encode(head, reading values))`, starting from
/// zero. A new reading carries its predecessor's values and link (the head before it) so the
/// market checks seq, interval and registers against them without storing them. Settlement
/// proves the boundary readings R(k-1), R(k) of each meter with the chain segment from R(k-1)
/// to the head. Relayers can only append meter-signed readings (at most one per interval):
/// nothing a pending settlement needs can be overwritten, a proof just grows by one reading
/// per later interval.
///
/// Energy. Per household, exported/imported Wh of interval k are the sums over its active
/// meters of R(k) - R(k-1). Let sold_s, bought_b be the Wh a household sold/bought in k,
/// X_s = min(exported_s, sold_s), Y_b = min(imported_b, bought_b). A trade of e Wh delivers
/// d = min(floor(e * X_s / sold_s), floor(e * Y_b / bought_b)): each trade is scaled by the
/// worse of its two parties' delivery ratios, rounded down. Hence Σ d ≤ traded,
/// Σ_{seller s} d ≤ exported_s, Σ_{buyer b} d ≤ imported_b, and every Wh delivered by a
/// seller is a Wh received by a buyer. Shortfalls (and sub-Wh rounding) are the grid's.
///
/// Known limits. The first valid commit of an interval wins: the contract checks the
/// clearing's limits, not that it is the optimal clearing (auditors re-run it off-chain).
/// Escrow is locked at commit, not at signing: a buyer who withdraws in between makes the
/// commit revert (MarketInsufficientEscrow) and the matcher re-clears without it. Settlement
/// needs both boundary readings of every active meter of every party; a meter that never
/// reports them blocks the interval (no timeout path yet). A meter revoked after the interval
/// no longer counts towards its household's energy. The token must be a plain ERC-20: a
/// fee-on-transfer or rebasing token would break Σ escrow == tokens held.
interface IQuartierMarket {
    /// @notice The fixed `Order` of the EIP-712 domain ("Quartier", "1", chainId, market).
    struct Order {
        address household;
        uint8 side;
        uint64 intervalId;
        uint64 energyWh;
        uint64 pricePerKwh;
        uint64 nonce;
    }

    /// @notice An order with the household's secp256k1 signature over its EIP-712 digest.
    struct SignedOrder {
        Order order;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A cleared trade between two orders of the committed list, at one price.
    struct Trade {
        uint32 sellOrderIndex;
        uint32 buyOrderIndex;
        uint64 energyWh;
        uint64 pricePerKwh;
    }

    /// @notice The values of a reading, as hashed into the meter's chain.
    struct ReadingValues {
        uint64 intervalId;
        uint64 importWhTotal;
        uint64 exportWhTotal;
        uint64 seq;
    }

    /// @notice A reading signed by a meter's P-256 key, with the meter's latest accepted
    /// reading (`previous`, zero for a first reading) and the head before it (`previousLink`).
    struct SignedReading {
        uint256 publicKeyX;
        uint256 publicKeyY;
        ReadingValues values;
        bytes32 r;
        bytes32 s;
        bytes32 previousLink;
        ReadingValues previous;
    }

    /// @notice The chain segment of one meter from R(k-1) to its head: `readings[0]` is
    /// R(k-1), `readings[1]` is R(k), the rest follow up to the latest reading.
    struct MeterProof {
        bytes32 meterId;
        bytes32 link;
        ReadingValues[] readings;
    }

    /// @notice The meters of one household taking part in a settlement, sorted by id.
    struct HouseholdMeters {
        MeterProof[] meters;
    }

    event Deposited(address indexed household, uint256 amountUnits);
    event Withdrawn(address indexed household, uint256 amountUnits);
    event NonceCancelled(address indexed household, uint64 nonce);
    event IntervalCommitted(
        uint64 indexed intervalId,
        bytes32 commitment,
        uint256 orderCount,
        uint256 tradeCount,
        address committer
    );
    event TradeCommitted(
        uint64 indexed intervalId,
        address indexed seller,
        address indexed buyer,
        uint64 energyWh,
        uint64 pricePerKwh
    );
    event EscrowLocked(uint64 indexed intervalId, address indexed household, uint256 amountUnits);
    event ReadingAccepted(
        bytes32 indexed meterId,
        uint64 intervalId,
        uint64 importWhTotal,
        uint64 exportWhTotal,
        uint64 seq
    );
    event TradeSettled(
        uint64 indexed intervalId,
        address indexed seller,
        address indexed buyer,
        uint64 deliveredWh,
        uint256 paymentUnits
    );
    event EscrowReleased(uint64 indexed intervalId, address indexed household, uint256 amountUnits);
    event IntervalSettled(uint64 indexed intervalId, uint256 deliveredWh, uint256 paidUnits);

    error MarketZeroAddress();
    error MarketZeroAmount();
    error MarketAmountTooLarge(uint256 amountUnits);
    error MarketTokenTransferFailed(address token);
    error MarketInsufficientEscrow(address household, uint256 availableUnits, uint256 neededUnits);
    error MarketNonceAlreadyCancelled(address household, uint64 nonce);
    // Commit.
    error MarketNoTrades(uint64 intervalId);
    error MarketIntervalAlreadyCommitted(uint64 intervalId);
    error MarketOrdersStillOpen(uint64 intervalId, uint256 gateClosesAt, uint256 now);
    error MarketOrderIntervalMismatch(
        uint256 orderIndex, uint64 orderIntervalId, uint64 intervalId
    );
    error MarketInvalidSide(uint256 orderIndex, uint8 side);
    error MarketOrdersNotSorted(uint256 orderIndex);
    error MarketNotMember(address household);
    error MarketOrderCancelled(address household, uint64 nonce);
    error MarketInvalidOrderSignature(uint256 orderIndex, address household, address signer);
    error MarketTradeOrderOutOfRange(uint256 tradeIndex, uint256 orderIndex);
    error MarketTradeSideMismatch(uint256 tradeIndex, uint256 orderIndex);
    error MarketSelfTrade(uint256 tradeIndex, address household);
    error MarketZeroEnergyTrade(uint256 tradeIndex);
    error MarketBuyerLimitExceeded(uint256 tradeIndex, uint64 pricePerKwh, uint64 limitPerKwh);
    error MarketSellerLimitNotMet(uint256 tradeIndex, uint64 pricePerKwh, uint64 limitPerKwh);
    error MarketTradeExceedsOrder(uint256 orderIndex, uint256 filledWh, uint64 orderEnergyWh);
    // Readings.
    error MarketUnknownMeter(bytes32 meterId);
    error MarketMeterRevoked(bytes32 meterId);
    error MarketReadingFromFuture(bytes32 meterId, uint64 intervalId, uint256 availableAt);
    error MarketInvalidReadingSignature(bytes32 meterId, uint64 intervalId);
    error MarketStalePredecessor(bytes32 meterId, bytes32 head);
    error MarketSeqNotIncreasing(bytes32 meterId, uint64 seq, uint64 previousSeq);
    error MarketIntervalNotIncreasing(
        bytes32 meterId, uint64 intervalId, uint64 previousIntervalId
    );
    error MarketRegisterDecreased(bytes32 meterId, uint64 whTotal, uint64 previousWhTotal);
    // Settlement.
    error MarketIntervalNotCommitted(uint64 intervalId);
    error MarketIntervalAlreadySettled(uint64 intervalId);
    error MarketCommitmentMismatch(uint64 intervalId, bytes32 committed, bytes32 given);
    error MarketHouseholdCountMismatch(uint256 givenHouseholds, uint256 expectedHouseholds);
    error MarketMeterCountMismatch(address household, uint256 givenMeters, uint256 activeMeters);
    error MarketMeterNotOfHousehold(bytes32 meterId, address household);
    error MarketMetersNotSorted(address household, bytes32 meterId);
    error MarketReadingProofInvalid(bytes32 meterId, bytes32 head, bytes32 proven);
    error MarketBoundaryReadingMissing(bytes32 meterId, uint64 intervalId);

    /// @notice Moves `amountUnits` tokens from the caller (approved first) into its escrow.
    function deposit(uint256 amountUnits) external;

    /// @notice Returns `amountUnits` of the caller's free escrow to its wallet.
    function withdraw(uint256 amountUnits) external;

    /// @notice Cancels the caller's order nonce: a commit containing it reverts. Has no effect
    /// on an interval already committed.
    function cancelNonce(uint64 nonce) external;

    /// @notice Commits the cleared interval `intervalId`: verifies every order (interval,
    /// side, member, not cancelled, signature; sorted by strictly increasing
    /// (household, nonce) so none repeats) and every trade (sides, no self-trade, limits,
    /// fills within orders), locks the buyers' escrow and stores one commitment hash.
    /// Callable by anyone once the gate has closed; at most once per interval. Replay needs
    /// no per-order storage: an order names its interval, and an interval commits once.
    function commitInterval(
        uint64 intervalId,
        SignedOrder[] calldata orders,
        Trade[] calldata trades
    ) external returns (bytes32 commitment);

    /// @notice Verifies and appends a batch of meter readings (P256VERIFY against the key in
    /// calldata, whose keccak256 is the meter id). The whole batch reverts on any bad reading.
    function submitReadings(SignedReading[] calldata readings) external;

    /// @notice Settles a committed interval: `orders` and `trades` as committed (signatures
    /// not needed), `households` one entry per distinct household of `orders` in order of
    /// appearance, each listing all of its active meters with their chain proofs.
    function settleInterval(
        uint64 intervalId,
        Order[] calldata orders,
        Trade[] calldata trades,
        HouseholdMeters[] calldata households
    ) external;

    function registry() external view returns (address);
    function token() external view returns (address);
    function gateClosureLeadSeconds() external view returns (uint64);
    function escrowOf(address household)
        external
        view
        returns (uint256 freeUnits, uint256 lockedUnits);
    function isNonceCancelled(address household, uint64 nonce) external view returns (bool);
    function commitmentOf(uint64 intervalId) external view returns (bytes32);
    function isSettled(uint64 intervalId) external view returns (bool);
    function readingHead(bytes32 meterId) external view returns (bytes32);
    function domainSeparator() external view returns (bytes32);
    function orderStructHash(Order calldata order) external pure returns (bytes32);
    function orderDigest(Order calldata order) external view returns (bytes32);
    function readingDigest(bytes32 meterId, ReadingValues calldata values)
        external
        view
        returns (bytes32);
    function chainLink(bytes32 head, ReadingValues calldata values) external pure returns (bytes32);
}
