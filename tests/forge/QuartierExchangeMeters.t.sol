// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {ExchangeBase} from "./utils/ExchangeBase.sol";
import {SettlementScenario} from "./utils/SettlementScenario.sol";
import {IQuartierExchange} from "../../contracts/interfaces/IQuartierExchange.sol";

/// Meter batches: forced inclusion, chaining, and what settlement does with missing, posted
/// and inline data (on the hand-computed scenario of QuartierExchangeSettle).
contract QuartierExchangeMetersTest is SettlementScenario {
    function _deadline() internal view returns (uint256) {
        return _periodStart(P + 1) + initialRules().settlementDeadlineSeconds;
    }

    // ------------------------------------------------------- withheld batches

    function test_settle_RevertWhen_MeterWithheldBeforeDeadline() public {
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        list[_indexOf(list, s2)].meters = _meters(_missing());
        bytes memory hints = _hints(list, P);
        vm.warp(_deadline() - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeMeterDataMissing.selector, meterS2, P, _deadline()
            )
        );
        exchange.settlePeriod(P, list, hints);
    }

    /// Past the deadline S2's silent meter measures 0: S = 1000 (S1), B = 1900, D = 1000;
    /// buyers floor(1400 x 1000 / 1900) = 736 and floor(500 x 1000 / 1900) = 263, 1 Wh to the
    /// first by h. At p = 125: S1 +125, S2 0, B1 -93 / B2 -33 (B1 first: 92.125, 32.875) or
    /// B1 -92 / B2 -33 (B2 first: 92.0, 33.0). Every lock is released.
    function test_settle_WithheldMeterAfterDeadline_ZeroDeliveryAndNothingLocked() public {
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        list[_indexOf(list, s2)].meters = _meters(_missing());
        bytes memory hints = _hints(list, P);
        vm.warp(_deadline());
        vm.prank(SETTLER);
        exchange.settlePeriod(P, list, hints);
        bool b1First = _firstOf(b1, b2) == b1;
        assertEq(_free(s1), 125, "S1 paid for what it exported");
        assertEq(_free(s2), 0, "S2 gets nothing without data");
        assertEq(_free(b1), FUND - (b1First ? 93 : 92), "B1");
        assertEq(_free(b2), FUND - 33, "B2");
        assertEq(_free(SETTLER), b1First ? 1 : 0, "rounding");
        address[5] memory all = [s1, s2, b1, b2, SETTLER];
        uint256 total;
        for (uint256 i; i < all.length; ++i) {
            assertEq(_locked(all[i]), 0, "nothing stays locked");
            total += _free(all[i]);
        }
        assertEq(total, token.balanceOf(address(exchange)), "escrow == tokens held");
        // The silent meter's chain did not move; a later batch for P is still possible.
        (uint64 next,,) = exchange.meterChain(meterS2);
        assertEq(next, 0, "no batch accepted for S2");
    }

    // ---------------------------------------------------------- posted batches

    function test_postMeterBatches_ChainsAndRecordsTheHash() public {
        IQuartierExchange.MeterBatch memory batch = _meterOf(s1);
        _warpToSettle(P);
        vm.expectEmit(true, true, true, true);
        emit IQuartierExchange.MeterBatchAccepted(meterS1, P, 10_000, 51_000);
        vm.prank(address(0xDEAD));
        exchange.postMeterBatches(_batches(batch));
        (uint64 next, uint64 endImportWh, uint64 endExportWh) = exchange.meterChain(meterS1);
        assertEq(next, P + 1, "next period");
        assertEq(endImportWh, 10_000, "import register");
        assertEq(endExportWh, 51_000, "export register");
        assertTrue(exchange.postedBatchHash(meterS1, P) != bytes32(0), "posted hash kept");
    }

    function test_settle_PostedBatchGivesTheSameResult() public {
        IQuartierExchange.MeterBatch memory batch = _meterOf(s1);
        _warpToSettle(P);
        exchange.postMeterBatches(_batches(batch));
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        list[_indexOf(list, s1)].meters = _meters(_posted(batch));
        _settle(list);
        assertEq(_free(s1), 125, "as with the batch inline");
        assertEq(_free(b1), FUND - 157, "B1 as inline");
    }

    function test_settle_RevertWhen_PostedBatchNotTheOneUsed() public {
        IQuartierExchange.MeterBatch memory batch = _meterOf(s1);
        _warpToSettle(P);
        exchange.postMeterBatches(_batches(batch));
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        uint256 h = _indexOf(list, s1);
        bytes memory hints = _hints(list, P);
        bytes memory mismatch = abi.encodeWithSelector(
            IQuartierExchange.ExchangePostedBatchMismatch.selector, meterS1, P
        );
        // Inline (the scenario's default) although a batch was posted.
        vm.expectRevert(mismatch);
        exchange.settlePeriod(P, list, hints);
        // Posted, but with other deltas.
        IQuartierExchange.MeterData memory altered = _posted(batch);
        altered.deltas = _firstOnly(0, 999);
        list[h].meters = _meters(altered);
        vm.expectRevert(mismatch);
        exchange.settlePeriod(P, list, hints);
        // Left out, even past the deadline.
        list[h].meters = _meters(_missing());
        vm.warp(_deadline());
        vm.expectRevert(mismatch);
        exchange.settlePeriod(P, list, hints);
    }

    function test_settle_RevertWhen_PostedClaimedButNothingPosted() public {
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        list[_indexOf(list, s1)].meters = _meters(_posted(_meterOf(s1)));
        bytes memory hints = _hints(list, P);
        _warpToSettle(P);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangePostedBatchMismatch.selector, meterS1, P
            )
        );
        exchange.settlePeriod(P, list, hints);
    }

    function test_postMeterBatches_RevertWhen_ReplayedOrPeriodTwice() public {
        IQuartierExchange.MeterBatch memory batch = _meterOf(s1);
        _warpToSettle(P);
        exchange.postMeterBatches(_batches(batch));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBatchExists.selector, meterS1, P)
        );
        exchange.postMeterBatches(_batches(batch));
        // Another batch for the same period (other deltas, validly signed) is refused too.
        IQuartierExchange.MeterBatch memory other =
            _batch(meterS1, P, 10_000, 50_000, _firstOnly(0, 1));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBatchExists.selector, meterS1, P)
        );
        exchange.postMeterBatches(_batches(other));
    }

    function test_postMeterBatches_RevertWhen_AfterInlineSettlement() public {
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        _warpToSettle(P);
        _settle(list);
        IQuartierExchange.MeterBatch memory batch = _meterOf(s1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBatchExists.selector, meterS1, P)
        );
        exchange.postMeterBatches(_batches(batch));
    }

    function test_postMeterBatches_RevertWhen_NotChained() public {
        IQuartierExchange.MeterBatch memory batch = _meterOf(s1);
        vm.warp(_periodStart(P + 4));
        exchange.postMeterBatches(_batches(batch));
        // End registers of P: (10,000, 51,000).
        IQuartierExchange.MeterBatch[4] memory bad = [
            _batch(meterS1, P + 1, 10_000, 51_001, _flat(0, 0)), // next period, other start
            _batch(meterS1, P + 1, 9_999, 51_000, _flat(0, 0)), // next period, other start
            _batch(meterS1, P + 2, 10_000, 50_999, _flat(0, 0)), // gap, export went back
            _batch(meterS1, P - 1, 0, 0, _flat(0, 0)) // an older period
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IQuartierExchange.ExchangeBatchNotChained.selector, meterS1, bad[i].periodId, P
                )
            );
            exchange.postMeterBatches(_batches(bad[i]));
        }
        // A gap may start higher (registers counted while no batch was accepted).
        exchange.postMeterBatches(_batches(_batch(meterS1, P + 2, 10_500, 51_000, _flat(0, 0))));
        // And P + 3 must start exactly where P + 2 ended.
        exchange.postMeterBatches(_batches(_batch(meterS1, P + 3, 10_500, 51_000, _flat(1, 2))));
        (uint64 next, uint64 endImportWh, uint64 endExportWh) = exchange.meterChain(meterS1);
        assertEq(next, P + 4, "chain at P + 3");
        assertEq(endImportWh, 10_504, "import");
        assertEq(endExportWh, 51_008, "export");
    }

    /// The erase-your-purchases attack: B1 bought in P; with P still open (waiting, e.g. for
    /// its deadline), B1 gets a batch of P + 1 accepted first, so that its batch of P could
    /// never chain in and P would settle with 0 Wh for it. The batch of P + 1 is refused,
    /// posted or first in the chain, until P is settled; P settles with B1's real data.
    function test_postMeterBatches_RevertWhen_AnEarlierPeriodIsOpen() public {
        vm.warp(_periodStart(P + 2));
        // Chained from the meter's admission (period P0, no posting): P is open.
        IQuartierExchange.MeterBatch memory skipping =
            _batch(meterB1, P + 1, 31_400, 70_000, _flat(0, 0));
        bytes memory open = abi.encodeWithSelector(
            IQuartierExchange.ExchangeEarlierPeriodOpen.selector, meterB1, P
        );
        vm.prank(b1);
        vm.expectRevert(open);
        exchange.postMeterBatches(_batches(skipping));
        // Past P's deadline too (the attacker's aim: P settling without B1's data).
        _warpPastDeadline(P + 1);
        vm.expectRevert(open);
        exchange.postMeterBatches(_batches(skipping));
        // B1's batch of P still enters, and P settles with it.
        exchange.postMeterBatches(_batches(_meterOf(b1)));
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        list[_indexOf(list, b1)].meters = _meters(_posted(_meterOf(b1)));
        _settle(list);
        assertEq(_free(b1), FUND - 157, "B1 pays for the 1400 Wh it imported");
        // P settled: the batch of P + 1 now chains from P's.
        exchange.postMeterBatches(_batches(skipping));
        (uint64 next,,) = exchange.meterChain(meterB1);
        assertEq(next, P + 2, "chain at P + 1");
    }

    /// A gap in the chain passes only over settled periods or periods nobody posted for.
    function test_postMeterBatches_GapOverSettledOrEmptyPeriods() public {
        // P + 1: a period with a posting, left open; P + 2 has none.
        vm.warp(_periodStart(P));
        IQuartierExchange.Schedule memory later =
            _schedule(b2, P + 1, 1, _firstInterval(P + 1), _entry(BUY, 1000, 130));
        exchange.postSchedules(_one(_sign(householdKeys[b2], later)));
        _warpToSettle(P);
        _settle(_scenario()); // P settled, every meter's chain at P
        vm.warp(_periodStart(P + 4));
        // S1 skips P + 1 (open): refused.
        IQuartierExchange.MeterBatch memory third =
            _batch(meterS1, P + 3, 10_000, 51_000, _flat(0, 0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeEarlierPeriodOpen.selector, meterS1, P + 1
            )
        );
        exchange.postMeterBatches(_batches(third));
        // Its batch of P + 1 chains (nothing open before it), then P + 3 passes P + 2 (empty).
        exchange.postMeterBatches(_batches(_batch(meterS1, P + 1, 10_000, 51_000, _flat(0, 0))));
        exchange.postMeterBatches(_batches(third));
        (uint64 next,,) = exchange.meterChain(meterS1);
        assertEq(next, P + 4, "chain at P + 3");
    }

    function test_postMeterBatches_RevertWhen_BadSignature() public {
        _warpToSettle(P);
        bytes memory deltas = _firstOnly(0, 1000);
        IQuartierExchange.MeterBatch memory batch = _batch(meterS1, P, 10_000, 50_000, deltas);
        bytes memory refused = abi.encodeWithSelector(
            IQuartierExchange.ExchangeBadMeterSignature.selector, meterS1, P
        );
        // Signed by S2's meter key.
        IQuartierExchange.MeterBatch memory forged = batch;
        forged.signature =
            _signP256(0x1052, exchange.meterBatchDigest(meterS1, P, 10_000, 50_000, deltas));
        vm.expectRevert(refused);
        exchange.postMeterBatches(_batches(forged));
        // The high-s twin of a valid signature (P256VERIFY itself would accept it).
        (bytes32 r, bytes32 s) = abi.decode(batch.signature, (bytes32, bytes32));
        IQuartierExchange.MeterBatch memory twin = _batch(meterS1, P, 10_000, 50_000, deltas);
        twin.signature = abi.encodePacked(r, bytes32(P256_N - uint256(s)));
        vm.expectRevert(refused);
        exchange.postMeterBatches(_batches(twin));
        // Tampered deltas.
        IQuartierExchange.MeterBatch memory tampered = _batch(meterS1, P, 10_000, 50_000, deltas);
        tampered.deltas = _firstOnly(0, 2000);
        vm.expectRevert(refused);
        exchange.postMeterBatches(_batches(tampered));
        // Not 64 bytes.
        IQuartierExchange.MeterBatch memory short = _batch(meterS1, P, 10_000, 50_000, deltas);
        short.signature = abi.encodePacked(r);
        vm.expectRevert(refused);
        exchange.postMeterBatches(_batches(short));
    }

    function test_postMeterBatches_RevertWhen_MalformedOrOutOfTime() public {
        IQuartierExchange.MeterBatch memory early = _meterOf(s1);
        uint256 endsAt = _periodStart(P + 1);
        vm.warp(endsAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangePeriodNotOver.selector, P, endsAt)
        );
        exchange.postMeterBatches(_batches(early));
        vm.warp(endsAt);
        IQuartierExchange.MeterBatch memory short = _batch(meterS1, P, 0, 0, hex"0000000000000001");
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBadDeltas.selector, meterS1, 8, 32)
        );
        exchange.postMeterBatches(_batches(short));
        IQuartierExchange.MeterBatch memory unknown = _meterOf(s1);
        unknown.meterId = bytes32(uint256(0xBAD));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeUnknownMeter.selector, bytes32(uint256(0xBAD))
            )
        );
        exchange.postMeterBatches(_batches(unknown));
        // A meter admitted now counts for no interval of P.
        bytes32 late = _admitMeter(s1, 0x2051);
        IQuartierExchange.MeterBatch memory outside = _batch(late, P, 0, 0, _flat(0, 1));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeMeterOutsidePeriod.selector, late, P)
        );
        exchange.postMeterBatches(_batches(outside));
    }
}

