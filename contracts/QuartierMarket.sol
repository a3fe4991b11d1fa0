// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ICommunityRegistry} from "./interfaces/ICommunityRegistry.sol";
import {IERC20} from "./interfaces/IERC20.sol";
import {IQuartierMarket} from "./interfaces/IQuartierMarket.sol";
import {P256} from "./libraries/P256.sol";

/// @title QuartierMarket
/// @notice Escrow, interval commits of signed orders, P-256 meter readings and settlement for
/// one community. The design (rounding, storage, pro-rata rule) is stated in IQuartierMarket.
contract QuartierMarket is IQuartierMarket {
    /// @notice Interval length; the Reading format ties interval ids to 900 s.
    uint64 public constant INTERVAL_SECONDS = 900;
    uint8 public constant SIDE_SELL = 0;
    uint8 public constant SIDE_BUY = 1;

    bytes32 private constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 private constant ORDER_TYPEHASH = keccak256(
        "Order(address household,uint8 side,uint64 intervalId,uint64 energyWh,uint64 pricePerKwh,uint64 nonce)"
    );
    bytes32 private constant READING_TYPEHASH = keccak256(
        "Reading(bytes32 meterId,uint64 intervalId,uint64 importWhTotal,uint64 exportWhTotal,uint64 seq)"
    );
    /// @dev secp256k1 n / 2: higher s values are the malleable twins of valid signatures.
    uint256 private constant SECP256K1_HALF_N =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @dev One slot per household: commit reads and writes both halves together.
    struct Account {
        uint128 freeUnits;
        uint128 lockedUnits;
    }

    struct IntervalRecord {
        bytes32 commitment;
        bool settled;
    }

    /// @dev Per-settlement working set, in memory to keep the stack shallow.
    struct Settlement {
        uint256[] householdOf; // order index => household index
        address[] households;
        uint256[] exportedWh;
        uint256[] importedWh;
        uint256[] soldWh;
        uint256[] boughtWh;
        uint256[] costMilliUnits; // per buy order: Σ energyWh * pricePerKwh
        uint256[] paidUnits; // per buy order
        uint256 deliveredWh;
        uint256 totalPaidUnits;
    }

    ICommunityRegistry private immutable _registry;
    IERC20 private immutable _token;
    uint64 private immutable _gateClosureLeadSeconds;
    uint256 private immutable _cachedChainId;
    bytes32 private immutable _cachedDomainSeparator;

    mapping(address household => Account) private _accounts;
    mapping(address household => mapping(uint256 word => uint256 bits)) private _cancelledNonces;
    mapping(uint64 intervalId => IntervalRecord) private _intervals;
    mapping(bytes32 meterId => bytes32 head) private _readingHeads;

    constructor(ICommunityRegistry registry_, IERC20 token_, uint64 gateClosureLeadSeconds_) {
        if (address(registry_) == address(0) || address(token_) == address(0)) {
            revert MarketZeroAddress();
        }
        _registry = registry_;
        _token = token_;
        _gateClosureLeadSeconds = gateClosureLeadSeconds_;
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    // ---------------------------------------------------------------- escrow

    /// @inheritdoc IQuartierMarket
    function deposit(uint256 amountUnits) external {
        if (amountUnits == 0) revert MarketZeroAmount();
        Account storage account = _accounts[msg.sender];
        if (amountUnits > type(uint128).max - account.freeUnits - account.lockedUnits) {
            revert MarketAmountTooLarge(amountUnits);
        }
        _callToken(abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), amountUnits)));
        // forge-lint: disable-next-line(unsafe-typecast) amountUnits was bounded by uint128 max - free - locked just above
        account.freeUnits += uint128(amountUnits);
        emit Deposited(msg.sender, amountUnits);
    }

    /// @inheritdoc IQuartierMarket
    function withdraw(uint256 amountUnits) external {
        if (amountUnits == 0) revert MarketZeroAmount();
        Account storage account = _accounts[msg.sender];
        uint256 available = account.freeUnits;
        if (amountUnits > available) {
            revert MarketInsufficientEscrow(msg.sender, available, amountUnits);
        }
        // forge-lint: disable-next-line(unsafe-typecast) available - amountUnits < available, which is a uint128
        account.freeUnits = uint128(available - amountUnits);
        _callToken(abi.encodeCall(IERC20.transfer, (msg.sender, amountUnits)));
        emit Withdrawn(msg.sender, amountUnits);
    }

    /// @inheritdoc IQuartierMarket
    function cancelNonce(uint64 nonce) external {
        uint256 bit = uint256(1) << (nonce & 0xff);
        uint256 bits = _cancelledNonces[msg.sender][nonce >> 8];
        if (bits & bit != 0) revert MarketNonceAlreadyCancelled(msg.sender, nonce);
        _cancelledNonces[msg.sender][nonce >> 8] = bits | bit;
        emit NonceCancelled(msg.sender, nonce);
    }

    // ---------------------------------------------------------------- commit

    /// @inheritdoc IQuartierMarket
    function commitInterval(
        uint64 intervalId,
        SignedOrder[] calldata orders,
        Trade[] calldata trades
    ) external returns (bytes32 commitment) {
        if (trades.length == 0) revert MarketNoTrades(intervalId);
        IntervalRecord storage record = _intervals[intervalId];
        if (record.commitment != bytes32(0)) revert MarketIntervalAlreadyCommitted(intervalId);
        uint256 gateClosesAt = gateClosureOf(intervalId);
        // forge-lint: disable-next-line(block-timestamp) the gate is defined by wall-clock time
        if (block.timestamp < gateClosesAt) {
            revert MarketOrdersStillOpen(intervalId, gateClosesAt, block.timestamp);
        }

        bytes32 ordersHash = _verifyOrders(intervalId, orders);
        uint256[] memory costMilliUnits = _verifyTrades(intervalId, orders, trades);
        for (uint256 i; i < orders.length; ++i) {
            if (costMilliUnits[i] != 0) {
                _lock(intervalId, orders[i].order.household, _ceilDiv1000(costMilliUnits[i]));
            }
        }
        commitment = keccak256(abi.encode(intervalId, ordersHash, keccak256(abi.encode(trades))));
        record.commitment = commitment;
        emit IntervalCommitted(intervalId, commitment, orders.length, trades.length, msg.sender);
    }

    function _verifyOrders(uint64 intervalId, SignedOrder[] calldata orders)
        private
        view
        returns (bytes32)
    {
        bytes32 separator = domainSeparator();
        bytes32[] memory structHashes = new bytes32[](orders.length);
        uint256 previousKey;
        address previousHousehold;
        for (uint256 i; i < orders.length; ++i) {
            Order calldata order = orders[i].order;
            if (order.intervalId != intervalId) {
                revert MarketOrderIntervalMismatch(i, order.intervalId, intervalId);
            }
            if (order.side > SIDE_BUY) revert MarketInvalidSide(i, order.side);
            // Strictly increasing (household, nonce): no order or nonce appears twice, and a
            // household's orders are adjacent, so settlement can group them by runs.
            uint256 key = (uint256(uint160(order.household)) << 64) | order.nonce;
            if (i != 0 && key <= previousKey) revert MarketOrdersNotSorted(i);
            previousKey = key;
            // One membership read per household run. `i == 0` matters: address(0) is never a
            // member, and ecrecover answers address(0) for a garbage signature.
            if (i == 0 || order.household != previousHousehold) {
                if (!_registry.isMember(order.household)) revert MarketNotMember(order.household);
                previousHousehold = order.household;
            }
            if (isNonceCancelled(order.household, order.nonce)) {
                revert MarketOrderCancelled(order.household, order.nonce);
            }
            bytes32 structHash = orderStructHash(order);
            structHashes[i] = structHash;
            address signer = _recover(
                keccak256(abi.encodePacked("\x19\x01", separator, structHash)),
                orders[i].v,
                orders[i].r,
                orders[i].s
            );
            if (signer != order.household) {
                revert MarketInvalidOrderSignature(i, order.household, signer);
            }
        }
        return keccak256(abi.encodePacked(structHashes));
    }

    /// @dev Returns, per order, Σ energyWh * pricePerKwh of its trades when it is a buy order.
    function _verifyTrades(
        uint64 intervalId,
        SignedOrder[] calldata orders,
        Trade[] calldata trades
    ) private returns (uint256[] memory costMilliUnits) {
        uint256[] memory filledWh = new uint256[](orders.length);
        costMilliUnits = new uint256[](orders.length);
        for (uint256 j; j < trades.length; ++j) {
            Trade calldata trade = trades[j];
            Order calldata sell = _tradeOrder(orders, j, trade.sellOrderIndex, SIDE_SELL);
            Order calldata buy = _tradeOrder(orders, j, trade.buyOrderIndex, SIDE_BUY);
            if (sell.household == buy.household) revert MarketSelfTrade(j, sell.household);
            if (trade.energyWh == 0) revert MarketZeroEnergyTrade(j);
            if (trade.pricePerKwh > buy.pricePerKwh) {
                revert MarketBuyerLimitExceeded(j, trade.pricePerKwh, buy.pricePerKwh);
            }
            if (trade.pricePerKwh < sell.pricePerKwh) {
                revert MarketSellerLimitNotMet(j, trade.pricePerKwh, sell.pricePerKwh);
            }
            uint256 sellFilled = filledWh[trade.sellOrderIndex] + trade.energyWh;
            if (sellFilled > sell.energyWh) {
                revert MarketTradeExceedsOrder(trade.sellOrderIndex, sellFilled, sell.energyWh);
            }
            filledWh[trade.sellOrderIndex] = sellFilled;
            uint256 buyFilled = filledWh[trade.buyOrderIndex] + trade.energyWh;
            if (buyFilled > buy.energyWh) {
                revert MarketTradeExceedsOrder(trade.buyOrderIndex, buyFilled, buy.energyWh);
            }
            filledWh[trade.buyOrderIndex] = buyFilled;
            costMilliUnits[trade.buyOrderIndex] += uint256(trade.energyWh) * trade.pricePerKwh;
            emit TradeCommitted(
                intervalId, sell.household, buy.household, trade.energyWh, trade.pricePerKwh
            );
        }
    }

    function _tradeOrder(
        SignedOrder[] calldata orders,
        uint256 tradeIndex,
        uint256 orderIndex,
        uint8 side
    ) private pure returns (Order calldata order) {
        if (orderIndex >= orders.length) {
            revert MarketTradeOrderOutOfRange(tradeIndex, orderIndex);
        }
        order = orders[orderIndex].order;
        if (order.side != side) revert MarketTradeSideMismatch(tradeIndex, orderIndex);
    }

    function _lock(uint64 intervalId, address household, uint256 amountUnits) private {
        Account storage account = _accounts[household];
        uint256 available = account.freeUnits;
        if (amountUnits > available) {
            revert MarketInsufficientEscrow(household, available, amountUnits);
        }
        // Both fit: amountUnits <= free, and free + locked never exceeds uint128 (deposit).
        // forge-lint: disable-next-line(unsafe-typecast) amountUnits <= available, a uint128
        account.freeUnits = uint128(available - amountUnits);
        // forge-lint: disable-next-line(unsafe-typecast) free + locked never exceeds uint128 (checked on deposit; += is checked)
        account.lockedUnits += uint128(amountUnits);
        emit EscrowLocked(intervalId, household, amountUnits);
    }

    // ---------------------------------------------------------------- readings

    /// @inheritdoc IQuartierMarket
    function submitReadings(SignedReading[] calldata readings) external {
        bytes32 separator = domainSeparator();
        for (uint256 i; i < readings.length; ++i) {
            _acceptReading(readings[i], separator);
        }
    }

    function _acceptReading(SignedReading calldata reading, bytes32 separator) private {
        bytes32 meterId = keccak256(abi.encodePacked(reading.publicKeyX, reading.publicKeyY));
        ReadingValues calldata values = reading.values;
        ICommunityRegistry.MeterStatus status = _registry.meter(meterId).status;
        if (status == ICommunityRegistry.MeterStatus.Unknown) revert MarketUnknownMeter(meterId);
        if (status == ICommunityRegistry.MeterStatus.Revoked) revert MarketMeterRevoked(meterId);
        uint256 availableAt = (uint256(values.intervalId) + 1) * INTERVAL_SECONDS;
        // forge-lint: disable-next-line(block-timestamp) a reading exists only after its interval
        if (availableAt > block.timestamp) {
            revert MarketReadingFromFuture(meterId, values.intervalId, availableAt);
        }
        bytes32 head = _readingHeads[meterId];
        if (head != bytes32(0)) _checkSuccessor(meterId, head, reading);
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01", separator, keccak256(abi.encode(READING_TYPEHASH, meterId, values))
            )
        );
        if (!P256.verify(digest, reading.r, reading.s, reading.publicKeyX, reading.publicKeyY)) {
            revert MarketInvalidReadingSignature(meterId, values.intervalId);
        }
        _readingHeads[meterId] = chainLink(head, values);
        emit ReadingAccepted(
            meterId, values.intervalId, values.importWhTotal, values.exportWhTotal, values.seq
        );
    }

    /// @dev The reading must follow the meter's latest one, proven by (previousLink, previous).
    function _checkSuccessor(bytes32 meterId, bytes32 head, SignedReading calldata reading)
        private
        pure
    {
        ReadingValues calldata previous = reading.previous;
        ReadingValues calldata values = reading.values;
        if (chainLink(reading.previousLink, previous) != head) {
            revert MarketStalePredecessor(meterId, head);
        }
        if (values.seq <= previous.seq) {
            revert MarketSeqNotIncreasing(meterId, values.seq, previous.seq);
        }
        if (values.intervalId <= previous.intervalId) {
            revert MarketIntervalNotIncreasing(meterId, values.intervalId, previous.intervalId);
        }
        if (values.importWhTotal < previous.importWhTotal) {
            revert MarketRegisterDecreased(meterId, values.importWhTotal, previous.importWhTotal);
        }
        if (values.exportWhTotal < previous.exportWhTotal) {
            revert MarketRegisterDecreased(meterId, values.exportWhTotal, previous.exportWhTotal);
        }
    }

    // ---------------------------------------------------------------- settlement

    /// @inheritdoc IQuartierMarket
    function settleInterval(
        uint64 intervalId,
        Order[] calldata orders,
        Trade[] calldata trades,
        HouseholdMeters[] calldata households
    ) external {
        IntervalRecord storage record = _intervals[intervalId];
        bytes32 committed = record.commitment;
        if (committed == bytes32(0)) revert MarketIntervalNotCommitted(intervalId);
        if (record.settled) revert MarketIntervalAlreadySettled(intervalId);
        bytes32 given = _commitmentOf(intervalId, orders, trades);
        if (given != committed) revert MarketCommitmentMismatch(intervalId, committed, given);
        record.settled = true;

        Settlement memory s = _groupHouseholds(orders);
        if (households.length != s.households.length) {
            revert MarketHouseholdCountMismatch(households.length, s.households.length);
        }
        for (uint256 h; h < households.length; ++h) {
            (s.exportedWh[h], s.importedWh[h]) =
                _meteredEnergy(intervalId, s.households[h], households[h].meters);
        }
        for (uint256 j; j < trades.length; ++j) {
            s.soldWh[s.householdOf[trades[j].sellOrderIndex]] += trades[j].energyWh;
            s.boughtWh[s.householdOf[trades[j].buyOrderIndex]] += trades[j].energyWh;
            s.costMilliUnits[trades[j].buyOrderIndex] += uint256(trades[j].energyWh)
            * trades[j].pricePerKwh;
        }
        for (uint256 j; j < trades.length; ++j) {
            _settleTrade(intervalId, s, trades[j]);
        }
        for (uint256 i; i < orders.length; ++i) {
            if (s.costMilliUnits[i] != 0) {
                _release(
                    intervalId,
                    orders[i].household,
                    _ceilDiv1000(s.costMilliUnits[i]),
                    s.paidUnits[i]
                );
            }
        }
        emit IntervalSettled(intervalId, s.deliveredWh, s.totalPaidUnits);
    }

    function _groupHouseholds(Order[] calldata orders) private pure returns (Settlement memory s) {
        s.householdOf = new uint256[](orders.length);
        address[] memory households = new address[](orders.length);
        uint256 count;
        for (uint256 i; i < orders.length; ++i) {
            // Committed orders are sorted by household, so each household is one run.
            if (count == 0 || households[count - 1] != orders[i].household) {
                households[count++] = orders[i].household;
            }
            s.householdOf[i] = count - 1;
        }
        assembly {
            mstore(households, count) // shrink to the distinct households
        }
        s.households = households;
        s.exportedWh = new uint256[](count);
        s.importedWh = new uint256[](count);
        s.soldWh = new uint256[](count);
        s.boughtWh = new uint256[](count);
        s.costMilliUnits = new uint256[](orders.length);
        s.paidUnits = new uint256[](orders.length);
    }

    /// @dev Sums R(k) - R(k-1) over all active meters of the household, each proven against
    /// its chain head.
    function _meteredEnergy(uint64 intervalId, address household, MeterProof[] calldata meters)
        private
        view
        returns (uint256 exportedWh, uint256 importedWh)
    {
        uint256 active = _registry.activeMeterCount(household);
        if (meters.length != active) {
            revert MarketMeterCountMismatch(household, meters.length, active);
        }
        bytes32 previousId;
        for (uint256 m; m < meters.length; ++m) {
            MeterProof calldata proof = meters[m];
            if (m != 0 && proof.meterId <= previousId) {
                revert MarketMetersNotSorted(household, proof.meterId);
            }
            previousId = proof.meterId;
            ICommunityRegistry.MeterRecord memory meterRecord = _registry.meter(proof.meterId);
            if (
                meterRecord.household != household
                    || meterRecord.status != ICommunityRegistry.MeterStatus.Active
            ) {
                revert MarketMeterNotOfHousehold(proof.meterId, household);
            }
            ReadingValues[] calldata readings = proof.readings;
            if (
                intervalId == 0 || readings.length < 2 || readings[0].intervalId != intervalId - 1
                    || readings[1].intervalId != intervalId
            ) revert MarketBoundaryReadingMissing(proof.meterId, intervalId);
            bytes32 proven = proof.link;
            for (uint256 r; r < readings.length; ++r) {
                proven = chainLink(proven, readings[r]);
            }
            bytes32 head = _readingHeads[proof.meterId];
            if (proven != head) revert MarketReadingProofInvalid(proof.meterId, head, proven);
            // Consecutive accepted readings: registers never decrease (checked on submission).
            exportedWh += readings[1].exportWhTotal - readings[0].exportWhTotal;
            importedWh += readings[1].importWhTotal - readings[0].importWhTotal;
        }
    }

    function _settleTrade(uint64 intervalId, Settlement memory s, Trade calldata trade) private {
        uint256 seller = s.householdOf[trade.sellOrderIndex];
        uint256 buyer = s.householdOf[trade.buyOrderIndex];
        uint256 sold = s.soldWh[seller];
        uint256 bought = s.boughtWh[buyer];
        uint256 bySeller = uint256(trade.energyWh) * _min(s.exportedWh[seller], sold) / sold;
        uint256 byBuyer = uint256(trade.energyWh) * _min(s.importedWh[buyer], bought) / bought;
        uint64 deliveredWh = uint64(_min(bySeller, byBuyer));
        uint256 paymentUnits = uint256(deliveredWh) * trade.pricePerKwh / 1000;
        s.paidUnits[trade.buyOrderIndex] += paymentUnits;
        s.deliveredWh += deliveredWh;
        s.totalPaidUnits += paymentUnits;
        address sellerHousehold = s.households[seller];
        // forge-lint: disable-next-line(unsafe-typecast) a payment is at most its buy order's lock, a uint128; += is checked
        if (paymentUnits != 0) _accounts[sellerHousehold].freeUnits += uint128(paymentUnits);
        emit TradeSettled(
            intervalId, sellerHousehold, s.households[buyer], deliveredWh, paymentUnits
        );
    }

    /// @dev Unlocks a buy order's lock: the payments went to sellers, the rest returns to free.
    function _release(uint64 intervalId, address household, uint256 lockedUnits, uint256 paidUnits)
        private
    {
        Account storage account = _accounts[household];
        // forge-lint: disable-next-line(unsafe-typecast) lockedUnits was locked at commit as a uint128
        account.lockedUnits -= uint128(lockedUnits);
        // paid = Σ floor(d * p / 1000) <= floor(Σ e * p / 1000) <= lock, so this never underflows.
        uint256 releasedUnits = lockedUnits - paidUnits;
        // forge-lint: disable-next-line(unsafe-typecast) releasedUnits <= lockedUnits, a uint128; += is checked
        account.freeUnits += uint128(releasedUnits);
        emit EscrowReleased(intervalId, household, releasedUnits);
    }

    function _commitmentOf(uint64 intervalId, Order[] calldata orders, Trade[] calldata trades)
        private
        pure
        returns (bytes32)
    {
        bytes32[] memory structHashes = new bytes32[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            structHashes[i] = orderStructHash(orders[i]);
        }
        return keccak256(
            abi.encode(
                intervalId, keccak256(abi.encodePacked(structHashes)), keccak256(abi.encode(trades))
            )
        );
    }

    // ---------------------------------------------------------------- views

    /// @notice When the book of `intervalId` closes: its start minus the gate lead (never < 0).
    function gateClosureOf(uint64 intervalId) public view returns (uint256) {
        uint256 start = uint256(intervalId) * INTERVAL_SECONDS;
        return start > _gateClosureLeadSeconds ? start - _gateClosureLeadSeconds : 0;
    }

    function registry() external view returns (address) {
        return address(_registry);
    }

    function token() external view returns (address) {
        return address(_token);
    }

    function gateClosureLeadSeconds() external view returns (uint64) {
        return _gateClosureLeadSeconds;
    }

    function escrowOf(address household)
        external
        view
        returns (uint256 freeUnits, uint256 lockedUnits)
    {
        Account storage account = _accounts[household];
        return (account.freeUnits, account.lockedUnits);
    }

    function isNonceCancelled(address household, uint64 nonce) public view returns (bool) {
        return _cancelledNonces[household][nonce >> 8] & (uint256(1) << (nonce & 0xff)) != 0;
    }

    function commitmentOf(uint64 intervalId) external view returns (bytes32) {
        return _intervals[intervalId].commitment;
    }

    function isSettled(uint64 intervalId) external view returns (bool) {
        return _intervals[intervalId].settled;
    }

    function readingHead(bytes32 meterId) external view returns (bytes32) {
        return _readingHeads[meterId];
    }

    function domainSeparator() public view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    /// @dev A static struct ABI-encodes inline, one word per field in declaration order: exactly
    /// EIP-712's encodeData for these all-static types, and cheaper than field by field.
    function orderStructHash(Order calldata order) public pure returns (bytes32) {
        return keccak256(abi.encode(ORDER_TYPEHASH, order));
    }

    function orderDigest(Order calldata order) external view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), orderStructHash(order)));
    }

    function readingDigest(bytes32 meterId, ReadingValues calldata values)
        external
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(
                "\x19\x01",
                domainSeparator(),
                keccak256(abi.encode(READING_TYPEHASH, meterId, values))
            )
        );
    }

    function chainLink(bytes32 head, ReadingValues calldata values) public pure returns (bytes32) {
        return keccak256(abi.encode(head, values));
    }

    // ---------------------------------------------------------------- helpers

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("Quartier"), keccak256("1"), block.chainid, address(this)
            )
        );
    }

    /// @dev ecrecover with the usual malleability guards; address(0) when invalid.
    function _recover(bytes32 digest, uint8 v, bytes32 r, bytes32 s)
        private
        pure
        returns (address)
    {
        if (uint256(s) > SECP256K1_HALF_N || (v != 27 && v != 28)) {
            return address(0);
        }
        return ecrecover(digest, v, r, s);
    }

    /// @dev Calls the token, accepting tokens that return nothing; bubbles the token's revert.
    function _callToken(bytes memory data) private {
        (bool ok, bytes memory result) = address(_token).call(data);
        if (!ok) {
            if (result.length != 0) {
                assembly {
                    revert(add(result, 32), mload(result))
                }
            }
            revert MarketTokenTransferFailed(address(_token));
        }
        if (result.length == 0 ? address(_token).code.length == 0 : !abi.decode(result, (bool))) {
            revert MarketTokenTransferFailed(address(_token));
        }
    }

    /// @dev Rounds the lock up so it always covers Σ floor(payment) of the order's trades.
    function _ceilDiv1000(uint256 milliUnits) private pure returns (uint256) {
        return (milliUnits + 999) / 1000;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
