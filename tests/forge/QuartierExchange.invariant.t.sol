// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {Test} from "./utils/Test.sol";
import {ExchangeBase} from "./utils/ExchangeBase.sol";
import {IQuartierExchange} from "../../contracts/interfaces/IQuartierExchange.sol";

/// Drives four households through random deposits, withdrawals, schedule postings (random
/// sides, energies and prices, several versions) and settlements with random meter flows,
/// keeping ghost sums: tokens in and out, settlements that failed, and what each settlement
/// changed in total escrow (it must change nothing).
contract ExchangeHandler is ExchangeBase {
    uint256 internal constant N = 4;

    address[N] public households;
    bytes32[N] internal meterIds;
    uint64 public tradingPeriod;
    bool internal ready;

    mapping(uint64 periodId => mapping(address household => IQuartierExchange.Posting[])) internal
        posted;
    mapping(uint64 periodId => uint32) internal versions;

    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostSettlements;
    uint256 public ghostFailedSettlements;
    uint256 public ghostEscrowDrift;

    /// The runner calls every public function: setting up twice would start a new exchange.
    function setUp() public override {
        if (ready) revert("set up");
        ready = true;
        super.setUp();
        for (uint256 i; i < N; ++i) {
            households[i] = _admit(0xA0 + i);
            meterIds[i] = _admitMeter(households[i], 0xC0 + i);
        }
        tradingPeriod = P;
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }

    function everyone() public view returns (address[] memory list) {
        list = new address[](N + 1);
        for (uint256 i; i < N; ++i) {
            list[i] = households[i];
        }
        list[N] = SETTLER;
    }

    function deposit(uint256 who, uint256 amountUnits) external {
        address household = households[who % N];
        amountUnits = _bound(amountUnits, 1, 1_000);
        _fund(household, amountUnits);
        ghostDeposited += amountUnits;
    }

    function withdraw(uint256 who, uint256 amountUnits) external {
        address household = households[who % N];
        amountUnits = _bound(amountUnits, 1, _free(household) + 1);
        vm.prank(household);
        try exchange.withdraw(amountUnits) {
            ghostWithdrawn += amountUnits;
        } catch {}
    }

    /// A schedule from a random interval on, 1-4 entries of random side, energy and price.
    function post(uint256 who, uint256 seed) external {
        address household = households[who % N];
        uint64 first = _firstInterval(tradingPeriod) + uint64(seed % 4);
        uint256 count = (seed >> 8) % (5 - (seed % 4));
        bytes memory entries;
        for (uint256 j; j < count; ++j) {
            uint256 r = uint256(keccak256(abi.encode(seed, j)));
            uint8 side = uint8(r % 3);
            entries = bytes.concat(
                entries,
                side == 0 ? _entry(0, 0, 0) : _entry(side, 10 + (r >> 8) % 2_000, (r >> 40) % 400)
            );
        }
        uint32 version = ++versions[tradingPeriod];
        IQuartierExchange.SignedSchedule[] memory list = _one(
            _sign(
                householdKeys[household],
                _schedule(household, tradingPeriod, version, first, entries)
            )
        );
        try exchange.postSchedules(list) {
            posted[tradingPeriod][household].push(
                IQuartierExchange.Posting(version, first, entries)
            );
        } catch {}
    }

    /// Settles the trading period with random meter flows, then trades two periods later.
    function settle(uint256 seed) external {
        uint64 periodId = tradingPeriod;
        _warpToSettle(periodId);
        IQuartierExchange.HouseholdPeriod[] memory list = _periodInput(periodId, seed);
        bytes memory hints = _hints(list, periodId);
        uint256 before = _escrowTotal();
        vm.prank(SETTLER);
        try exchange.settlePeriod(periodId, list, hints) {
            ++ghostSettlements;
        } catch {
            ++ghostFailedSettlements;
        }
        uint256 afterwards = _escrowTotal();
        if (afterwards != before) ++ghostEscrowDrift;
        tradingPeriod = periodId + 2;
    }

    function exchangeEscrow(address household) external view returns (uint256, uint256) {
        return exchange.escrowOf(household);
    }

    function heldByExchange() external view returns (uint256) {
        return token.balanceOf(address(exchange));
    }

    function _periodInput(uint64 periodId, uint256 seed)
        internal
        view
        returns (IQuartierExchange.HouseholdPeriod[] memory list)
    {
        uint256 count;
        for (uint256 i; i < N; ++i) {
            if (posted[periodId][households[i]].length > 0) ++count;
        }
        list = new IQuartierExchange.HouseholdPeriod[](count);
        uint256 n;
        for (uint256 i; i < N; ++i) {
            IQuartierExchange.Posting[] memory postings = posted[periodId][households[i]];
            if (postings.length == 0) continue;
            list[n++] = _household(
                households[i], postings, _meters(_inline(_randomBatch(i, periodId, seed)))
            );
        }
        list = _sorted(list);
    }

    /// Meter i's batch for the period, chained on its last one, random flows.
    function _randomBatch(uint256 i, uint64 periodId, uint256 seed)
        internal
        view
        returns (IQuartierExchange.MeterBatch memory)
    {
        (, uint64 endImportWh, uint64 endExportWh) = exchange.meterChain(meterIds[i]);
        bytes memory deltas;
        for (uint256 k; k < periodIntervals(); ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, k)));
            deltas = bytes.concat(
                deltas, abi.encodePacked(uint32(r % 2_500), uint32((r >> 32) % 2_500))
            );
        }
        return _batch(meterIds[i], periodId, endImportWh, endExportWh, deltas);
    }

    function _escrowTotal() internal view returns (uint256 total) {
        address[] memory all = everyone();
        for (uint256 i; i < all.length; ++i) {
            (uint256 freeUnits, uint256 lockedUnits) = exchange.escrowOf(all[i]);
            total += freeUnits + lockedUnits;
        }
    }
}

