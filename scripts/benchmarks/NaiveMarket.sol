// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ICommunityRegistry} from "../../contracts/interfaces/ICommunityRegistry.sol";
import {IQuartierMarket} from "../../contracts/interfaces/IQuartierMarket.sol";
import {P256} from "../../contracts/libraries/P256.sol";

/// @title NaiveMarket
/// @notice The benchmark's reference design, never deployed for real: the same checks as
/// QuartierMarket (EIP-712 orders verified with ecrecover, P-256 readings with P256VERIFY,
/// members and meters from the registry) but the obvious storage: one struct per trade and
/// one struct per reading. scripts/bench measures both designs side by side.
contract NaiveMarket {
    struct StoredTrade {
        address seller;
        address buyer;
        uint64 intervalId;
        uint64 energyWh;
        uint64 pricePerKwh;
        bytes32 sellOrderHash;
        bytes32 buyOrderHash;
    }

    struct StoredReading {
        uint64 importWhTotal;
        uint64 exportWhTotal;
        uint64 seq;
        bool present;
    }

    bytes32 private constant ORDER_TYPEHASH = keccak256(
        "Order(address household,uint8 side,uint64 intervalId,uint64 energyWh,uint64 pricePerKwh,uint64 nonce)"
    );
    bytes32 private constant READING_TYPEHASH = keccak256(
        "Reading(bytes32 meterId,uint64 intervalId,uint64 importWhTotal,uint64 exportWhTotal,uint64 seq)"
    );

    ICommunityRegistry private immutable _registry;
    bytes32 private immutable _domainSeparator;
    mapping(uint64 intervalId => StoredTrade[]) public trades;
    mapping(bytes32 meterId => mapping(uint64 intervalId => StoredReading)) public readings;
    mapping(bytes32 meterId => uint64) public lastSeq;

    error NaiveInvalidSignature(uint256 index);
    error NaiveNotMember(address household);
    error NaiveUnknownMeter(bytes32 meterId);
    error NaiveSeqNotIncreasing(bytes32 meterId);

    constructor(ICommunityRegistry registry) {
        _registry = registry;
        _domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Quartier"),
                keccak256("1"),
                block.chainid,
                address(this)
            )
        );
    }

    function commitInterval(
        uint64 intervalId,
        IQuartierMarket.SignedOrder[] calldata orders,
        IQuartierMarket.Trade[] calldata cleared
    ) external {
        bytes32[] memory orderHashes = new bytes32[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            IQuartierMarket.Order calldata order = orders[i].order;
            if (!_registry.isMember(order.household)) revert NaiveNotMember(order.household);
            orderHashes[i] = keccak256(abi.encode(ORDER_TYPEHASH, order));
            bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _domainSeparator, orderHashes[i]));
            if (ecrecover(digest, orders[i].v, orders[i].r, orders[i].s) != order.household) {
                revert NaiveInvalidSignature(i);
            }
        }
        for (uint256 j; j < cleared.length; ++j) {
            IQuartierMarket.Trade calldata trade = cleared[j];
            trades[intervalId].push(
                StoredTrade({
                    seller: orders[trade.sellOrderIndex].order.household,
                    buyer: orders[trade.buyOrderIndex].order.household,
                    intervalId: intervalId,
                    energyWh: trade.energyWh,
                    pricePerKwh: trade.pricePerKwh,
                    sellOrderHash: orderHashes[trade.sellOrderIndex],
                    buyOrderHash: orderHashes[trade.buyOrderIndex]
                })
            );
        }
    }

    function submitReadings(IQuartierMarket.SignedReading[] calldata batch) external {
        for (uint256 i; i < batch.length; ++i) {
            IQuartierMarket.SignedReading calldata reading = batch[i];
            bytes32 meterId = keccak256(abi.encodePacked(reading.publicKeyX, reading.publicKeyY));
            if (_registry.meter(meterId).status != ICommunityRegistry.MeterStatus.Active) {
                revert NaiveUnknownMeter(meterId);
            }
            if (reading.values.seq <= lastSeq[meterId]) revert NaiveSeqNotIncreasing(meterId);
            bytes32 digest = keccak256(
                abi.encodePacked(
                    "\x19\x01", _domainSeparator, keccak256(abi.encode(READING_TYPEHASH, meterId, reading.values))
                )
            );
            if (!P256.verify(digest, reading.r, reading.s, reading.publicKeyX, reading.publicKeyY)) {
                revert NaiveInvalidSignature(i);
            }
            lastSeq[meterId] = reading.values.seq;
            readings[meterId][reading.values.intervalId] = StoredReading({
                importWhTotal: reading.values.importWhTotal,
                exportWhTotal: reading.values.exportWhTotal,
                seq: reading.values.seq,
                present: true
            });
        }
    }
}