/// A meter admitted after interval 0 of P began counts from interval 1 on: its seller is paid
/// for interval 1 only, though its batch shows an export in both.
contract QuartierExchangeLateMeterTest is ExchangeBase {
    function test_settle_MeterAdmittedMidIntervalDoesNotCountForIt() public {
        address seller = _admit(0x51);
        address buyer = _admit(0xB1);
        bytes32 buyerMeter = _admitMeter(buyer, 0x10B1);
        _fund(buyer, 1_000);
        uint64 first = _firstInterval(P);
        IQuartierExchange.Posting memory sell = _post(seller, 1, first, _repeat(SELL, 100, 100, 2));
        IQuartierExchange.Posting memory buy = _post(buyer, 1, first, _repeat(BUY, 100, 100, 2));
        vm.warp(_periodStart(P) + 1);
        bytes32 sellerMeter = _admitMeter(seller, 0x1051);
        uint32[] memory none = new uint32[](4);
        uint32[] memory both = new uint32[](4);
        both[0] = 100;
        both[1] = 100;
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](2);
        list[0] = _household(
            seller,
            _postings(sell),
            _meters(_inline(_batch(sellerMeter, P, 0, 0, _deltas(none, both))))
        );
        list[1] = _household(
            buyer,
            _postings(buy),
            _meters(_inline(_batch(buyerMeter, P, 0, 0, _deltas(both, none))))
        );
        list = _sorted(list);
        _warpToSettle(P);
        bytes memory intervals = bytes.concat(
            abi.encodePacked(uint64(100), uint32(100), uint32(0)),
            abi.encodePacked(uint64(100), uint32(100), uint32(100)),
            abi.encodePacked(uint64(0), uint32(0), uint32(0)),
            abi.encodePacked(uint64(0), uint32(0), uint32(0))
        );
        vm.expectEmit(true, true, true, true);
        emit IQuartierExchange.PeriodCleared(P, intervals);
        _settle(list);
        // 100 Wh at 100 per kWh = 10 units, once.
        assertEq(_free(seller), 10, "paid for interval 1 only");
        assertEq(_free(buyer), 990, "charged for interval 1 only");
    }
}

