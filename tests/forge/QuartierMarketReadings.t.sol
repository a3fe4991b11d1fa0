// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {MarketBase} from "./utils/MarketBase.sol";
import {IQuartierMarket} from "../../contracts/interfaces/IQuartierMarket.sol";

/// Meter readings: P256VERIFY against the registered key, and the chain rules.
contract QuartierMarketReadingsTest is MarketBase {
    uint256 internal constant METER_KEY = 0x1001;
    address internal household;
    bytes32 internal meterId;

    function setUp() public override {
        super.setUp();
        household = _admit(0xA1);
        meterId = _admitMeter(household, METER_KEY);
        vm.warp((uint256(K) + 10) * 900); // readings up to interval K + 9 exist
    }

    function _one(IQuartierMarket.SignedReading memory reading)
        internal
        pure
        returns (IQuartierMarket.SignedReading[] memory batch)
    {
        batch = new IQuartierMarket.SignedReading[](1);
        batch[0] = reading;
    }

    function _expectReadingRevert(
        IQuartierMarket.SignedReading memory reading,
        bytes memory revertData
    ) internal {
        vm.expectRevert(revertData);
        market.submitReadings(_one(reading));
    }

    function test_submitReadings_AcceptsFirstReadingAndChainsHead() public {
        IQuartierMarket.ReadingValues memory values = _values(K, 1_000, 200, 1);
        vm.expectEmit(true, false, false, true);
        emit IQuartierMarket.ReadingAccepted(meterId, K, 1_000, 200, 1);
        market.submitReadings(_one(_signedReading(meterId, values)));
        assertEq(
            market.readingHead(meterId),
            market.chainLink(bytes32(0), values),
            "head = link(0, reading)"
        );
    }

    function test_submitReadings_AcceptsSuccessor() public {
        _submit(meterId, _values(K, 1_000, 200, 1));
        _submit(meterId, _values(K + 1, 1_000, 450, 2));
        assertEq(market.readingHead(meterId), _headOf(meterId), "head follows the chain");
    }

    function test_submitReadings_BatchOfSeveralMeters() public {
        bytes32 second = _admitMeter(household, 0x1002);
        IQuartierMarket.SignedReading[] memory batch = new IQuartierMarket.SignedReading[](2);
        batch[0] = _signedReading(meterId, _values(K, 10, 0, 1));
        batch[1] = _signedReading(second, _values(K, 20, 5, 1));
        market.submitReadings(batch);
        assertTrue(market.readingHead(meterId) != bytes32(0), "first meter");
        assertTrue(market.readingHead(second) != bytes32(0), "second meter");
    }

    function test_submitReadings_BatchIsAtomic() public {
        IQuartierMarket.SignedReading[] memory batch = new IQuartierMarket.SignedReading[](2);
        batch[0] = _signedReading(meterId, _values(K, 10, 0, 1));
        batch[1] = _signedReading(meterId, _values(K + 20, 20, 5, 2)); // from the future
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierMarket.MarketReadingFromFuture.selector,
                meterId,
                K + 20,
                (uint256(K) + 21) * 900
            )
        );
        market.submitReadings(batch);
        assertEq(market.readingHead(meterId), bytes32(0), "the valid first reading did not survive");
    }

    function test_submitReadings_RevertWhen_UnknownMeter() public {
        IQuartierMarket.SignedReading memory reading = _signedReading(meterId, _values(K, 10, 0, 1));
        (uint256 x, uint256 y) = vm.publicKeyP256(0x9999);
        reading.publicKeyX = x;
        reading.publicKeyY = y;
        _expectReadingRevert(
            reading,
            abi.encodeWithSelector(
                IQuartierMarket.MarketUnknownMeter.selector, registry.meterIdOf(x, y)
            )
        );
    }

    function test_submitReadings_RevertWhen_MeterRevoked() public {
        vm.prank(MANAGER);
        registry.revokeMeter(meterId);
        _expectReadingRevert(
            _signedReading(meterId, _values(K, 10, 0, 1)),
            abi.encodeWithSelector(IQuartierMarket.MarketMeterRevoked.selector, meterId)
        );
    }

    function test_submitReadings_RevertWhen_ReadingFromFuture() public {
        // Interval K + 10 ends at (K + 11) * 900; the clock is at (K + 10) * 900.
        _expectReadingRevert(
            _signedReading(meterId, _values(K + 10, 10, 0, 1)),
            abi.encodeWithSelector(
                IQuartierMarket.MarketReadingFromFuture.selector,
                meterId,
                K + 10,
                (uint256(K) + 11) * 900
            )
        );
    }

    function test_submitReadings_AcceptsReadingAtTheBoundary() public {
        _submit(meterId, _values(K + 9, 10, 0, 1)); // ends exactly now
        assertEq(market.readingHead(meterId), _headOf(meterId), "accepted");
    }

    function test_submitReadings_RevertWhen_Tampered() public {
        IQuartierMarket.SignedReading memory reading =
            _signedReading(meterId, _values(K, 1_000, 200, 1));
        reading.values.exportWhTotal = 2_000; // a relayer inflates the export register
        _expectReadingRevert(
            reading,
            abi.encodeWithSelector(
                IQuartierMarket.MarketInvalidReadingSignature.selector, meterId, K
            )
        );
    }

    function test_submitReadings_RevertWhen_SignedByAnotherMeter() public {
        IQuartierMarket.ReadingValues memory values = _values(K, 1_000, 200, 1);
        IQuartierMarket.SignedReading memory reading = _signedReading(meterId, values);
        (reading.r, reading.s) = vm.signP256(0x1002, market.readingDigest(meterId, values));
        _expectReadingRevert(
            reading,
            abi.encodeWithSelector(
                IQuartierMarket.MarketInvalidReadingSignature.selector, meterId, K
            )
        );
    }

    function test_submitReadings_RevertWhen_StalePredecessor() public {
        _submit(meterId, _values(K, 10, 0, 1));
        IQuartierMarket.SignedReading memory reading =
            _signedReading(meterId, _values(K + 1, 20, 0, 2));
        reading.previous.importWhTotal = 5; // claims a different predecessor
        bytes32 head = market.readingHead(meterId);
        _expectReadingRevert(
            reading,
            abi.encodeWithSelector(IQuartierMarket.MarketStalePredecessor.selector, meterId, head)
        );
    }

    function test_submitReadings_RevertWhen_Replayed() public {
        IQuartierMarket.SignedReading memory reading = _signedReading(meterId, _values(K, 10, 0, 1));
        market.submitReadings(_one(reading));
        _rememberAccepted(meterId, reading.values);
        // The same signed reading again, correctly chained: its seq does not increase.
        IQuartierMarket.SignedReading memory again = _signedReading(meterId, reading.values);
        _expectReadingRevert(
            again,
            abi.encodeWithSelector(IQuartierMarket.MarketSeqNotIncreasing.selector, meterId, 1, 1)
        );
    }

    function test_submitReadings_RevertWhen_SeqNotIncreasing() public {
        _submit(meterId, _values(K, 10, 0, 5));
        _expectReadingRevert(
            _signedReading(meterId, _values(K + 1, 20, 0, 4)),
            abi.encodeWithSelector(IQuartierMarket.MarketSeqNotIncreasing.selector, meterId, 4, 5)
        );
    }

    function test_submitReadings_RevertWhen_IntervalNotIncreasing() public {
        _submit(meterId, _values(K, 10, 0, 1));
        _expectReadingRevert(
            _signedReading(meterId, _values(K, 20, 0, 2)),
            abi.encodeWithSelector(
                IQuartierMarket.MarketIntervalNotIncreasing.selector, meterId, K, K
            )
        );
    }

    function test_submitReadings_RevertWhen_ImportRegisterDecreased() public {
        _submit(meterId, _values(K, 10, 0, 1));
        _expectReadingRevert(
            _signedReading(meterId, _values(K + 1, 9, 0, 2)),
            abi.encodeWithSelector(IQuartierMarket.MarketRegisterDecreased.selector, meterId, 9, 10)
        );
    }

    function test_submitReadings_RevertWhen_ExportRegisterDecreased() public {
        _submit(meterId, _values(K, 10, 7, 1));
        _expectReadingRevert(
            _signedReading(meterId, _values(K + 1, 10, 6, 2)),
            abi.encodeWithSelector(IQuartierMarket.MarketRegisterDecreased.selector, meterId, 6, 7)
        );
    }

    function test_submitReadings_GapsAreAllowed() public {
        _submit(meterId, _values(K, 10, 0, 1));
        _submit(meterId, _values(K + 5, 30, 0, 2)); // a lost message loses nothing
        assertEq(market.readingHead(meterId), _headOf(meterId), "accepted after a gap");
    }

    /// Any increasing sequence of readings is accepted and the head always matches the chain.
    function testFuzz_submitReadings_ChainMatchesLocalCopy(uint64 seed, uint8 count) public {
        uint256 n = bound(count, 1, 8);
        uint64 importWh;
        uint64 exportWh;
        for (uint256 i; i < n; ++i) {
            importWh += uint64(uint256(keccak256(abi.encode(seed, i, 0))) % 5_000);
            exportWh += uint64(uint256(keccak256(abi.encode(seed, i, 1))) % 5_000);
            _submit(meterId, _values(K + uint64(i), importWh, exportWh, uint64(i + 1)));
        }
        assertEq(market.readingHead(meterId), _headOf(meterId), "head");
    }
}
// forge-lint: disable-end(unsafe-typecast)
