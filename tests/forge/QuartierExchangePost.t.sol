// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {ExchangeBase} from "./utils/ExchangeBase.sol";
import {Vm} from "./utils/Vm.sol";
import {IQuartierExchange} from "../../contracts/interfaces/IQuartierExchange.sol";

/// Escrow and schedule postings: every acceptance condition of "Posting", each broken once.
/// A contract between a household and the exchange (a wallet, a batching relay).
contract PostingWrapper {
    function forward(IQuartierExchange exchange, IQuartierExchange.SignedSchedule[] calldata s)
        external
    {
        exchange.postSchedules(s);
    }
}

contract QuartierExchangePostTest is ExchangeBase {
    address internal alice;
    address internal bob;

    function setUp() public override {
        super.setUp();
        alice = _admit(0xA1);
        bob = _admit(0xB0);
        _fund(alice, 1_000);
    }

    function _signedBy(uint256 key, IQuartierExchange.Schedule memory schedule)
        internal
        view
        returns (IQuartierExchange.SignedSchedule[] memory)
    {
        return _one(_sign(key, schedule));
    }

    // ----------------------------------------------------------------- escrow

    function test_deposit_withdraw_MoveTokens() public {
        assertEq(_free(alice), 1_000, "free after deposit");
        assertEq(token.balanceOf(address(exchange)), 1_000, "exchange holds the deposit");
        vm.prank(alice);
        exchange.withdraw(400);
        assertEq(_free(alice), 600, "free after withdrawal");
        assertEq(token.balanceOf(alice), 400, "tokens back");
    }

    function test_withdraw_RevertWhen_MoreThanFree() public {
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeInsufficientFree.selector, alice, 1_000, 1_001
            )
        );
        exchange.withdraw(1_001);
    }

    function test_withdraw_RevertWhen_AmountLocked() public {
        // 100 Wh at 300 per kWh: lock 30 units; 970 stay free.
        _post(alice, 1, _firstInterval(P), _entry(BUY, 100, 300));
        assertEq(_locked(alice), 30, "locked");
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeInsufficientFree.selector, alice, 970, 971
            )
        );
        exchange.withdraw(971);
    }

    function test_depositAndWithdraw_RevertWhen_Zero() public {
        vm.prank(alice);
        vm.expectRevert(IQuartierExchange.ExchangeZeroAmount.selector);
        exchange.deposit(0);
        vm.prank(alice);
        vm.expectRevert(IQuartierExchange.ExchangeZeroAmount.selector);
        exchange.withdraw(0);
    }

    // ---------------------------------------------------------------- posting

    function test_post_LocksCeilOfBuysAndChainsTheHash() public {
        // Buys 333 Wh at 301 (ceiling does not reduce the lock) + 10 Wh at 7 = 100,233 + 70
        // milli-units -> ceil = 101 units; the sell locks nothing.
        bytes memory entries = bytes.concat(
            _entry(BUY, 333, 301), _entry(SELL, 50, 10), _entry(NONE, 0, 0), _entry(BUY, 10, 7)
        );
        IQuartierExchange.Schedule memory schedule =
            _schedule(alice, P, 7, _firstInterval(P), entries);
        vm.expectEmit(true, true, true, true);
        emit IQuartierExchange.SchedulePosted(
            P, alice, 7, _firstInterval(P), _structHash(schedule), 101, entries
        );
        exchange.postSchedules(_signedBy(0xA1, schedule));
        assertEq(_free(alice), 899, "free");
        assertEq(_locked(alice), 101, "locked");
        (bytes32 head, uint32 lastVersion, uint32 postings) = exchange.scheduleRecord(alice, P);
        // The chain keeps the high 192 bits of each link (one storage slot per record).
        assertEq(
            head, bytes32(bytes24(keccak256(abi.encode(bytes32(0), _structHash(schedule))))), "head"
        );
        assertEq(lastVersion, 7, "version");
        assertEq(postings, 1, "postings");
        assertEq(exchange.postingHouseholds(P), 1, "households");
        // A second posting adds to the chain and the lock, not to the household count.
        IQuartierExchange.Schedule memory second =
            _schedule(alice, P, 8, _firstInterval(P) + 1, _entry(BUY, 1000, 2));
        exchange.postSchedules(_signedBy(0xA1, second));
        (bytes32 head2,, uint32 postings2) = exchange.scheduleRecord(alice, P);
        assertEq(
            head2,
            bytes32(bytes24(keccak256(abi.encode(head, _structHash(second))))),
            "head chained"
        );
        assertEq(postings2, 2, "two postings");
        assertEq(_locked(alice), 103, "locks add");
        assertEq(exchange.postingHouseholds(P), 1, "still one household");
    }

    function _structHash(IQuartierExchange.Schedule memory s) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256(
                    "Schedule(address household,uint64 periodId,uint32 version,uint64 firstIntervalId,bytes entries)"
                ),
                s.household,
                s.periodId,
                s.version,
                s.firstIntervalId,
                keccak256(s.entries)
            )
        );
    }

    function test_post_ByRelayerForAnotherHousehold() public {
        // Anyone may post a household's signed schedule.
        vm.prank(address(0xDEAD));
        exchange.postSchedules(
            _signedBy(0xB0, _schedule(bob, P, 1, _firstInterval(P), _entry(SELL, 10, 1)))
        );
        (,, uint32 postings) = exchange.scheduleRecord(bob, P);
        assertEq(postings, 1, "posted by a relayer");
    }

    function test_post_RevertWhen_GateClosed() public {
        // Interval 2 of P starts at start(P) + 1800; its gate closed 300 s before.
        uint64 k = _firstInterval(P) + 2;
        uint256 gate = uint256(k) * INTERVAL_SECONDS - 300;
        vm.warp(gate);
        IQuartierExchange.SignedSchedule[] memory list =
            _signedBy(0xA1, _schedule(alice, P, 1, k, _entry(SELL, 10, 1)));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeGateClosed.selector, 0, k, gate)
        );
        exchange.postSchedules(list);
        // One second earlier it is still open.
        vm.warp(gate - 1);
        exchange.postSchedules(list);
    }

    function test_post_RevertWhen_OlderVersionReplayedAfterNewer() public {
        IQuartierExchange.SignedSchedule[] memory v1 =
            _signedBy(0xA1, _schedule(alice, P, 1, _firstInterval(P), _entry(BUY, 10, 100)));
        IQuartierExchange.SignedSchedule[] memory v2 =
            _signedBy(0xA1, _schedule(alice, P, 2, _firstInterval(P), _entry(BUY, 20, 100)));
        exchange.postSchedules(v2);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeStaleVersion.selector, 0, 1, 2)
        );
        exchange.postSchedules(v1);
        // The same version again is a replay too.
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeStaleVersion.selector, 0, 2, 2)
        );
        exchange.postSchedules(v2);
    }

    function test_post_RevertWhen_NotMember() public {
        address stranger = vm.addr(0x5757);
        IQuartierExchange.SignedSchedule[] memory list1 =
            _signedBy(0x5757, _schedule(stranger, P, 1, _firstInterval(P), _entry(SELL, 10, 1)));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeNotMember.selector, 0, stranger)
        );
        exchange.postSchedules(list1);
        // A removed member can no longer post either.
        vm.prank(MANAGER);
        community.removeHousehold(bob);
        IQuartierExchange.SignedSchedule[] memory list2 =
            _signedBy(0xB0, _schedule(bob, P, 1, _firstInterval(P), _entry(SELL, 10, 1)));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeNotMember.selector, 0, bob)
        );
        exchange.postSchedules(list2);
    }

    function test_post_RevertWhen_SignedByAnotherKey() public {
        // Bob signs a schedule naming Alice (who has escrow to lock).
        IQuartierExchange.Schedule memory schedule =
            _schedule(alice, P, 1, _firstInterval(P), _entry(BUY, 100, 100));
        IQuartierExchange.SignedSchedule[] memory list3 = _signedBy(0xB0, schedule);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBadSignature.selector, 0, alice, bob)
        );
        exchange.postSchedules(list3);
    }

    function test_post_RevertWhen_TamperedAfterSigning() public {
        IQuartierExchange.Schedule memory schedule =
            _schedule(alice, P, 1, _firstInterval(P), _entry(SELL, 100, 100));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(0xA1, exchange.scheduleDigest(schedule));
        IQuartierExchange.SignedSchedule memory signed =
            IQuartierExchange.SignedSchedule(schedule, abi.encodePacked(r, s, v));
        signed.schedule.entries = _entry(SELL, 100, 99);
        // Recovery over the tampered digest yields some other address, never Alice.
        address recovered = ecrecover(exchange.scheduleDigest(signed.schedule), v, r, s);
        assertTrue(recovered != alice, "tampering changes the signer");
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeBadSignature.selector, 0, alice, recovered
            )
        );
        exchange.postSchedules(_one(signed));
        (,, uint32 postings) = exchange.scheduleRecord(alice, P);
        assertEq(postings, 0, "nothing posted");
    }

    function test_post_RevertWhen_HighS() public {
        IQuartierExchange.Schedule memory schedule =
            _schedule(alice, P, 1, _firstInterval(P), _entry(SELL, 100, 100));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(0xA1, exchange.scheduleDigest(schedule));
        // The malleable twin (n - s, flipped v) recovers Alice too; OZ ECDSA refuses it.
        bytes memory twin =
            abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeBadSignature.selector, 0, alice, address(0)
            )
        );
        exchange.postSchedules(_one(IQuartierExchange.SignedSchedule(schedule, twin)));
    }

    function test_post_RevertWhen_VIsZeroOrOne() public {
        IQuartierExchange.Schedule memory schedule =
            _schedule(alice, P, 1, _firstInterval(P), _entry(SELL, 100, 100));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(0xA1, exchange.scheduleDigest(schedule));
        bytes memory raw = abi.encodePacked(r, s, v - 27);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeBadSignature.selector, 0, alice, address(0)
            )
        );
        exchange.postSchedules(_one(IQuartierExchange.SignedSchedule(schedule, raw)));
        // And a 64-byte (EIP-2098) signature is refused too.
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeBadSignature.selector, 0, alice, address(0)
            )
        );
        exchange.postSchedules(
            _one(IQuartierExchange.SignedSchedule(schedule, abi.encodePacked(r, s)))
        );
    }

    function test_post_RevertWhen_BeyondHorizon() public {
        uint64 far = P0 + 2;
        IQuartierExchange.SignedSchedule[] memory list4 =
            _signedBy(0xA1, _schedule(alice, far, 1, _firstInterval(far), _entry(SELL, 10, 1)));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangePeriodBeyondHorizon.selector, 0, far, P0 + 1
            )
        );
        exchange.postSchedules(list4);
    }

    function test_post_RevertWhen_IntervalOutsidePeriod() public {
        uint64 first = _firstInterval(P);
        IQuartierExchange.SignedSchedule[] memory list5 =
            _signedBy(0xA1, _schedule(alice, P, 1, first + 4, ""));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeIntervalOutsidePeriod.selector, 0, first + 4, P
            )
        );
        exchange.postSchedules(list5);
        // Entries running past the period's last interval.
        IQuartierExchange.SignedSchedule[] memory list6 =
            _signedBy(0xA1, _schedule(alice, P, 1, first + 2, _repeat(SELL, 10, 1, 3)));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeIntervalOutsidePeriod.selector, 0, first + 4, P
            )
        );
        exchange.postSchedules(list6);
    }

    function test_post_RevertWhen_BadEntries() public {
        uint64 first = _firstInterval(P);
        bytes[5] memory bad = [
            bytes.concat(_entry(SELL, 10, 1), _entry(3, 10, 1)), // side 3
            bytes.concat(_entry(SELL, 10, 1), _entry(NONE, 0, 5)), // none with a price
            bytes.concat(_entry(SELL, 10, 1), _entry(BUY, 9, 5)), // below minEntryWh
            bytes.concat(_entry(SELL, 10, 1), hex"01"), // not a multiple of 8 bytes
            bytes.concat(_entry(SELL, 10, 1), _entry(SELL, 0, 5)) // empty sell
        ];
        for (uint256 i; i < bad.length; ++i) {
            IQuartierExchange.SignedSchedule[] memory list7 =
                _signedBy(0xA1, _schedule(alice, P, 1, first, bad[i]));
            vm.expectRevert(
                abi.encodeWithSelector(IQuartierExchange.ExchangeBadEntries.selector, 0, 1)
            );
            exchange.postSchedules(list7);
        }
    }

    function test_post_RevertWhen_LockExceedsFree() public {
        // 1,000 units free: 4 intervals of 1,000 Wh at 250 = 1,000 units fit exactly ...
        _post(alice, 1, _firstInterval(P), _repeat(BUY, 1000, 250, 4));
        assertEq(_free(alice), 0, "all locked");
        // ... and a second posting's lock, though it replaces the first, cannot be covered.
        IQuartierExchange.SignedSchedule[] memory list =
            _signedBy(0xA1, _schedule(alice, P, 2, _firstInterval(P), _entry(BUY, 10, 100)));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeInsufficientFree.selector, alice, 0, 1)
        );
        exchange.postSchedules(list);
    }

    function test_post_RevertWhen_TooManyPostings() public {
        uint32 max = exchange.MAX_POSTINGS_PER_PERIOD();
        for (uint32 v = 1; v <= max; ++v) {
            _post(bob, v, _firstInterval(P), "");
        }
        IQuartierExchange.SignedSchedule[] memory list8 =
            _signedBy(0xB0, _schedule(bob, P, max + 1, _firstInterval(P), ""));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeTooManyPostings.selector, 0, bob, P)
        );
        exchange.postSchedules(list8);
    }

    /// PeriodCleared packs volumes as uint32; they fit because at most 255 households post
    /// per period (255 * (2^24 - 1) < 2^32). The 256th household is refused by name; one
    /// that already posted may still post a new version.
    function test_post_RevertWhen_TooManyHouseholds() public {
        uint32 max = exchange.MAX_HOUSEHOLDS_PER_PERIOD();
        assertEq(max, 255, "the cap the uint32 volumes rely on");
        uint256 already = exchange.postingHouseholds(P);
        address last;
        for (uint256 i = already; i < max; ++i) {
            last = _admit(0x10_000 + i);
            _post(last, 1, _firstInterval(P), "");
        }
        assertEq(exchange.postingHouseholds(P), max, "full");
        IQuartierExchange.SignedSchedule[] memory one =
            _signedBy(0xB0, _schedule(bob, P, 1, _firstInterval(P), ""));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeTooManyHouseholds.selector, 0, P)
        );
        exchange.postSchedules(one);
        _post(last, 2, _firstInterval(P), "");
        (, uint32 lastVersion,) = exchange.scheduleRecord(last, P);
        assertEq(lastVersion, 2, "a posting household may post again");
        assertEq(exchange.postingHouseholds(P), max, "still full");
    }

    /// Data availability: a schedule posted through another contract is in no calldata of
    /// the exchange; its SchedulePosted carries the entries, so a settler rebuilds the
    /// Posting from the event alone (else nobody but the poster could settle the period).
    function test_post_ThroughAWrapper_EventCarriesTheEntries() public {
        bytes memory entries = bytes.concat(_entry(SELL, 50, 10), _entry(BUY, 10, 7));
        IQuartierExchange.Schedule memory schedule =
            _schedule(alice, P, 3, _firstInterval(P) + 1, entries);
        PostingWrapper wrapper = new PostingWrapper();
        vm.recordLogs();
        wrapper.forward(exchange, _signedBy(0xA1, schedule));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 topic = IQuartierExchange.SchedulePosted.selector;
        uint256 found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(exchange) || logs[i].topics[0] != topic) continue;
            ++found;
            (uint32 version, uint64 first, bytes32 scheduleHash,, bytes memory posted) =
                abi.decode(logs[i].data, (uint32, uint64, bytes32, uint256, bytes));
            assertEq(keccak256(posted), keccak256(entries), "entries in the event");
            IQuartierExchange.Schedule memory rebuilt =
                _schedule(address(uint160(uint256(logs[i].topics[2]))), P, version, first, posted);
            assertEq(_structHash(rebuilt), scheduleHash, "the event alone rebuilds the posting");
            (bytes32 head,,) = exchange.scheduleRecord(alice, P);
            assertEq(
                head, bytes32(bytes24(keccak256(abi.encode(bytes32(0), scheduleHash)))), "head"
            );
        }
        assertEq(found, 1, "one SchedulePosted");
    }

    function test_post_BatchIsAllOrNothingAndNamesTheIndex() public {
        IQuartierExchange.SignedSchedule[] memory list = new IQuartierExchange.SignedSchedule[](2);
        list[0] = _sign(0xB0, _schedule(bob, P, 1, _firstInterval(P), _entry(SELL, 10, 1)));
        list[1] = _sign(0xB0, _schedule(alice, P, 1, _firstInterval(P), _entry(SELL, 10, 1)));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierExchange.ExchangeBadSignature.selector, 1, alice, bob)
        );
        exchange.postSchedules(list);
        (,, uint32 postings) = exchange.scheduleRecord(bob, P);
        assertEq(postings, 0, "first item rolled back");
    }

    function test_post_CurrentPeriodWhileGatesOpen() public {
        // The current period P0 accepts postings for intervals whose gate is still open.
        uint64 k = _firstInterval(P0) + 1;
        exchange.postSchedules(_signedBy(0xA1, _schedule(alice, P0, 1, k, _entry(SELL, 10, 1))));
        IQuartierExchange.SignedSchedule[] memory list9 =
            _signedBy(0xA1, _schedule(alice, P0, 2, _firstInterval(P0), _entry(SELL, 10, 1)));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierExchange.ExchangeGateClosed.selector,
                0,
                _firstInterval(P0),
                _periodStart(P0) - 300
            )
        );
        exchange.postSchedules(list9);
    }
}
