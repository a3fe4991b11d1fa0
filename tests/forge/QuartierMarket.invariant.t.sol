// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {Test} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";
import {CommunityRegistry} from "../../contracts/CommunityRegistry.sol";
import {QuartierToken} from "../../contracts/QuartierToken.sol";
import {QuartierMarket} from "../../contracts/QuartierMarket.sol";
import {IQuartierMarket} from "../../contracts/interfaces/IQuartierMarket.sol";

/// Drives a four-household community through random deposits, withdrawals, commits, clock
/// ticks (every meter reports each interval with random deltas), settlements and repeated
/// settlements, keeping ghost sums of what must hold. Violations it can only see after the
/// fact (settlement events) are counted in ghosts and checked by the invariants, because the
/// runner ignores reverts of handler calls.
contract MarketHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant N = 4;
    bytes32 internal constant TRADE_SETTLED =
        keccak256("TradeSettled(uint64,address,address,uint64,uint256)");

    CommunityRegistry public immutable registry;
    QuartierToken public immutable token;
    QuartierMarket public immutable market;
    address public immutable manager;

    address[N] public households;
    uint256[N] internal householdKeys;
    bytes32[N] public meters;
    uint256[N] internal meterKeys;
    // Local copy of each meter's reading chain (the market stores only its head).
    mapping(uint256 meter => IQuartierMarket.ReadingValues[]) internal history;
    mapping(uint256 meter => bytes32[]) internal links;
    mapping(uint256 meter => mapping(uint64 intervalId => uint256 index)) internal readingIndex;

    struct Committed {
        IQuartierMarket.Order[] orders;
        IQuartierMarket.Trade[] trades;
        bool settled;
    }

    mapping(uint64 intervalId => Committed) internal committed;
    uint64[] public committedIntervals;

    uint256 public ghostMinted;
    uint256 public ghostTradedWhOfSettled;
    uint256 public ghostSettledWh;
    uint256 public ghostOutstandingLockUnits;
    uint256 public ghostSettlements;
    uint256 public ghostDeliveryViolations;
    uint256 public ghostDoubleSettlements;

    constructor(
        CommunityRegistry registry_,
        QuartierToken token_,
        QuartierMarket market_,
        address manager_
    ) {
        (registry, token, market, manager) = (registry_, token_, market_, manager_);
        for (uint256 i; i < N; ++i) {
            householdKeys[i] = 0xA000 + i;
            meterKeys[i] = 0xB000 + i;
        }
    }

    /// Called once by the test: admits everyone and takes the first boundary readings.
    function bootstrap() external {
        if (households[0] != address(0)) return;
        vm.startPrank(manager);
        for (uint256 i; i < N; ++i) {
            households[i] = vm.addr(householdKeys[i]);
            registry.admitHousehold(households[i]);
            (uint256 x, uint256 y) = vm.publicKeyP256(meterKeys[i]);
            meters[i] = registry.admitMeter(households[i], x, y);
        }
        vm.stopPrank();
        _readAll(1);
    }

    function _now() internal view returns (uint64) {
        return uint64(block.timestamp / 900);
    }

    // ------------------------------------------------------------ actions

    function deposit(uint256 seed, uint256 amountUnits) external {
        address household = households[seed % N];
        amountUnits = 1 + amountUnits % 5_000;
        vm.prank(manager);
        token.mint(household, amountUnits);
        ghostMinted += amountUnits;
        vm.startPrank(household);
        token.approve(address(market), amountUnits);
        market.deposit(amountUnits);
        vm.stopPrank();
    }

    function withdraw(uint256 seed, uint256 amountUnits) external {
        address household = households[seed % N];
        (uint256 free,) = market.escrowOf(household);
        if (free == 0) return;
        vm.prank(household);
        market.withdraw(1 + amountUnits % free);
    }

    struct Plan {
        uint256[3] who; // buyer, first seller, second seller
        uint64 e1;
        uint64 e2;
        uint64 price;
        uint256 cost;
    }

    /// Commits the current interval: one buyer, two sellers, two trades.
    function commit(uint256 seed) external {
        uint64 intervalId = _now();
        if (market.commitmentOf(intervalId) != bytes32(0)) return;
        Plan memory plan;
        plan.who = [seed % N, (seed + 1) % N, (seed + 2) % N];
        plan.e1 = uint64(1 + (seed >> 8) % 1_000);
        plan.e2 = uint64(1 + (seed >> 24) % 1_000);
        plan.price = uint64(1 + (seed >> 40) % 300);
        plan.cost = (uint256(plan.e1 + plan.e2) * plan.price + 999) / 1000;
        (uint256 free,) = market.escrowOf(households[plan.who[0]]);
        if (free < plan.cost) return;
        IQuartierMarket.Order[3] memory orders = [
            _order(plan.who[0], 1, intervalId, plan.e1 + plan.e2, plan.price),
            _order(plan.who[1], 0, intervalId, plan.e1 + uint64(seed >> 56) % 50, plan.price),
            _order(plan.who[2], 0, intervalId, plan.e2, plan.price / 2)
        ];
        _commit(intervalId, plan, orders);
    }

    function _commit(uint64 intervalId, Plan memory plan, IQuartierMarket.Order[3] memory orders)
        internal
    {
        // Sort by household (one order each, same nonce) and remember where each went.
        uint256[3] memory at = [uint256(0), 1, 2];
        for (uint256 i = 1; i < 3; ++i) {
            for (
                uint256 j = i; j > 0 && orders[at[j - 1]].household > orders[at[j]].household; --j) {
                (at[j - 1], at[j]) = (at[j], at[j - 1]);
            }
        }
        IQuartierMarket.SignedOrder[] memory signed = new IQuartierMarket.SignedOrder[](3);
        uint256[3] memory position;
        for (uint256 i; i < 3; ++i) {
            position[at[i]] = i;
            (uint8 v, bytes32 r, bytes32 s) =
                vm.sign(householdKeys[plan.who[at[i]]], market.orderDigest(orders[at[i]]));
            signed[i] = IQuartierMarket.SignedOrder({order: orders[at[i]], v: v, r: r, s: s});
        }
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](2);
        trades[0] =
            IQuartierMarket.Trade(uint32(position[1]), uint32(position[0]), plan.e1, plan.price);
        trades[1] =
            IQuartierMarket.Trade(uint32(position[2]), uint32(position[0]), plan.e2, plan.price);

        market.commitInterval(intervalId, signed, trades);
        Committed storage record = committed[intervalId];
        for (uint256 i; i < 3; ++i) {
            record.orders.push(signed[i].order);
        }
        record.trades.push(trades[0]);
        record.trades.push(trades[1]);
        committedIntervals.push(intervalId);
        ghostOutstandingLockUnits += plan.cost;
    }

    /// Moves the clock one interval on; every meter reports the interval that just ended.
    function tick(uint256 seed) external {
        vm.warp(block.timestamp + 900);
        _readAll(seed);
    }

    function settle(uint256 seed) external {
        if (committedIntervals.length == 0) return;
        uint64 intervalId = committedIntervals[seed % committedIntervals.length];
        Committed storage record = committed[intervalId];
        if (record.settled || _now() < intervalId + 1) return; // R(k) not in yet
        vm.recordLogs();
        market.settleInterval(
            intervalId, record.orders, record.trades, _proofs(intervalId, record.orders)
        );
        record.settled = true;
        ghostSettlements += 1;
        _checkDeliveries(intervalId, record);
    }

    /// Settling twice must always fail; a success is counted as a violation.
    function settleAgain(uint256 seed) external {
        if (committedIntervals.length == 0) return;
        uint64 intervalId = committedIntervals[seed % committedIntervals.length];
        Committed storage record = committed[intervalId];
        if (!record.settled) return;
        try market.settleInterval(
            intervalId, record.orders, record.trades, _proofs(intervalId, record.orders)
        ) {
            ghostDoubleSettlements += 1;
        } catch {}
    }

    // ------------------------------------------------------------ helpers

    function _order(uint256 who, uint8 side, uint64 intervalId, uint64 energyWh, uint64 price)
        internal
        view
        returns (IQuartierMarket.Order memory)
    {
        return IQuartierMarket.Order(households[who], side, intervalId, energyWh, price, intervalId);
    }

    function _readAll(uint256 seed) internal {
        uint64 intervalId = _now() - 1;
        IQuartierMarket.SignedReading[] memory batch = new IQuartierMarket.SignedReading[](N);
        for (uint256 m; m < N; ++m) {
            IQuartierMarket.SignedReading memory reading;
            IQuartierMarket.ReadingValues memory values;
            uint256 length = history[m].length;
            if (length != 0) {
                // Two separate memory copies: `values` is modified below, `previous` is not.
                values = history[m][length - 1];
                (reading.previousLink, reading.previous) =
                (links[m][length - 1], history[m][length - 1]);
            }
            values.intervalId = intervalId;
            values.importWhTotal += uint64(uint256(keccak256(abi.encode(seed, m, 0))) % 1_500);
            values.exportWhTotal += uint64(uint256(keccak256(abi.encode(seed, m, 1))) % 1_500);
            values.seq += 1;
            (reading.publicKeyX, reading.publicKeyY) = vm.publicKeyP256(meterKeys[m]);
            reading.values = values;
            (reading.r, reading.s) =
                vm.signP256(meterKeys[m], market.readingDigest(meters[m], values));
            batch[m] = reading;
        }
        market.submitReadings(batch);
        for (uint256 m; m < N; ++m) {
            links[m].push(_head(m));
            history[m].push(batch[m].values);
            readingIndex[m][intervalId] = history[m].length - 1;
        }
    }

    function _head(uint256 m) internal view returns (bytes32 head) {
        for (uint256 i; i < history[m].length; ++i) {
            head = market.chainLink(head, history[m][i]);
        }
    }

    function _indexOf(address household) internal view returns (uint256) {
        for (uint256 i; i < N; ++i) {
            if (households[i] == household) return i;
        }
        revert("unknown household");
    }

    function _proofs(uint64 intervalId, IQuartierMarket.Order[] storage orders)
        internal
        view
        returns (IQuartierMarket.HouseholdMeters[] memory entries)
    {
        entries = new IQuartierMarket.HouseholdMeters[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            uint256 m = _indexOf(orders[i].household);
            uint256 start = readingIndex[m][intervalId - 1];
            IQuartierMarket.MeterProof memory proof;
            proof.meterId = meters[m];
            proof.link = links[m][start];
            proof.readings = new IQuartierMarket.ReadingValues[](history[m].length - start);
            for (uint256 r = start; r < history[m].length; ++r) {
                proof.readings[r - start] = history[m][r];
            }
            entries[i].meters = new IQuartierMarket.MeterProof[](1);
            entries[i].meters[0] = proof;
        }
    }

    /// The metered delta of meter m in interval k (export when `exported`, else import).
    function _meteredWh(uint256 m, uint64 intervalId, bool exported)
        internal
        view
        returns (uint256)
    {
        IQuartierMarket.ReadingValues storage before = history[m][readingIndex[m][intervalId - 1]];
        IQuartierMarket.ReadingValues storage current = history[m][readingIndex[m][intervalId]];
        return exported
            ? current.exportWhTotal - before.exportWhTotal
            : current.importWhTotal - before.importWhTotal;
    }

    function _checkDeliveries(uint64 intervalId, Committed storage record) internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256[N] memory sold;
        uint256[N] memory bought;
        uint256 t;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics[0] != TRADE_SETTLED) continue;
            (uint64 deliveredWh,) = abi.decode(logs[i].data, (uint64, uint256));
            if (deliveredWh > record.trades[t].energyWh) ghostDeliveryViolations += 1;
            ghostTradedWhOfSettled += record.trades[t].energyWh;
            ghostSettledWh += deliveredWh;
            sold[_indexOf(address(uint160(uint256(logs[i].topics[2]))))] += deliveredWh;
            bought[_indexOf(address(uint160(uint256(logs[i].topics[3]))))] += deliveredWh;
            ++t;
        }
        if (t != record.trades.length) ghostDeliveryViolations += 1;
        for (uint256 m; m < N; ++m) {
            if (sold[m] > _meteredWh(m, intervalId, true)) ghostDeliveryViolations += 1;
            if (bought[m] > _meteredWh(m, intervalId, false)) ghostDeliveryViolations += 1;
        }
        uint256 cost;
        for (uint256 j; j < record.trades.length; ++j) {
            cost += uint256(record.trades[j].energyWh) * record.trades[j].pricePerKwh;
        }
        ghostOutstandingLockUnits -= (cost + 999) / 1000;
    }
}