/// A household removed during interval 1 of P: its entries count for interval 0 only (a
/// membership counts for k iff it lasts until end(k)); its whole lock is still released.
contract QuartierExchangeRemovedMemberTest is ExchangeBase {
    function test_settle_RemovedMemberCountsOnlyForWholeIntervals() public {
        address seller = _admit(0x51);
        address buyer = _admit(0xB1);
        bytes32 sellerMeter = _admitMeter(seller, 0x1051);
        bytes32 buyerMeter = _admitMeter(buyer, 0x10B1);
        _fund(buyer, 1_000);
        uint64 first = _firstInterval(P);
        IQuartierExchange.Posting memory sell = _post(seller, 1, first, _repeat(SELL, 100, 100, 4));
        IQuartierExchange.Posting memory buy = _post(buyer, 1, first, _repeat(BUY, 100, 100, 4));
        assertEq(_locked(buyer), 40, "4 x 100 Wh at 100");
        vm.warp(_periodStart(P) + INTERVAL_SECONDS + 1);
        vm.prank(MANAGER);
        community.removeHousehold(buyer);
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](2);
        list[0] = _household(
            seller, _postings(sell), _meters(_inline(_batch(sellerMeter, P, 0, 0, _flat(0, 100))))
        );
        list[1] = _household(
            buyer, _postings(buy), _meters(_inline(_batch(buyerMeter, P, 0, 0, _flat(100, 0))))
        );
        list = _sorted(list);
        // Interval 0 matches (both count); from interval 1 on the buyer's entries do not.
        bytes memory interval0 = abi.encodePacked(uint8(1), uint32(100), uint32(100));
        bytes memory hints = bytes.concat(interval0, hex"000000");
        _warpToSettle(P);
        // Claiming interval 1's match as if the removed buyer still counted is refused.
        bytes memory stale = bytes.concat(interval0, interval0, hex"0000");
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBadHint.selector, first + 1, 9)
        );
        exchange.settlePeriod(P, list, stale);
        vm.prank(SETTLER);
        exchange.settlePeriod(P, list, hints);
        assertEq(_free(seller), 10, "paid for interval 0 only");
        assertEq(_free(buyer), 990, "charged for interval 0, the whole lock released");
        assertEq(_locked(buyer), 0, "nothing locked");
    }
}

