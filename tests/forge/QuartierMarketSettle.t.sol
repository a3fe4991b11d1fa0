// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MarketBase} from "./utils/MarketBase.sol";
import {IQuartierMarket} from "../../contracts/interfaces/IQuartierMarket.sol";

/// Settlement: proofs of boundary readings, the pro-rata rule, payments and releases.
contract QuartierMarketSettleTest is MarketBase {
    uint256 internal constant SELLER_KEY = 0xA1;
    uint256 internal constant BUYER_B_KEY = 0xB1;
    uint256 internal constant BUYER_C_KEY = 0xC1;
    uint256 internal constant FUNDS = 1_000;

    address internal seller;
    address internal buyerB;
    address internal buyerC;
    bytes32 internal meterS;
    bytes32 internal meterB;
    bytes32 internal meterC;

    IQuartierMarket.SignedOrder[] internal storedOrders;
    IQuartierMarket.Trade[] internal storedTrades;

    function setUp() public override {
        super.setUp();
        seller = _admit(SELLER_KEY);
        buyerB = _admit(BUYER_B_KEY);
        buyerC = _admit(BUYER_C_KEY);
        meterS = _admitMeter(seller, 0x1001);
        meterB = _admitMeter(buyerB, 0x1002);
        meterC = _admitMeter(buyerC, 0x1003);
        _fund(buyerB, FUNDS);
        _fund(buyerC, FUNDS);
    }

    /// S sells 1000 Wh at >= 100; B buys 600 and C buys 400 at <= 150; both trades at `price`.
    function _commit(uint64 energyB, uint64 energyC, uint64 price) internal {
        IQuartierMarket.SignedOrder[] memory orders = new IQuartierMarket.SignedOrder[](3);
        orders[0] = _sign(SELLER_KEY, _order(seller, SELL, 1000, 100, 1));
        orders[1] = _sign(BUYER_B_KEY, _order(buyerB, BUY, 600, 150, 1));
        orders[2] = _sign(BUYER_C_KEY, _order(buyerC, BUY, 400, 150, 1));
        IQuartierMarket.Trade[] memory trades = new IQuartierMarket.Trade[](2);
        trades[0] = _trade(0, 1, energyB, price);
        trades[1] = _trade(0, 2, energyC, price);
        _sortOrders(orders, trades);
        market.commitInterval(K, orders, trades);
        for (uint256 i; i < orders.length; ++i) {
            storedOrders.push(orders[i]);
        }
        for (uint256 i; i < trades.length; ++i) {
            storedTrades.push(trades[i]);
        }
    }

    /// R(K-1) now, then R(K) one interval later, with the given interval-K deltas.
    function _meter(bytes32 meterId, uint64 importWh, uint64 exportWh) internal {
        _submit(meterId, _values(K - 1, 5_000, 7_000, 10));
        uint256 end = (uint256(K) + 1) * 900;
        // forge-lint: disable-next-line(block-timestamp) the test moves the clock itself
        if (block.timestamp < end) vm.warp(end);
        _submit(meterId, _values(K, 5_000 + importWh, 7_000 + exportWh, 11));
    }

    function _meters(uint64 exportS, uint64 importB, uint64 importC) internal {
        _submit(meterS, _values(K - 1, 5_000, 7_000, 10));
        _submit(meterB, _values(K - 1, 5_000, 7_000, 10));
        _submit(meterC, _values(K - 1, 5_000, 7_000, 10));
        vm.warp((uint256(K) + 1) * 900);
        _submit(meterS, _values(K, 5_000, 7_000 + exportS, 11));
        _submit(meterB, _values(K, 5_000 + importB, 7_000, 11));
        _submit(meterC, _values(K, 5_000 + importC, 7_000, 11));
    }

    /// One entry per distinct household in the (sorted) order list.
    function _households()
        internal
        view
        returns (IQuartierMarket.HouseholdMeters[] memory entries)
    {
        IQuartierMarket.Order[] memory orders = _unsigned(storedOrders);
        entries = new IQuartierMarket.HouseholdMeters[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            address h = orders[i].household;
            entries[i] = _oneMeter(h == seller ? meterS : h == buyerB ? meterB : meterC, K);
        }
    }

    function _settle() internal {
        market.settleInterval(K, _unsigned(storedOrders), storedTrades, _households());
    }

    function _expectSettleRevert(
        IQuartierMarket.HouseholdMeters[] memory entries,
        bytes memory revertData
    ) internal {
        vm.expectRevert(revertData);
        market.settleInterval(K, _unsigned(storedOrders), storedTrades, entries);
    }

    function _assertConserved() internal view {
        uint256 sum;
        address[3] memory all = [seller, buyerB, buyerC];
        for (uint256 i; i < all.length; ++i) {
            (uint256 free, uint256 locked) = market.escrowOf(all[i]);
            sum += free + locked;
        }
        assertEq(sum, token.balanceOf(address(market)), "escrow sums to the market's tokens");
        assertEq(sum, 2 * FUNDS, "nothing created or destroyed");
    }

    // ------------------------------------------------------------ outcomes

    function test_settle_FullDelivery_PaysSellerAndReleasesNothingExtra() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        vm.expectEmit(true, false, false, true);
        emit IQuartierMarket.IntervalSettled(K, 1_000, 120);
        _settle();
        assertEq(_free(seller), 120, "seller paid 1000 Wh * 120 / 1000");
        assertEq(_free(buyerB), FUNDS - 72, "B paid 72");
        assertEq(_free(buyerC), FUNDS - 48, "C paid 48");
        assertEq(_locked(buyerB) + _locked(buyerC), 0, "no lock left");
        assertTrue(market.isSettled(K), "settled");
        _assertConserved();
    }

    function test_settle_SellerShortfall_ScalesEveryTradeOfTheSeller() public {
        _commit(600, 400, 120);
        _meters(500, 600, 400); // the seller exported half of what it sold
        vm.expectEmit(true, true, true, true);
        emit IQuartierMarket.TradeSettled(K, seller, buyerB, 300, 36);
        _settle();
        assertEq(_free(seller), 60, "36 + 24");
        assertEq(_free(buyerB), FUNDS - 36, "B pays for 300 Wh");
        assertEq(_free(buyerC), FUNDS - 24, "C pays for 200 Wh");
        _assertConserved();
    }

    function test_settle_BuyerShortfall_ScalesOnlyThatBuyer() public {
        _commit(600, 400, 120);
        _meters(1_000, 300, 400);
        _settle();
        assertEq(_free(buyerB), FUNDS - 36, "B took 300 Wh");
        assertEq(_free(buyerC), FUNDS - 48, "C unaffected");
        assertEq(_free(seller), 84, "36 + 48");
        _assertConserved();
    }

    function test_settle_BothShort_TakesTheWorseRatioPerTrade() public {
        _commit(600, 400, 120);
        _meters(500, 100, 400);
        // B's trade: min(600 * 500/1000, 600 * 100/600) = 100 Wh; C's: min(200, 400) = 200 Wh.
        _settle();
        assertEq(_free(buyerB), FUNDS - 12, "B pays for 100 Wh");
        assertEq(_free(buyerC), FUNDS - 24, "C pays for 200 Wh");
        assertEq(_free(seller), 36, "12 + 24");
        _assertConserved();
    }

    function test_settle_ExcessMeteringIsCappedAtTheTrade() public {
        _commit(600, 400, 120);
        _meters(9_000, 9_000, 9_000);
        _settle();
        assertEq(_free(seller), 120, "never more than traded");
        _assertConserved();
    }

    function test_settle_PaymentRoundsDownRemainderStaysWithBuyer() public {
        _commit(7, 3, 123); // 7 * 123 = 861 milli-units: lock ceil = 1, payment floor = 0
        assertEq(_locked(buyerB), 1, "lock rounded up");
        _meters(10, 7, 3);
        _settle();
        assertEq(_free(buyerB), FUNDS, "floor(0.861) = 0 paid, 1 released");
        assertEq(_free(seller), 0, "seller receives floor of each payment");
        _assertConserved();
    }

    function test_settle_ProofsStillWorkAfterLaterReadings() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        // Relayers keep appending readings before anyone settles: nothing is overwritten.
        vm.warp((uint256(K) + 4) * 900);
        _submit(meterS, _values(K + 1, 5_000, 8_500, 12));
        _submit(meterS, _values(K + 3, 5_000, 9_000, 13));
        _submit(meterB, _values(K + 2, 6_000, 7_000, 12));
        _settle();
        assertEq(_free(seller), 120, "settled from the proven boundary readings");
        _assertConserved();
    }

    function test_settle_SumsAllMetersOfAHousehold() public {
        bytes32 second = _admitMeter(seller, 0x1004);
        _commit(600, 400, 120);
        _meters(300, 600, 400);
        _meter(second, 0, 700); // the second meter exports the rest
        IQuartierMarket.HouseholdMeters[] memory entries = _households();
        uint256 sellerEntry = _entryOf(seller);
        IQuartierMarket.MeterProof[] memory proofs = new IQuartierMarket.MeterProof[](2);
        (proofs[0], proofs[1]) = meterS < second
            ? (_proof(meterS, K), _proof(second, K))
            : (_proof(second, K), _proof(meterS, K));
        entries[sellerEntry].meters = proofs;
        market.settleInterval(K, _unsigned(storedOrders), storedTrades, entries);
        assertEq(_free(seller), 120, "300 + 700 Wh exported by two meters");
        _assertConserved();
    }

    function _entryOf(address household) internal view returns (uint256) {
        for (uint256 i; i < storedOrders.length; ++i) {
            if (storedOrders[i].order.household == household) return i;
        }
        revert("no such household");
    }

    // ------------------------------------------------------------ reverts

    function test_settle_RevertWhen_IntervalNotCommitted() public {
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierMarket.MarketIntervalNotCommitted.selector, K)
        );
        market.settleInterval(
            K,
            new IQuartierMarket.Order[](0),
            new IQuartierMarket.Trade[](0),
            new IQuartierMarket.HouseholdMeters[](0)
        );
    }

    function test_settle_RevertWhen_AlreadySettled() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        _settle();
        _expectSettleRevert(
            _households(),
            abi.encodeWithSelector(IQuartierMarket.MarketIntervalAlreadySettled.selector, K)
        );
    }

    function test_settle_RevertWhen_TradesDifferFromCommitment() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        storedTrades[0].pricePerKwh = 150; // the settler claims a higher price
        IQuartierMarket.HouseholdMeters[] memory entries = _households();
        IQuartierMarket.Order[] memory orders = _unsigned(storedOrders);
        bytes32 given =
            keccak256(abi.encode(K, _ordersHash(orders), keccak256(abi.encode(storedTrades))));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierMarket.MarketCommitmentMismatch.selector, K, market.commitmentOf(K), given
            )
        );
        market.settleInterval(K, orders, storedTrades, entries);
    }

    function _ordersHash(IQuartierMarket.Order[] memory orders) internal view returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            hashes[i] = market.orderStructHash(orders[i]);
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function test_settle_RevertWhen_HouseholdCountMismatch() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        IQuartierMarket.HouseholdMeters[] memory entries = _households();
        IQuartierMarket.HouseholdMeters[] memory fewer = new IQuartierMarket.HouseholdMeters[](2);
        (fewer[0], fewer[1]) = (entries[0], entries[1]);
        _expectSettleRevert(
            fewer,
            abi.encodeWithSelector(IQuartierMarket.MarketHouseholdCountMismatch.selector, 2, 3)
        );
    }

    function test_settle_RevertWhen_AMeterIsLeftOut() public {
        _admitMeter(buyerB, 0x1005); // B has two meters; the settler gives one
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        _expectSettleRevert(
            _households(),
            abi.encodeWithSelector(IQuartierMarket.MarketMeterCountMismatch.selector, buyerB, 1, 2)
        );
    }

    function test_settle_RevertWhen_MeterNotOfHousehold() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        IQuartierMarket.HouseholdMeters[] memory entries = _households();
        entries[_entryOf(buyerB)] = _oneMeter(meterC, K); // C's meter passed off as B's
        _expectSettleRevert(
            entries,
            abi.encodeWithSelector(
                IQuartierMarket.MarketMeterNotOfHousehold.selector, meterC, buyerB
            )
        );
    }

    function test_settle_RevertWhen_MetersNotSorted() public {
        bytes32 second = _admitMeter(seller, 0x1004);
        _commit(600, 400, 120);
        _meters(300, 600, 400);
        _meter(second, 0, 700);
        IQuartierMarket.HouseholdMeters[] memory entries = _households();
        IQuartierMarket.MeterProof[] memory proofs = new IQuartierMarket.MeterProof[](2);
        (bytes32 low, bytes32 high) = meterS < second ? (meterS, second) : (second, meterS);
        (proofs[0], proofs[1]) = (_proof(high, K), _proof(low, K));
        entries[_entryOf(seller)].meters = proofs;
        _expectSettleRevert(
            entries,
            abi.encodeWithSelector(IQuartierMarket.MarketMetersNotSorted.selector, seller, low)
        );
    }

    function test_settle_RevertWhen_ReadingProofForged() public {
        _commit(600, 400, 120);
        _meters(1_000, 600, 400);
        IQuartierMarket.HouseholdMeters[] memory entries = _households();
        IQuartierMarket.MeterProof memory proof = entries[_entryOf(seller)].meters[0];
        proof.readings[1].exportWhTotal += 500; // claims more export than the meter signed
        bytes32 proven =
            market.chainLink(market.chainLink(proof.link, proof.readings[0]), proof.readings[1]);
        _expectSettleRevert(
            entries,
            abi.encodeWithSelector(
                IQuartierMarket.MarketReadingProofInvalid.selector,
                meterS,
                market.readingHead(meterS),
                proven
            )
        );
    }

    function test_settle_RevertWhen_BoundaryReadingMissing() public {
        _commit(600, 400, 120);
        _submit(meterS, _values(K - 1, 5_000, 7_000, 10));
        _submit(meterC, _values(K - 1, 5_000, 7_000, 10));
        vm.warp((uint256(K) + 1) * 900);
        _submit(meterS, _values(K, 5_000, 8_000, 11));
        _submit(meterB, _values(K, 5_600, 7_000, 11)); // B's R(K-1) never arrived
        _submit(meterC, _values(K, 5_400, 7_000, 11));
        _expectSettleRevert(
            _households(),
            abi.encodeWithSelector(IQuartierMarket.MarketBoundaryReadingMissing.selector, meterB, K)
        );
    }

    // ------------------------------------------------------------ fuzz

    /// For any metered energy: delivered <= traded and <= metered per party, exact conservation.
    function testFuzz_settle_ConservesAndNeverExceeds(
        uint64 energyB,
        uint64 energyC,
        uint64 price,
        uint64 exportS,
        uint64 importB,
        uint64 importC
    ) public {
        energyB = uint64(bound(energyB, 1, 600));
        energyC = uint64(bound(energyC, 1, 400));
        price = uint64(bound(price, 100, 150));
        exportS = uint64(bound(exportS, 0, 1_200));
        importB = uint64(bound(importB, 0, 800));
        importC = uint64(bound(importC, 0, 800));
        _commit(energyB, energyC, price);
        _meters(exportS, importB, importC);
        _settle();
        uint256 paidB = FUNDS - _free(buyerB);
        uint256 paidC = FUNDS - _free(buyerC);
        assertEq(_free(seller), paidB + paidC, "what buyers pay, the seller receives");
        // Payment = floor(d * price / 1000) with d <= min(traded, metered): bound d from it.
        assertLe(
            paidB * 1000,
            uint256(_min(energyB, importB)) * price,
            "B pays for at most min(traded, imported)"
        );
        assertLe(
            paidC * 1000,
            uint256(_min(energyC, importC)) * price,
            "C pays for at most min(traded, imported)"
        );
        assertLe(
            (paidB + paidC) * 1000, uint256(exportS) * price, "S is paid for at most its export"
        );
        assertEq(_locked(buyerB) + _locked(buyerC), 0, "all locks released");
        _assertConserved();
    }

    function _min(uint64 a, uint64 b) internal pure returns (uint64) {
        return a < b ? a : b;
    }
}