contract QuartierMarketInvariantTest is Test {
    address internal constant MANAGER = address(0xA11CE);
    uint64 internal constant K = 2_000_000;
    CommunityRegistry internal registry;
    QuartierToken internal token;
    QuartierMarket internal market;
    MarketHandler internal handler;

    function setUp() public {
        vm.warp(uint256(K) * 900);
        registry = new CommunityRegistry(MANAGER);
        token = new QuartierToken("Quartier Euro", "qEUR", MANAGER);
        market = new QuartierMarket(registry, token, 0);
        handler = new MarketHandler(registry, token, market, MANAGER);
        handler.bootstrap();
        targetContract(address(handler));
    }

    function _escrowTotal() internal view returns (uint256 total, uint256 locked) {
        for (uint256 i; i < 4; ++i) {
            (uint256 freeUnits, uint256 lockedUnits) = market.escrowOf(handler.households(i));
            total += freeUnits + lockedUnits;
            locked += lockedUnits;
        }
    }

    /// Settlement creates and destroys nothing: Σ wallets + Σ escrow == minted.
    function invariant_creditsConserved() public view {
        uint256 wallets;
        for (uint256 i; i < 4; ++i) {
            wallets += token.balanceOf(handler.households(i));
        }
        (uint256 escrow,) = _escrowTotal();
        assertEq(wallets + escrow, handler.ghostMinted(), "wallets + escrow == minted");
        assertEq(escrow, token.balanceOf(address(market)), "escrow == market's tokens");
        assertEq(token.totalSupply(), handler.ghostMinted(), "supply == minted");
    }

    function invariant_lockedEscrowMatchesOpenIntervals() public view {
        (, uint256 locked) = _escrowTotal();
        assertEq(
            locked, handler.ghostOutstandingLockUnits(), "locked == locks of unsettled commits"
        );
    }

    function invariant_settledEnergyNeverExceedsTradedOrMetered() public view {
        assertLe(handler.ghostSettledWh(), handler.ghostTradedWhOfSettled(), "settled <= traded");
        assertEq(
            handler.ghostDeliveryViolations(), 0, "per trade and per party deliveries within bounds"
        );
    }

    function invariant_anIntervalSettlesAtMostOnce() public view {
        assertEq(handler.ghostDoubleSettlements(), 0, "second settlement succeeded");
    }

    /// The handler itself must work, or the invariants above would hold vacuously.
    function test_handler_CommitsAndSettles() public {
        for (uint256 i; i < 4; ++i) {
            handler.deposit(i, 4_999);
        }
        handler.tick(5);
        handler.commit(12345678901234567890);
        assertTrue(handler.ghostOutstandingLockUnits() != 0, "committed");
        handler.tick(7);
        handler.settle(0);
        assertEq(handler.ghostSettlements(), 1, "settled");
        assertTrue(handler.ghostSettledWh() != 0, "energy delivered");
        handler.settleAgain(0);
        invariant_creditsConserved();
        invariant_lockedEscrowMatchesOpenIntervals();
        invariant_settledEnergyNeverExceedsTradedOrMetered();
        invariant_anIntervalSettlesAtMostOnce();
    }
}
// forge-lint: disable-end(unsafe-typecast)
