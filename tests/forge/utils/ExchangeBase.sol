// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {Test} from "./Test.sol";
import {QuartierCommunity} from "../../../contracts/QuartierCommunity.sol";
import {QuartierExchange} from "../../../contracts/QuartierExchange.sol";
import {QuartierToken} from "../../../contracts/QuartierToken.sol";
import {IQuartierExchange} from "../../../contracts/interfaces/IQuartierExchange.sol";
import {Mechanism, Rules} from "../../../contracts/types/Rules.sol";

/// A v2 community (QuartierCommunity), a token and an exchange, plus helpers that sign
/// schedules (secp256k1, EIP-712) and meter periods (P-256, low s) and build settlements.
/// The clock starts at the beginning of period P0; the tests trade in period P = P0 + 1.
abstract contract ExchangeBase is Test {
    address internal constant MANAGER = address(0xA11CE);
    address internal constant SETTLER = address(0x5E771E);
    uint32 internal constant INTERVAL_SECONDS = 900;
    uint64 internal constant P0 = 500_000;
    uint64 internal constant P = P0 + 1;
    uint8 internal constant NONE = 0;
    uint8 internal constant SELL = 1;
    uint8 internal constant BUY = 2;
    /// P-256 group order, for low-s normalisation.
    uint256 internal constant P256_N =
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    QuartierCommunity internal community;
    QuartierToken internal token;
    QuartierExchange internal exchange;

    mapping(address household => uint256 privateKey) internal householdKeys;
    mapping(bytes32 meterId => uint256 privateKey) internal meterKeys;

    /// Intervals per period: small in unit tests so that expected values are hand-computed.
    function periodIntervals() internal view virtual returns (uint32) {
        return 4;
    }

    function initialRules() internal view virtual returns (Rules memory) {
        return Rules({
            mechanism: Mechanism.PayAsClear,
            gateLeadSeconds: 300,
            settlementDeadlineSeconds: 7200,
            minEntryWh: 10,
            priceFloorPerKwh: 50,
            priceCeilingPerKwh: 300,
            communityPricePerKwh: 150
        });
    }

    function setUp() public virtual {
        community =
            new QuartierCommunity(MANAGER, INTERVAL_SECONDS, periodIntervals(), 2, initialRules());
        token = new QuartierToken("Quartier Euro", "qEUR", MANAGER);
        exchange = new QuartierExchange(address(community), address(token));
        vm.warp(_periodStart(P0));
    }

    // ------------------------------------------------------------------ time

    function _periodSeconds() internal view returns (uint256) {
        return uint256(INTERVAL_SECONDS) * periodIntervals();
    }

    function _periodStart(uint64 periodId) internal view returns (uint256) {
        return uint256(periodId) * _periodSeconds();
    }

    function _firstInterval(uint64 periodId) internal view returns (uint64) {
        return periodId * periodIntervals();
    }

    function _warpToSettle(uint64 periodId) internal {
        vm.warp(_periodStart(periodId + 1));
    }

    function _warpPastDeadline(uint64 periodId) internal {
        vm.warp(_periodStart(periodId + 1) + initialRules().settlementDeadlineSeconds);
    }

    // ------------------------------------------------------------- community

    function _admit(uint256 privateKey) internal returns (address household) {
        household = vm.addr(privateKey);
        householdKeys[household] = privateKey;
        vm.prank(MANAGER);
        community.admitHousehold(household);
    }

    function _admitMeter(address household, uint256 meterPrivateKey)
        internal
        returns (bytes32 meterId)
    {
        (uint256 x, uint256 y) = vm.publicKeyP256(meterPrivateKey);
        vm.prank(MANAGER);
        meterId = community.admitMeter(household, x, y);
        meterKeys[meterId] = meterPrivateKey;
    }

    function _fund(address household, uint256 amountUnits) internal {
        vm.prank(MANAGER);
        token.mint(household, amountUnits);
        vm.startPrank(household);
        token.approve(address(exchange), amountUnits);
        exchange.deposit(amountUnits);
        vm.stopPrank();
    }

    function _free(address household) internal view returns (uint256 freeUnits) {
        (freeUnits,) = exchange.escrowOf(household);
    }

    function _locked(address household) internal view returns (uint256 lockedUnits) {
        (, lockedUnits) = exchange.escrowOf(household);
    }

    // --------------------------------------------------------------- entries

    function _entry(uint8 side, uint256 energyWh, uint256 pricePerKwh)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(side, uint24(energyWh), uint32(pricePerKwh));
    }

    /// One entry of the same side, energy and price for each of `count` intervals.
    function _repeat(uint8 side, uint256 energyWh, uint256 pricePerKwh, uint256 count)
        internal
        pure
        returns (bytes memory entries)
    {
        for (uint256 i; i < count; ++i) {
            entries = bytes.concat(entries, _entry(side, energyWh, pricePerKwh));
        }
    }

    // ------------------------------------------------------------- schedules

    function _schedule(
        address household,
        uint64 periodId,
        uint32 version,
        uint64 firstIntervalId,
        bytes memory entries
    ) internal pure returns (IQuartierExchange.Schedule memory) {
        return IQuartierExchange.Schedule(household, periodId, version, firstIntervalId, entries);
    }

    function _sign(uint256 privateKey, IQuartierExchange.Schedule memory schedule)
        internal
        view
        returns (IQuartierExchange.SignedSchedule memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, exchange.scheduleDigest(schedule));
        return IQuartierExchange.SignedSchedule(schedule, abi.encodePacked(r, s, v));
    }

    function _one(IQuartierExchange.SignedSchedule memory signed)
        internal
        pure
        returns (IQuartierExchange.SignedSchedule[] memory list)
    {
        list = new IQuartierExchange.SignedSchedule[](1);
        list[0] = signed;
    }

    /// Signs and posts one schedule of `household` (its own key); returns its posting.
    function _post(address household, uint32 version, uint64 firstIntervalId, bytes memory entries)
        internal
        returns (IQuartierExchange.Posting memory)
    {
        exchange.postSchedules(
            _one(
                _sign(
                    householdKeys[household],
                    _schedule(household, P, version, firstIntervalId, entries)
                )
            )
        );
        return IQuartierExchange.Posting(version, firstIntervalId, entries);
    }

    function _postings(IQuartierExchange.Posting memory a)
        internal
        pure
        returns (IQuartierExchange.Posting[] memory list)
    {
        list = new IQuartierExchange.Posting[](1);
        list[0] = a;
    }

    function _postings(IQuartierExchange.Posting memory a, IQuartierExchange.Posting memory b)
        internal
        pure
        returns (IQuartierExchange.Posting[] memory list)
    {
        list = new IQuartierExchange.Posting[](2);
        list[0] = a;
        list[1] = b;
    }

    // ---------------------------------------------------------------- meters

    /// Deltas of a period from per-interval import and export Wh.
    function _deltas(uint32[] memory importWh, uint32[] memory exportWh)
        internal
        pure
        returns (bytes memory deltas)
    {
        for (uint256 i; i < importWh.length; ++i) {
            deltas = bytes.concat(deltas, abi.encodePacked(importWh[i], exportWh[i]));
        }
    }

    /// The same (import, export) Wh in every interval of the period.
    function _flat(uint32 importWh, uint32 exportWh) internal view returns (bytes memory deltas) {
        for (uint256 i; i < periodIntervals(); ++i) {
            deltas = bytes.concat(deltas, abi.encodePacked(importWh, exportWh));
        }
    }

    function _signP256(uint256 privateKey, bytes32 digest) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s) = vm.signP256(privateKey, digest);
        if (uint256(s) > P256_N / 2) s = bytes32(P256_N - uint256(s));
        return abi.encodePacked(r, s);
    }

    function _batch(
        bytes32 meterId,
        uint64 periodId,
        uint64 startImportWh,
        uint64 startExportWh,
        bytes memory deltas
    ) internal view returns (IQuartierExchange.MeterBatch memory) {
        bytes32 digest = exchange.meterBatchDigest(
            meterId, periodId, startImportWh, startExportWh, deltas
        );
        return IQuartierExchange.MeterBatch(
            meterId,
            periodId,
            startImportWh,
            startExportWh,
            deltas,
            _signP256(meterKeys[meterId], digest)
        );
    }

    function _inline(IQuartierExchange.MeterBatch memory batch)
        internal
        pure
        returns (IQuartierExchange.MeterData memory)
    {
        return IQuartierExchange.MeterData(
            IQuartierExchange.MeterSource.Inline,
            batch.startImportWh,
            batch.startExportWh,
            batch.deltas,
            batch.signature
        );
    }

    function _posted(IQuartierExchange.MeterBatch memory batch)
        internal
        pure
        returns (IQuartierExchange.MeterData memory)
    {
        return IQuartierExchange.MeterData(
            IQuartierExchange.MeterSource.Posted,
            batch.startImportWh,
            batch.startExportWh,
            batch.deltas,
            ""
        );
    }

    function _missing() internal pure returns (IQuartierExchange.MeterData memory) {
        return IQuartierExchange.MeterData(IQuartierExchange.MeterSource.None, 0, 0, "", "");
    }

    function _meters(IQuartierExchange.MeterData memory a)
        internal
        pure
        returns (IQuartierExchange.MeterData[] memory list)
    {
        list = new IQuartierExchange.MeterData[](1);
        list[0] = a;
    }

    function _batches(IQuartierExchange.MeterBatch memory a)
        internal
        pure
        returns (IQuartierExchange.MeterBatch[] memory list)
    {
        list = new IQuartierExchange.MeterBatch[](1);
        list[0] = a;
    }

    // ------------------------------------------------------------ settlement

    function _household(
        address household,
        IQuartierExchange.Posting[] memory postings,
        IQuartierExchange.MeterData[] memory meters
    ) internal pure returns (IQuartierExchange.HouseholdPeriod memory) {
        return IQuartierExchange.HouseholdPeriod(household, postings, meters);
    }

    /// Sorts by address (the order settlement requires; h = position).
    function _sorted(IQuartierExchange.HouseholdPeriod[] memory list)
        internal
        pure
        returns (IQuartierExchange.HouseholdPeriod[] memory)
    {
        for (uint256 i = 1; i < list.length; ++i) {
            for (uint256 j = i; j > 0 && list[j - 1].household > list[j].household; --j) {
                (list[j - 1], list[j]) = (list[j], list[j - 1]);
            }
        }
        return list;
    }

    /// Index of `household` in a sorted settlement list.
    function _indexOf(IQuartierExchange.HouseholdPeriod[] memory list, address household)
        internal
        pure
        returns (uint256)
    {
        for (uint256 i; i < list.length; ++i) {
            if (list[i].household == household) return i;
        }
        revert("not in list");
    }

    /// The entry (side, energy, price) of a household for interval index i after all its
    /// postings: the last posting with firstIntervalId <= k, none past its entries.
    function _entryAt(IQuartierExchange.Posting[] memory postings, uint64 periodId, uint256 i)
        internal
        view
        returns (uint8 side, uint256 energyWh, uint256 pricePerKwh)
    {
        uint64 k = _firstInterval(periodId) + uint64(i);
        for (uint256 j = postings.length; j > 0; --j) {
            IQuartierExchange.Posting memory posting = postings[j - 1];
            if (posting.firstIntervalId > k) continue;
            uint256 offset = (k - posting.firstIntervalId) * 8;
            if (offset >= posting.entries.length) return (0, 0, 0);
            bytes memory e = posting.entries;
            side = uint8(e[offset]);
            energyWh = (uint256(uint8(e[offset + 1])) << 16) | (uint256(uint8(e[offset + 2])) << 8)
                | uint256(uint8(e[offset + 3]));
            for (uint256 b = 4; b < 8; ++b) {
                pricePerKwh = (pricePerKwh << 8) | uint8(e[offset + b]);
            }
            return (side, energyWh, pricePerKwh);
        }
    }

    /// The hints of a period: per interval the walk's marginal claim, computed here
    /// independently of the contract (insertion sort of both rankings, then a Wh walk).
    function _hints(IQuartierExchange.HouseholdPeriod[] memory list, uint64 periodId)
        internal
        view
        returns (bytes memory hints)
    {
        Rules memory rules = community.rulesAt(periodId);
        if (rules.mechanism == Mechanism.CommunityPrice) return "";
        for (uint256 i; i < periodIntervals(); ++i) {
            (bool matched, uint256 ask, uint256 bid) = _marginal(list, periodId, i, rules);
            hints = matched
                ? bytes.concat(hints, abi.encodePacked(uint8(1), uint32(ask), uint32(bid)))
                : bytes.concat(hints, abi.encodePacked(uint8(0)));
        }
    }

    /// Interval index i's walk: (whether any Wh matched, the last matched Wh's ask', bid').
    function _marginal(
        IQuartierExchange.HouseholdPeriod[] memory list,
        uint64 periodId,
        uint256 i,
        Rules memory rules
    ) internal view returns (bool matched, uint256 ask, uint256 bid) {
        (uint256[] memory sells, uint256[] memory buys, uint256[] memory energies) =
            _rankings(list, periodId, i, rules);
        uint256 s;
        uint256 b;
        uint256 sellLeft = sells.length > 0 ? energies[sells[0] & 0xffff] : 0;
        uint256 buyLeft = buys.length > 0 ? energies[buys[0] & 0xffff] : 0;
        while (s < sells.length && b < buys.length) {
            uint256 a = sells[s] >> 32;
            uint256 d = type(uint64).max - (buys[b] >> 32);
            if (a > d) break;
            (matched, ask, bid) = (true, a, d);
            uint256 q = sellLeft < buyLeft ? sellLeft : buyLeft;
            sellLeft -= q;
            buyLeft -= q;
            if (sellLeft == 0 && ++s < sells.length) sellLeft = energies[sells[s] & 0xffff];
            if (buyLeft == 0 && ++b < buys.length) buyLeft = energies[buys[b] & 0xffff];
        }
    }

    /// Interval index i's sells by (ask', rank) and buys by (bid' descending, rank), as keys
    /// price-or-flipped << 32 | rank << 16 | h, and every household's energy there.
    function _rankings(
        IQuartierExchange.HouseholdPeriod[] memory list,
        uint64 periodId,
        uint256 i,
        Rules memory rules
    )
        internal
        view
        returns (uint256[] memory sells, uint256[] memory buys, uint256[] memory energies)
    {
        uint256 count = list.length;
        uint256 k = _firstInterval(periodId) + i;
        sells = new uint256[](count);
        buys = new uint256[](count);
        energies = new uint256[](count);
        uint256 sellCount;
        uint256 buyCount;
        for (uint256 h; h < count; ++h) {
            (uint8 side, uint256 energyWh, uint256 price) = _entryAt(list[h].postings, periodId, i);
            energies[h] = energyWh;
            uint256 rank = (h + k) % count;
            if (side == SELL) {
                if (price < rules.priceFloorPerKwh) price = rules.priceFloorPerKwh;
                sells[sellCount++] = (price << 32) | (rank << 16) | h;
            } else if (side == BUY) {
                if (price > rules.priceCeilingPerKwh) price = rules.priceCeilingPerKwh;
                buys[buyCount++] = ((type(uint64).max - price) << 32) | (rank << 16) | h;
            }
        }
        assembly {
            mstore(sells, sellCount)
            mstore(buys, buyCount)
        }
        _sortPrefix(sells, sellCount);
        _sortPrefix(buys, buyCount);
    }

    function _sortPrefix(uint256[] memory values, uint256 count) internal pure {
        for (uint256 i = 1; i < count; ++i) {
            for (uint256 j = i; j > 0 && values[j - 1] > values[j]; --j) {
                (values[j - 1], values[j]) = (values[j], values[j - 1]);
            }
        }
    }

    function _settle(IQuartierExchange.HouseholdPeriod[] memory list) internal {
        bytes memory hints = _hints(list, P);
        vm.prank(SETTLER);
        exchange.settlePeriod(P, list, hints);
    }
}
