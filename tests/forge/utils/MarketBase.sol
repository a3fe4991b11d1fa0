// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {Test} from "./Test.sol";
import {CommunityRegistry} from "../../../contracts/CommunityRegistry.sol";
import {QuartierToken} from "../../../contracts/QuartierToken.sol";
import {QuartierMarket} from "../../../contracts/QuartierMarket.sol";
import {IQuartierMarket} from "../../../contracts/interfaces/IQuartierMarket.sol";

/// A community with a registry, a token and a market, plus helpers that sign orders
/// (secp256k1, EIP-712) and readings (P-256) and remember each meter's reading chain.
abstract contract MarketBase is Test {
    address internal constant MANAGER = address(0xA11CE);
    /// An interval in 2027; the clock starts at its beginning (its gate has just closed).
    uint64 internal constant K = 2_000_000;
    uint8 internal constant SELL = 0;
    uint8 internal constant BUY = 1;

    CommunityRegistry internal registry;
    QuartierToken internal token;
    QuartierMarket internal market;

    struct Chain {
        bytes32[] links; // links[i]: the head before history[i] was appended
        IQuartierMarket.ReadingValues[] history;
    }

    mapping(bytes32 meterId => Chain) internal chains;
    mapping(bytes32 meterId => uint256 privateKey) internal meterKeys;

    function setUp() public virtual {
        registry = new CommunityRegistry(MANAGER);
        token = new QuartierToken("Quartier Euro", "qEUR", MANAGER);
        market = new QuartierMarket(registry, token, 0);
        vm.warp(uint256(K) * 900);
    }

    /// Maps a fuzzed value into [lo, hi] (forge-std's bound, without its logging).
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }

    // ------------------------------------------------------------ community

    function _admit(uint256 privateKey) internal returns (address household) {
        household = vm.addr(privateKey);
        vm.prank(MANAGER);
        registry.admitHousehold(household);
    }

    function _admitMeter(address household, uint256 meterPrivateKey)
        internal
        returns (bytes32 meterId)
    {
        (uint256 x, uint256 y) = vm.publicKeyP256(meterPrivateKey);
        vm.prank(MANAGER);
        meterId = registry.admitMeter(household, x, y);
        meterKeys[meterId] = meterPrivateKey;
    }

    function _fund(address household, uint256 amountUnits) internal {
        vm.prank(MANAGER);
        token.mint(household, amountUnits);
        vm.startPrank(household);
        token.approve(address(market), amountUnits);
        market.deposit(amountUnits);
        vm.stopPrank();
    }

    function _free(address household) internal view returns (uint256 freeUnits) {
        (freeUnits,) = market.escrowOf(household);
    }

    function _locked(address household) internal view returns (uint256 lockedUnits) {
        (, lockedUnits) = market.escrowOf(household);
    }

    // ------------------------------------------------------------ orders

    function _order(
        address household,
        uint8 side,
        uint64 energyWh,
        uint64 pricePerKwh,
        uint64 nonce
    ) internal pure returns (IQuartierMarket.Order memory) {
        return IQuartierMarket.Order({
            household: household,
            side: side,
            intervalId: K,
            energyWh: energyWh,
            pricePerKwh: pricePerKwh,
            nonce: nonce
        });
    }

    function _sign(uint256 privateKey, IQuartierMarket.Order memory order)
        internal
        view
        returns (IQuartierMarket.SignedOrder memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, market.orderDigest(order));
        return IQuartierMarket.SignedOrder({order: order, v: v, r: r, s: s});
    }

    function _trade(uint256 sellIndex, uint256 buyIndex, uint64 energyWh, uint64 pricePerKwh)
        internal
        pure
        returns (IQuartierMarket.Trade memory)
    {
        return IQuartierMarket.Trade({
            sellOrderIndex: uint32(sellIndex),
            buyOrderIndex: uint32(buyIndex),
            energyWh: energyWh,
            pricePerKwh: pricePerKwh
        });
    }

    /// Sorts orders by (household, nonce) as the market requires and remaps the trades'
    /// order indices accordingly (both arrays are modified in place).
    function _sortOrders(
        IQuartierMarket.SignedOrder[] memory orders,
        IQuartierMarket.Trade[] memory trades
    ) internal pure {
        uint256 n = orders.length;
        uint256[] memory position = new uint256[](n); // original index => sorted index
        uint256[] memory original = new uint256[](n); // sorted index => original index
        for (uint256 i; i < n; ++i) {
            original[i] = i;
        }
        for (uint256 i = 1; i < n; ++i) {
            for (uint256 j = i; j > 0 && _key(orders[j - 1].order) > _key(orders[j].order); --j) {
                (orders[j - 1], orders[j]) = (orders[j], orders[j - 1]);
                (original[j - 1], original[j]) = (original[j], original[j - 1]);
            }
        }
        for (uint256 i; i < n; ++i) {
            position[original[i]] = i;
        }
        for (uint256 t; t < trades.length; ++t) {
            trades[t].sellOrderIndex = uint32(position[trades[t].sellOrderIndex]);
            trades[t].buyOrderIndex = uint32(position[trades[t].buyOrderIndex]);
        }
    }

    function _key(IQuartierMarket.Order memory order) internal pure returns (uint256) {
        return (uint256(uint160(order.household)) << 64) | order.nonce;
    }

    function _unsigned(IQuartierMarket.SignedOrder[] memory orders)
        internal
        pure
        returns (IQuartierMarket.Order[] memory plain)
    {
        plain = new IQuartierMarket.Order[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            plain[i] = orders[i].order;
        }
    }

    // ------------------------------------------------------------ readings

    function _values(uint64 intervalId, uint64 importWhTotal, uint64 exportWhTotal, uint64 seq)
        internal
        pure
        returns (IQuartierMarket.ReadingValues memory)
    {
        return IQuartierMarket.ReadingValues({
            intervalId: intervalId,
            importWhTotal: importWhTotal,
            exportWhTotal: exportWhTotal,
            seq: seq
        });
    }

    /// A reading signed by the meter, chained to the meter's latest reading known here.
    function _signedReading(bytes32 meterId, IQuartierMarket.ReadingValues memory values)
        internal
        view
        returns (IQuartierMarket.SignedReading memory reading)
    {
        uint256 privateKey = meterKeys[meterId];
        (uint256 x, uint256 y) = vm.publicKeyP256(privateKey);
        (bytes32 r, bytes32 s) = vm.signP256(privateKey, market.readingDigest(meterId, values));
        Chain storage chain = chains[meterId];
        reading.publicKeyX = x;
        reading.publicKeyY = y;
        reading.values = values;
        reading.r = r;
        reading.s = s;
        uint256 length = chain.history.length;
        if (length != 0) {
            reading.previousLink = chain.links[length - 1];
            reading.previous = chain.history[length - 1];
        }
    }

    /// The head the local chain copy computes (equals market.readingHead when in sync).
    function _headOf(bytes32 meterId) internal view returns (bytes32 head) {
        Chain storage chain = chains[meterId];
        for (uint256 i; i < chain.history.length; ++i) {
            head = market.chainLink(head, chain.history[i]);
        }
    }

    function _submit(bytes32 meterId, IQuartierMarket.ReadingValues memory values) internal {
        IQuartierMarket.SignedReading[] memory batch = new IQuartierMarket.SignedReading[](1);
        batch[0] = _signedReading(meterId, values);
        market.submitReadings(batch);
        _rememberAccepted(meterId, values);
    }

    /// Remembers an accepted reading in the local copy of the meter's chain.
    function _rememberAccepted(bytes32 meterId, IQuartierMarket.ReadingValues memory values)
        internal
    {
        Chain storage chain = chains[meterId];
        chain.links.push(_headOf(meterId));
        chain.history.push(values);
    }

    /// The chain segment from the meter's reading for `intervalId - 1` to its head.
    function _proof(bytes32 meterId, uint64 intervalId)
        internal
        view
        returns (IQuartierMarket.MeterProof memory proof)
    {
        Chain storage chain = chains[meterId];
        proof.meterId = meterId;
        uint256 start = chain.history.length;
        for (uint256 i; i < chain.history.length; ++i) {
            if (chain.history[i].intervalId == intervalId - 1) start = i;
        }
        proof.readings = new IQuartierMarket.ReadingValues[](chain.history.length - start);
        for (uint256 i = start; i < chain.history.length; ++i) {
            proof.readings[i - start] = chain.history[i];
        }
        if (start < chain.history.length) proof.link = chain.links[start];
    }

    function _oneMeter(bytes32 meterId, uint64 intervalId)
        internal
        view
        returns (IQuartierMarket.HouseholdMeters memory entry)
    {
        entry.meters = new IQuartierMarket.MeterProof[](1);
        entry.meters[0] = _proof(meterId, intervalId);
    }
}
// forge-lint: disable-end(unsafe-typecast)
