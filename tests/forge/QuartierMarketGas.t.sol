// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {MarketBase} from "./utils/MarketBase.sol";
import {IQuartierMarket} from "../../contracts/interfaces/IQuartierMarket.sol";

/// Gas per fully verified trade and per verified reading at batches of 1, 10 and 100.
/// Run: `node_modules/.bin/forge test --match-contract QuartierMarketGasTest -vv`.
///
/// Each figure is what one transaction would pay per item: execution (gasleft around the
/// call) + calldata (16 gas per non-zero byte, 4 per zero byte), with the 21,000 base of the
/// transaction shown separately. Trades are the worst case the target names: every trade
/// carries its own sell and buy order from distinct households, so both signatures, both
/// membership reads and both nonce-bitmap reads are paid per trade. Readings are the steady
/// state: each meter already has a chain head (a non-zero slot rewritten).
contract QuartierMarketGasTest is MarketBase {
    event log_named_uint(string key, uint256 val);

    uint256 internal constant SELLER_KEY_BASE = 0x10000;
    uint256 internal constant BUYER_KEY_BASE = 0x20000;
    uint256 internal constant METER_KEY_BASE = 0x30000;

    function _calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    /// Runs `data` against the market and returns (execution gas, calldata gas).
    function _measure(bytes memory data)
        internal
        returns (uint256 executionGas, uint256 calldataGas)
    {
        calldataGas = _calldataGas(data);
        uint256 before = gasleft();
        (bool ok, bytes memory result) = address(market).call(data);
        executionGas = before - gasleft();
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }

    function _report(string memory what, uint256 n, uint256 executionGas, uint256 calldataGas)
        internal
    {
        emit log_named_uint(string.concat(what, " batch size"), n);
        emit log_named_uint("  execution gas per item", executionGas / n);
        emit log_named_uint("  calldata gas per item", calldataGas / n);
        emit log_named_uint(
            "  total per item (excl. 21000 tx base)", (executionGas + calldataGas) / n
        );
        emit log_named_uint(
            "  total per item (incl. 21000 / n)", (executionGas + calldataGas + 21_000) / n
        );
    }

    address[] internal sellers;
    address[] internal buyers;
    bytes32[] internal meters;

    /// The state is built here, in its own transaction, so the measured call starts with cold
    /// storage as a real transaction does (slots written earlier in the same transaction
    /// would be warm and make every figure look cheaper than it is).
    function setUp() public override {
        super.setUp();
        for (uint256 i; i < 101; ++i) {
            sellers.push(_admit(SELLER_KEY_BASE + i));
            buyers.push(_admit(BUYER_KEY_BASE + i));
            _fund(buyers[i], 1_000);
        }
        address household = _admit(0xA1);
        for (uint256 i; i < 100; ++i) {
            bytes32 meterId = _admitMeter(household, METER_KEY_BASE + i);
            meters.push(meterId);
            _submit(meterId, _values(K - 2, 41_000 + uint64(i), 23_000 + uint64(i), 7_000));
        }
    }

    // ------------------------------------------------------------ trades

    /// Worst case: n trades, each between its own sell and buy order (2n orders, 2n households).
    function _commitGas(uint256 n) internal returns (uint256 perTrade) {
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](2 * n);
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](n);
        for (uint256 i; i < n; ++i) {
            orders[2 * i] =
                _sign(SELLER_KEY_BASE + i, _order(sellers[i], SELL, 1_000, 100, uint64(i + 1)));
            orders[2 * i + 1] =
                _sign(BUYER_KEY_BASE + i, _order(buyers[i], BUY, 1_000, 150, uint64(i + 1)));
            trades[i] = _trade(2 * i, 2 * i + 1, 1_000, 120);
        }
        _sortOrders(orders, trades);
        (uint256 executionGas, uint256 calldataGas) =
            _measure(abi.encodeCall(market.commitInterval, (K, orders, trades)));
        _report("commitInterval, 2 orders per trade: trades", n, executionGas, calldataGas);
        perTrade = (executionGas + calldataGas) / n;
    }

    function test_gas_commit_1() public {
        _commitGas(1);
    }

    function test_gas_commit_10() public {
        _commitGas(10);
    }

    function test_gas_commit_100() public {
        uint256 perTrade = _commitGas(100);
        // A regression guard, not the target: see the report for the figure and its parts.
        assertLe(perTrade, 55_000, "per trade at a batch of 100");
    }

    /// What a uniform-price double auction produces: a staircase where each order is split
    /// over two trades, so 100 trades need 101 orders (51 sellers of 1000 Wh, the first 500 Wh,
    /// and 50 buyers of 1000 Wh).
    function test_gas_commit_staircase_100() public {
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](101);
        for (uint256 i; i < 51; ++i) {
            orders[i] =
                _sign(SELLER_KEY_BASE + i, _order(sellers[i], SELL, i == 0 ? 500 : 1_000, 100, 1));
        }
        for (uint256 i; i < 50; ++i) {
            orders[51 + i] = _sign(BUYER_KEY_BASE + i, _order(buyers[i], BUY, 1_000, 150, 1));
        }
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](100);
        uint256 s;
        uint256 b;
        uint256 sellLeft = 500;
        uint256 buyLeft = 1_000;
        for (uint256 t; t < 100; ++t) {
            uint256 energyWh = sellLeft < buyLeft ? sellLeft : buyLeft;
            trades[t] = _trade(s, 51 + b, uint64(energyWh), 120);
            sellLeft -= energyWh;
            buyLeft -= energyWh;
            if (sellLeft == 0 && s < 50) (s, sellLeft) = (s + 1, 1_000);
            if (buyLeft == 0 && b < 49) (b, buyLeft) = (b + 1, 1_000);
        }
        _sortOrders(orders, trades);
        (uint256 executionGas, uint256 calldataGas) =
            _measure(abi.encodeCall(market.commitInterval, (K, orders, trades)));
        _report("commitInterval, staircase of 101 orders: trades", 100, executionGas, calldataGas);
    }

    // ------------------------------------------------------------ readings

    function _readingGas(uint256 n) internal returns (uint256 perReading) {
        IQuartierMarket.SignedReading[] memory batch = new IQuartierMarket.SignedReading[](n);
        for (uint256 i; i < n; ++i) {
            batch[i] = _signedReading(
                meters[i], _values(K - 1, 41_350 + uint64(i), 23_125 + uint64(i), 7_001)
            );
        }
        (uint256 executionGas, uint256 calldataGas) =
            _measure(abi.encodeCall(market.submitReadings, (batch)));
        _report("submitReadings: readings", n, executionGas, calldataGas);
        perReading = (executionGas + calldataGas) / n;
    }

    function test_gas_readings_1() public {
        _readingGas(1);
    }

    function test_gas_readings_10() public {
        _readingGas(10);
    }

    function test_gas_readings_100() public {
        uint256 perReading = _readingGas(100);
        assertLe(perReading, 30_000, "per reading at a batch of 100");
    }
}
// forge-lint: disable-end(unsafe-typecast)
