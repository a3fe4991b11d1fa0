// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {MarketBase} from "./utils/MarketBase.sol";
import {IQuartierMarket} from "../../contracts/interfaces/IQuartierMarket.sol";
import {IQuartierToken} from "../../contracts/interfaces/IQuartierToken.sol";
import {IERC20} from "../../contracts/interfaces/IERC20.sol";
import {QuartierMarket} from "../../contracts/QuartierMarket.sol";

/// Escrow, nonce cancellation and the commit rules: one test per rule and per custom error.
contract QuartierMarketCommitTest is MarketBase {
    uint256 internal constant SELLER_KEY = 0xA1;
    uint256 internal constant BUYER_KEY = 0xB1;
    uint256 internal constant OUTSIDER_KEY = 0xD1;
    address internal seller;
    address internal buyer;

    function setUp() public override {
        super.setUp();
        seller = _admit(SELLER_KEY);
        buyer = _admit(BUYER_KEY);
        _fund(buyer, 1_000);
    }

    /// One sell (1000 Wh at >= 100/kWh) and one buy (800 Wh at <= 150/kWh) order, sorted.
    function _book(IQuartierMarket.Trade memory trade)
        internal
        view
        returns (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades)
    {
        return _bookOf(_order(seller, SELL, 1000, 100, 1), _order(buyer, BUY, 800, 150, 1), trade);
    }

    function _bookOf(
        IQuartierMarket.Order memory sell,
        IQuartierMarket.Order memory buy,
        IQuartierMarket.Trade memory trade
    )
        internal
        view
        returns (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades)
    {
        orders = new IQuartierMarket.SignedOrder[](2);
        orders[0] = _sign(SELLER_KEY, sell);
        orders[1] = _sign(BUYER_KEY, buy);
        trades = new IQuartierMarket.Trade[](1);
        trades[0] = trade;
        _sortOrders(orders, trades);
    }

    function _expectCommitRevert(
        IQuartierMarket.SignedOrder[] memory orders,
        IQuartierMarket.Trade[] memory trades,
        bytes memory revertData
    ) internal {
        vm.expectRevert(revertData);
        market.commitInterval(K, orders, trades);
    }

    // ------------------------------------------------------------ escrow

    function test_deposit_CreditsFreeEscrow() public view {
        assertEq(_free(buyer), 1_000, "free after deposit");
        assertEq(token.balanceOf(address(market)), 1_000, "market holds the tokens");
    }

    function test_deposit_RevertWhen_ZeroAmount() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierMarket.MarketZeroAmount.selector));
        vm.prank(buyer);
        market.deposit(0);
    }

    function test_deposit_RevertWhen_TokenRefuses_BubblesTokenError() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierToken.ERC20InsufficientAllowance.selector, address(market), 0, 5
            )
        );
        vm.prank(seller);
        market.deposit(5);
    }

    function test_deposit_RevertWhen_AmountTooLarge() public {
        uint256 huge = uint256(type(uint128).max);
        vm.prank(MANAGER);
        token.mint(seller, huge);
        vm.startPrank(seller);
        token.approve(address(market), huge);
        market.deposit(1);
        vm.expectRevert(abi.encodeWithSelector(IQuartierMarket.MarketAmountTooLarge.selector, huge));
        market.deposit(huge);
        vm.stopPrank();
    }

    function test_withdraw_ReturnsTokens() public {
        vm.expectEmit(true, false, false, true);
        emit IQuartierMarket.Withdrawn(buyer, 400);
        vm.prank(buyer);
        market.withdraw(400);
        assertEq(_free(buyer), 600, "free after withdrawal");
        assertEq(token.balanceOf(buyer), 400, "wallet after withdrawal");
    }

    function test_withdraw_RevertWhen_ZeroAmount() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierMarket.MarketZeroAmount.selector));
        vm.prank(buyer);
        market.withdraw(0);
    }

    function test_withdraw_RevertWhen_InsufficientEscrow() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierMarket.MarketInsufficientEscrow.selector, buyer, 1_000, 1_001
            )
        );
        vm.prank(buyer);
        market.withdraw(1_001);
    }

    function test_withdraw_RevertWhen_FundsAreLocked() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        market.commitInterval(K, orders, trades);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierMarket.MarketInsufficientEscrow.selector, buyer, 904, 905
            )
        );
        vm.prank(buyer);
        market.withdraw(905);
    }

    function test_constructor_RevertWhen_ZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierMarket.MarketZeroAddress.selector));
        new QuartierMarket(registry, IERC20(address(0)), 0);
    }

    function test_cancelNonce_MarksAndEmits() public {
        vm.expectEmit(true, false, false, true);
        emit IQuartierMarket.NonceCancelled(buyer, 300);
        vm.prank(buyer);
        market.cancelNonce(300);
        assertTrue(market.isNonceCancelled(buyer, 300), "cancelled");
        assertTrue(!market.isNonceCancelled(buyer, 301), "neighbour untouched");
        assertTrue(!market.isNonceCancelled(seller, 300), "other household untouched");
    }

    function test_cancelNonce_RevertWhen_AlreadyCancelled() public {
        vm.startPrank(buyer);
        market.cancelNonce(7);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierMarket.MarketNonceAlreadyCancelled.selector, buyer, 7)
        );
        market.cancelNonce(7);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ commit: success

    function test_commit_LocksRoundedUpEscrowAndStoresHash() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 799, 123));
        // 799 Wh * 123 / 1000 = 98.277 units: the lock rounds up to 99.
        vm.expectEmit(true, true, true, true);
        emit IQuartierMarket.TradeCommitted(K, seller, buyer, 799, 123);
        bytes32 commitment = market.commitInterval(K, orders, trades);
        assertEq(market.commitmentOf(K), commitment, "commitment stored");
        assertTrue(commitment != bytes32(0), "non-zero commitment");
        assertEq(_locked(buyer), 99, "locked, rounded up");
        assertEq(_free(buyer), 901, "free after lock");
        assertEq(_free(seller), 0, "seller escrow untouched");
    }

    function test_commit_AnyoneMayCommitAfterGate() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        vm.prank(address(0xBEEF));
        market.commitInterval(K, orders, trades);
        assertEq(_locked(buyer), 96, "800 Wh * 120 / 1000 = 96 exactly");
    }

    function test_commit_LockIsAtMostTheOrderCap() public {
        // Two partial fills of one buy order: each alone rounds up, the order's lock does not
        // exceed ceil(energyWh * pricePerKwh / 1000) of the order.
        address second = _admit(0xA2);
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](3);
        orders[0] = _sign(SELLER_KEY, _order(seller, SELL, 1, 1, 1));
        orders[1] = _sign(0xA2, _order(second, SELL, 1, 1, 1));
        orders[2] = _sign(BUYER_KEY, _order(buyer, BUY, 2, 1, 1));
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](2);
        trades[0] = _trade(0, 2, 1, 1);
        trades[1] = _trade(1, 2, 1, 1);
        _sortOrders(orders, trades);
        market.commitInterval(K, orders, trades);
        assertEq(_locked(buyer), 1, "ceil(2 * 1 / 1000) = 1, not 1 + 1");
    }

    // ------------------------------------------------------------ commit: reverts

    function test_commit_RevertWhen_NoTrades() public {
        (IQuartierMarket.SignedOrder[] memory orders,) = _book(_trade(0, 1, 800, 120));
        _expectCommitRevert(
            orders,
            new IQuartierMarket.Trade[](0),
            abi.encodeWithSelector(IQuartierMarket.MarketNoTrades.selector, K)
        );
    }

    function test_commit_RevertWhen_IntervalAlreadyCommitted() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        market.commitInterval(K, orders, trades);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketIntervalAlreadyCommitted.selector, K)
        );
    }

    function test_commit_RevertWhen_OrdersStillOpen() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        uint256 start = uint256(K) * 900;
        vm.warp(start - 1);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketOrdersStillOpen.selector, K, start, start - 1
            )
        );
    }

    function test_commit_GateLeadClosesTheBookEarlier() public {
        market = new QuartierMarket(registry, token, 300);
        _fund(buyer, 1_000);
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        uint256 gate = uint256(K) * 900 - 300;
        vm.warp(gate - 1);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketOrdersStillOpen.selector, K, gate, gate - 1
            )
        );
        vm.warp(gate);
        market.commitInterval(K, orders, trades);
        assertEq(market.gateClosureOf(K), gate, "gate closure view");
    }

    function test_commit_RevertWhen_OrderIntervalMismatch() public {
        IQuartierMarket.Order memory buy = _order(buyer, BUY, 800, 150, 1);
        buy.intervalId = K + 1;
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _bookOf(_order(seller, SELL, 1000, 100, 1), buy, _trade(0, 1, 800, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketOrderIntervalMismatch.selector, buyIndex, K + 1, K
            )
        );
    }

    function test_commit_RevertWhen_InvalidSide() public {
        IQuartierMarket.Order memory buy = _order(buyer, 2, 800, 150, 1);
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _bookOf(_order(seller, SELL, 1000, 100, 1), buy, _trade(0, 1, 800, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketInvalidSide.selector, buyIndex, 2)
        );
    }

    function test_commit_RevertWhen_OrderRepeated() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        IQuartierMarket.SignedOrder[] memory twice = new IQuartierMarket.SignedOrder[](3);
        (twice[0], twice[1], twice[2]) = (orders[0], orders[1], orders[1]);
        _expectCommitRevert(
            twice, trades, abi.encodeWithSelector(IQuartierMarket.MarketOrdersNotSorted.selector, 2)
        );
    }

    function test_commit_RevertWhen_OrdersNotSorted() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        (orders[0], orders[1]) = (orders[1], orders[0]);
        (trades[0].sellOrderIndex, trades[0].buyOrderIndex) =
        (trades[0].buyOrderIndex, trades[0].sellOrderIndex);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketOrdersNotSorted.selector, 1)
        );
    }

    function test_commit_RevertWhen_NotMember() public {
        address outsider = vm.addr(OUTSIDER_KEY);
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](2);
        orders[0] = _sign(SELLER_KEY, _order(seller, SELL, 1000, 100, 1));
        orders[1] = _sign(OUTSIDER_KEY, _order(outsider, BUY, 800, 150, 1));
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](1);
        trades[0] = _trade(0, 1, 800, 120);
        _sortOrders(orders, trades);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketNotMember.selector, outsider)
        );
    }

    function test_commit_RevertWhen_ForgedOrderOfZeroAddress() public {
        // ecrecover returns address(0) for a garbage signature: a "household" 0 must still
        // be refused, even as the first order where no previous household was seen.
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](2);
        orders[0] = IQuartierMarket.SignedOrder({
            order: _order(address(0), SELL, 1000, 0, 1), v: 27, r: bytes32(0), s: bytes32(0)
        });
        orders[1] = _sign(BUYER_KEY, _order(buyer, BUY, 800, 150, 1));
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](1);
        trades[0] = _trade(0, 1, 800, 120);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketNotMember.selector, address(0))
        );
    }

    function test_commit_RevertWhen_OrderCancelled() public {
        vm.prank(buyer);
        market.cancelNonce(1);
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketOrderCancelled.selector, buyer, 1)
        );
    }

    function test_commit_RevertWhen_SignedByAnotherKey() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        orders[buyIndex] = _sign(SELLER_KEY, orders[buyIndex].order);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketInvalidOrderSignature.selector, buyIndex, buyer, seller
            )
        );
    }

    function test_commit_RevertWhen_OrderTamperedAfterSigning() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        orders[buyIndex].order.pricePerKwh = 200; // the matcher raises the buyer's limit
        vm.expectRevert(); // the recovered signer is some unrelated address
        market.commitInterval(K, orders, trades);
    }

    function test_commit_RevertWhen_HighSSignature() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        // (r, n - s, v ^ 1) is the same signature's malleable twin: refused.
        uint256 n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;
        orders[buyIndex].s = bytes32(n - uint256(orders[buyIndex].s));
        orders[buyIndex].v = orders[buyIndex].v == 27 ? 28 : 27;
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketInvalidOrderSignature.selector, buyIndex, buyer, address(0)
            )
        );
    }

    function test_commit_RevertWhen_TradeOrderOutOfRange() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        trades[0].buyOrderIndex = 2;
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketTradeOrderOutOfRange.selector, 0, 2)
        );
    }

    function test_commit_RevertWhen_TradeSideMismatch() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        trades[0].sellOrderIndex = uint32(buyIndex); // a buy order used as the sell side
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketTradeSideMismatch.selector, 0, buyIndex)
        );
    }

    function test_commit_RevertWhen_SelfTrade() public {
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](2);
        orders[0] = _sign(BUYER_KEY, _order(buyer, SELL, 1000, 100, 1));
        orders[1] = _sign(BUYER_KEY, _order(buyer, BUY, 800, 150, 2));
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](1);
        trades[0] = _trade(0, 1, 800, 120);
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketSelfTrade.selector, 0, buyer)
        );
    }

    function test_commit_RevertWhen_ZeroEnergyTrade() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 0, 120));
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketZeroEnergyTrade.selector, 0)
        );
    }

    function test_commit_RevertWhen_BuyerLimitExceeded() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 151));
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketBuyerLimitExceeded.selector, 0, 151, 150)
        );
    }

    function test_commit_RevertWhen_SellerLimitNotMet() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 99));
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketSellerLimitNotMet.selector, 0, 99, 100)
        );
    }

    function test_commit_RevertWhen_TradeExceedsBuyOrder() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 801, 120));
        uint256 buyIndex = trades[0].buyOrderIndex;
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketTradeExceedsOrder.selector, buyIndex, 801, 800
            )
        );
    }

    function test_commit_RevertWhen_TradesTogetherExceedSellOrder() public {
        address second = _admit(0xB2);
        _fund(second, 1_000);
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](3);
        orders[0] = _sign(SELLER_KEY, _order(seller, SELL, 1000, 100, 1));
        orders[1] = _sign(BUYER_KEY, _order(buyer, BUY, 800, 150, 1));
        orders[2] = _sign(0xB2, _order(second, BUY, 800, 150, 1));
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](2);
        trades[0] = _trade(0, 1, 600, 120);
        trades[1] = _trade(0, 2, 401, 120);
        _sortOrders(orders, trades);
        uint256 sellIndex = trades[0].sellOrderIndex;
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(
                IQuartierMarket.MarketTradeExceedsOrder.selector, sellIndex, 1001, 1000
            )
        );
    }

    function test_commit_RevertWhen_BuyerEscrowTooSmall() public {
        vm.prank(buyer);
        market.withdraw(950);
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        _expectCommitRevert(
            orders,
            trades,
            abi.encodeWithSelector(IQuartierMarket.MarketInsufficientEscrow.selector, buyer, 50, 96)
        );
    }

    function test_commit_RevertWhen_HouseholdRemovedAfterSigning() public {
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) =
            _book(_trade(0, 1, 800, 120));
        vm.prank(MANAGER);
        registry.removeHousehold(seller);
        _expectCommitRevert(
            orders, trades, abi.encodeWithSelector(IQuartierMarket.MarketNotMember.selector, seller)
        );
    }

    // ------------------------------------------------------------ fuzz

    /// The lock covers the payment for any delivery, and lock - payment returns to the buyer.
    function testFuzz_commit_LockIsCeilingAndBounded(uint64 energyWh, uint64 pricePerKwh) public {
        energyWh = uint64(bound(energyWh, 1, 1_000_000));
        pricePerKwh = uint64(bound(pricePerKwh, 0, 1_000_000));
        uint256 cost = uint256(energyWh) * pricePerKwh;
        _fund(buyer, cost / 1000 + 1);
        (IQuartierMarket.SignedOrder[] memory orders, IQuartierMarket.Trade[] memory trades) = _bookOf(
            _order(seller, SELL, energyWh, 0, 1),
            _order(buyer, BUY, energyWh, pricePerKwh, 1),
            _trade(0, 1, energyWh, pricePerKwh)
        );
        market.commitInterval(K, orders, trades);
        uint256 locked = _locked(buyer);
        assertGe(locked * 1000, cost, "lock covers the exact cost");
        assertLe(locked * 1000, cost + 999, "lock is the ceiling, not more");
    }
}
// forge-lint: disable-end(unsafe-typecast)