/// A meter revoked during interval 2 of P counts for intervals 0 and 1 only (revokedAt >=
/// end(k)): its seller is paid for those two, though its batch shows exports in all four.
contract QuartierExchangeRevokedMeterTest is ExchangeBase {
    function test_settle_RevokedMeterStopsCountingMidPeriod() public {
        address seller = _admit(0x51);
        address buyer = _admit(0xB1);
        bytes32 sellerMeter = _admitMeter(seller, 0x1051);
        bytes32 buyerMeter = _admitMeter(buyer, 0x10B1);
        _fund(buyer, 1_000);
        uint64 first = _firstInterval(P);
        IQuartierExchange.Posting memory sell = _post(seller, 1, first, _repeat(SELL, 100, 100, 4));
        IQuartierExchange.Posting memory buy = _post(buyer, 1, first, _repeat(BUY, 100, 100, 4));
        vm.warp(_periodStart(P) + 2 * INTERVAL_SECONDS + 1);
        vm.prank(MANAGER);
        community.revokeMeter(sellerMeter);
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](2);
        list[0] = _household(
            seller, _postings(sell), _meters(_inline(_batch(sellerMeter, P, 0, 0, _flat(0, 100))))
        );
        list[1] = _household(
            buyer, _postings(buy), _meters(_inline(_batch(buyerMeter, P, 0, 0, _flat(100, 0))))
        );
        list = _sorted(list);
        _warpToSettle(P);
        _settle(list);
        assertEq(_free(seller), 20, "paid for intervals 0 and 1");
        assertEq(_free(buyer), 980, "charged for those two only");
        assertEq(_locked(buyer), 0, "nothing locked");
    }
}

