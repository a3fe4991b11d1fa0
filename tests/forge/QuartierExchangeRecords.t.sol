// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ExchangeBase} from "./utils/ExchangeBase.sol";
import {IQuartierExchange} from "../../contracts/interfaces/IQuartierExchange.sol";

/// A household's schedule record reuses the slot of its last period of the same parity once
/// that period is settled, and never overwrites an unsettled one (IQuartierExchange,
/// "Schedules").
contract QuartierExchangeRecordsTest is ExchangeBase {
    address internal alice;

    function setUp() public override {
        super.setUp();
        alice = _admit(0xA1);
        _fund(alice, 1_000);
    }

    function _postFor(uint64 periodId, uint32 version, bytes memory entries)
        internal
        returns (IQuartierExchange.Posting memory posting, uint256 gasUsed)
    {
        uint64 first = _firstInterval(periodId);
        IQuartierExchange.SignedSchedule[] memory one =
            _one(_sign(0xA1, _schedule(alice, periodId, version, first, entries)));
        uint256 before = gasleft();
        exchange.postSchedules(one);
        gasUsed = before - gasleft();
        posting = IQuartierExchange.Posting(version, first, entries);
    }

    function _settleAlone(uint64 periodId, IQuartierExchange.Posting[] memory postings) internal {
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](1);
        list[0] = _household(alice, postings, new IQuartierExchange.MeterData[](0));
        bytes memory hints = _hints(list, periodId);
        exchange.settlePeriod(periodId, list, hints);
    }

    function test_record_UnsettledPeriodIsNeverOverwritten() public {
        bytes memory buy = _entry(BUY, 100, 100);
        (IQuartierExchange.Posting memory p1,) = _postFor(P, 1, buy);
        (bytes32 headP,,) = exchange.scheduleRecord(alice, P);
        // In P + 1, P (same parity as P + 2) has ended but is not settled.
        vm.warp(_periodStart(P + 1));
        (IQuartierExchange.Posting memory q1,) = _postFor(P + 2, 1, buy);
        (bytes32 stillP, uint32 versionP, uint32 postingsP) = exchange.scheduleRecord(alice, P);
        assertEq(stillP, headP, "P's commitment kept");
        assertEq(versionP, 1, "P's version kept");
        assertEq(postingsP, 1, "P's count kept");
        // P settles with its own posting; then P + 2's second posting still finds its first.
        _settleAlone(P, _postings(p1));
        (IQuartierExchange.Posting memory q2,) = _postFor(P + 2, 2, buy);
        (,, uint32 postingsQ) = exchange.scheduleRecord(alice, P + 2);
        assertEq(postingsQ, 2, "P + 2 keeps both postings");
        _warpToSettle(P + 2);
        _settleAlone(P + 2, _postings(q1, q2));
        assertTrue(exchange.isSettled(P + 2), "P + 2 settled");
        assertEq(_locked(alice), 0, "every lock released");
    }

    function test_record_SettledPeriodsSlotIsReused() public {
        bytes memory buy = _entry(BUY, 100, 100);
        (IQuartierExchange.Posting memory p1, uint256 freshGas) = _postFor(P, 1, buy);
        vm.warp(_periodStart(P + 1));
        _settleAlone(P, _postings(p1));
        (, uint256 reusedGas) = _postFor(P + 2, 1, buy);
        // A zero slot written costs 20,000; one written before 2,900.
        assertLe(reusedGas + 10_000, freshGas, "P + 2 reuses P's slot");
        (bytes32 head, uint32 version, uint32 postings) = exchange.scheduleRecord(alice, P + 2);
        assertTrue(head != bytes32(0), "P + 2's commitment");
        assertEq(version, 1, "P + 2's version starts afresh");
        assertEq(postings, 1, "P + 2's count starts afresh");
        // The settled period's record is released: settlement is final.
        (,, uint32 settledPostings) = exchange.scheduleRecord(alice, P);
        assertEq(settledPostings, 0, "P's record released");
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](1);
        list[0] = _household(alice, _postings(p1), new IQuartierExchange.MeterData[](0));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeAlreadySettled.selector, P)
        );
        exchange.settlePeriod(P, list, hex"00000000");
    }
}