contract QuartierExchangeInvariantTest is Test {
    ExchangeHandler internal handler;

    function setUp() public {
        handler = new ExchangeHandler();
        handler.setUp();
        targetContract(address(handler));
    }

    function _escrowTotal() internal view returns (uint256 total) {
        address[] memory all = handler.everyone();
        for (uint256 i; i < all.length; ++i) {
            (uint256 freeUnits, uint256 lockedUnits) = handler.exchangeEscrow(all[i]);
            total += freeUnits + lockedUnits;
        }
    }

    /// The handler's own path does settle periods that trade (so the invariants see real
    /// settlements, not only reverted ones).
    function test_handler_SettlesTradingPeriods() public {
        uint256 moved;
        for (uint256 round; round < 3; ++round) {
            for (uint256 i; i < 4; ++i) {
                handler.deposit(i, 1_000);
                handler.post(i, uint256(keccak256(abi.encode(round, i))) << 8 | 0);
            }
            handler.settle(round);
        }
        assertEq(handler.ghostSettlements(), 3, "three settlements");
        assertEq(handler.ghostFailedSettlements(), 0, "none failed");
        address[] memory all = handler.everyone();
        for (uint256 i; i < 4; ++i) {
            (uint256 freeUnits, uint256 lockedUnits) = handler.exchangeEscrow(all[i]);
            assertEq(lockedUnits, 0, "all locks released");
            if (freeUnits != 3_000) ++moved;
        }
        assertGe(moved, 1, "some money changed hands");
        invariant_escrowEqualsTokensHeld();
    }

    /// Σ free + Σ locked == the exchange's token balance == deposits - withdrawals.
    function invariant_escrowEqualsTokensHeld() public view {
        uint256 held = handler.heldByExchange();
        assertEq(_escrowTotal(), held, "escrow == tokens held");
        assertEq(held, handler.ghostDeposited() - handler.ghostWithdrawn(), "tokens in - out");
    }

    /// Settlement creates and destroys nothing, and every valid settlement succeeds.
    function invariant_settlementConserves() public view {
        assertEq(handler.ghostEscrowDrift(), 0, "settlement changed total escrow");
        assertEq(handler.ghostFailedSettlements(), 0, "a complete settlement reverted");
    }
}