/// A seller with two meters: its flow is their sum (m_h = Σ over its counting meters).
contract QuartierExchangeTwoMetersTest is ExchangeBase {
    function test_settle_SumsAHouseholdsMeters() public {
        address seller = _admit(0x51);
        address buyer = _admit(0xB1);
        bytes32 roof = _admitMeter(seller, 0x1051);
        bytes32 shed = _admitMeter(seller, 0x1052);
        bytes32 buyerMeter = _admitMeter(buyer, 0x10B1);
        _fund(buyer, 1_000);
        uint64 first = _firstInterval(P);
        IQuartierExchange.Posting memory sell = _post(seller, 1, first, _entry(SELL, 100, 100));
        IQuartierExchange.Posting memory buy = _post(buyer, 1, first, _entry(BUY, 100, 100));
        IQuartierExchange.MeterData[] memory meters = new IQuartierExchange.MeterData[](2);
        meters[0] = _inline(_batch(roof, P, 0, 0, _flat(0, 60)));
        meters[1] = _inline(_batch(shed, P, 0, 0, _flat(0, 30)));
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](2);
        list[0] = _household(seller, _postings(sell), meters);
        list[1] = _household(
            buyer, _postings(buy), _meters(_inline(_batch(buyerMeter, P, 0, 0, _flat(100, 0))))
        );
        list = _sorted(list);
        _warpToSettle(P);
        _settle(list);
        // o = min(100, 60 + 30) = 90 Wh at p = 100: 9 units.
        assertEq(_free(seller), 9, "both meters count");
        assertEq(_free(buyer), 991, "buyer pays for 90 Wh");
    }
}
