"""EIP-712 orders: a household's signed offer to sell or bid to buy energy in one interval.

    Order(address household,uint8 side,uint64 intervalId,uint64 energyWh,uint64 pricePerKwh,
          uint64 nonce)

is signed by the household's Ethereum key under the domain ("Quartier", "1", chain id,
QuartierMarket address) shared with meter readings (`metering.reading.domain_separator`).
Signing goes through eth-account's `sign_typed_data`, so what a wallet would sign and what
this module signs are the same bytes.

Money rules of the market, mirrored here so clients can predict them exactly:
a buy order's escrow lock is `ceil(Σ energy_wh * price_per_kwh / 1000)` over its trades, a
trade pays `floor(delivered_wh * price_per_kwh / 1000)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from ledger.errors import LedgerError
from metering.reading import DOMAIN_NAME, DOMAIN_VERSION, domain_separator

ORDER_TYPE = (
    "Order(address household,uint8 side,uint64 intervalId,uint64 energyWh,"
    "uint64 pricePerKwh,uint64 nonce)"
)
ORDER_TYPEHASH = keccak(text=ORDER_TYPE)
_UINT64_MAX = 2**64 - 1


class OrderFormatError(LedgerError):
    """An order, signed order or trade that the market's format cannot carry."""


class Side(IntEnum):
    """Mirror of the market's side values."""

    SELL = 0
    BUY = 1


def _uint64(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT64_MAX:
        raise OrderFormatError(f"{name} must be an integer in [0, 2**64 - 1], got {value!r}")


@dataclass(frozen=True)
class Order:
    """One household's order for one interval; `price_per_kwh` in token base units."""

    household: str
    side: Side
    interval_id: int
    energy_wh: int
    price_per_kwh: int
    nonce: int

    def __post_init__(self) -> None:
        if not isinstance(self.household, str) or not is_address(self.household):
            raise OrderFormatError(f"household is not an address: {self.household!r}")
        object.__setattr__(self, "household", to_checksum_address(self.household))
        object.__setattr__(self, "side", Side(self.side))
        for name in ("interval_id", "energy_wh", "price_per_kwh", "nonce"):
            _uint64(name, getattr(self, name))

    def as_abi(self) -> tuple[str, int, int, int, int, int]:
        """The `Order` tuple as the contract ABI takes it."""
        return (
            self.household,
            int(self.side),
            self.interval_id,
            self.energy_wh,
            self.price_per_kwh,
            self.nonce,
        )

    @property
    def commit_key(self) -> tuple[int, int]:
        """The market requires committed orders sorted by strictly increasing (household, nonce)."""
        return int(self.household, 16), self.nonce


@dataclass(frozen=True)
class SignedOrder:
    """An order with its secp256k1 signature (v, r, s)."""

    order: Order
    v: int
    r: int
    s: int

    def as_abi(self) -> tuple[Any, ...]:
        """The `SignedOrder` tuple as the contract ABI takes it."""
        return (self.order.as_abi(), self.v, self.r.to_bytes(32, "big"), self.s.to_bytes(32, "big"))


@dataclass(frozen=True)
class Trade:
    """A cleared trade between two orders of a commit's (sorted) order list."""

    sell_order_index: int
    buy_order_index: int
    energy_wh: int
    price_per_kwh: int

    def __post_init__(self) -> None:
        for name in ("sell_order_index", "buy_order_index"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
                raise OrderFormatError(f"{name} must fit in uint32, got {value!r}")
        _uint64("energy_wh", self.energy_wh)
        _uint64("price_per_kwh", self.price_per_kwh)

    def as_abi(self) -> tuple[int, int, int, int]:
        """The `Trade` tuple as the contract ABI takes it."""
        return (self.sell_order_index, self.buy_order_index, self.energy_wh, self.price_per_kwh)


def typed_data(order: Order, chain_id: int, market_address: str) -> dict[str, Any]:
    """The full EIP-712 message of an order, as a wallet's eth_signTypedData_v4 takes it."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Order": [
                {"name": "household", "type": "address"},
                {"name": "side", "type": "uint8"},
                {"name": "intervalId", "type": "uint64"},
                {"name": "energyWh", "type": "uint64"},
                {"name": "pricePerKwh", "type": "uint64"},
                {"name": "nonce", "type": "uint64"},
            ],
        },
        "primaryType": "Order",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(market_address),
        },
        "message": {
            "household": order.household,
            "side": int(order.side),
            "intervalId": order.interval_id,
            "energyWh": order.energy_wh,
            "pricePerKwh": order.price_per_kwh,
            "nonce": order.nonce,
        },
    }


def order_struct_hash(order: Order) -> bytes:
    """EIP-712 hashStruct of an order (what the market hashes into its commitment)."""
    return keccak(
        abi_encode(
            ["bytes32", "address", "uint8", "uint64", "uint64", "uint64", "uint64"],
            [ORDER_TYPEHASH, *order.as_abi()],
        )
    )


def order_digest(order: Order, chain_id: int, market_address: str) -> bytes:
    """The 32-byte digest a household signs: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct)."""
    return keccak(
        b"\x19\x01" + domain_separator(chain_id, market_address) + order_struct_hash(order)
    )


def sign_order(
    private_key: str | bytes, order: Order, chain_id: int, market_address: str
) -> SignedOrder:
    """Sign `order` with the household's key (EIP-712 typed data, as a wallet would)."""
    account = Account.from_key(private_key)
    if account.address != order.household:
        raise OrderFormatError(f"the key of {account.address} cannot sign for {order.household}")
    signed = Account.sign_typed_data(
        private_key, full_message=typed_data(order, chain_id, market_address)
    )
    return SignedOrder(order, int(signed.v), int(signed.r), int(signed.s))


def recover_signer(signed: SignedOrder, chain_id: int, market_address: str) -> str:
    """The address whose key produced the signature (equals the household when valid)."""
    message = encode_typed_data(full_message=typed_data(signed.order, chain_id, market_address))
    return str(Account.recover_message(message, vrs=(signed.v, signed.r, signed.s)))


def sort_for_commit(
    orders: Sequence[SignedOrder], trades: Sequence[Trade]
) -> tuple[list[SignedOrder], list[Trade]]:
    """Orders sorted by (household, nonce) as the market requires, trades re-indexed to match."""
    order_indices = sorted(range(len(orders)), key=lambda i: orders[i].order.commit_key)
    position = {original: sorted_index for sorted_index, original in enumerate(order_indices)}
    for trade in trades:
        for index in (trade.sell_order_index, trade.buy_order_index):
            if index >= len(orders):
                raise OrderFormatError(f"a trade refers to order {index} of {len(orders)}")
    remapped = [
        replace(
            trade,
            sell_order_index=position[trade.sell_order_index],
            buy_order_index=position[trade.buy_order_index],
        )
        for trade in trades
    ]
    return [orders[i] for i in order_indices], remapped


def lock_units(energy_wh_and_prices: Sequence[tuple[int, int]]) -> int:
    """Escrow a buy order locks for its trades: ceil(Σ energy_wh * price_per_kwh / 1000)."""
    milli_units = sum(energy_wh * price for energy_wh, price in energy_wh_and_prices)
    return -(-milli_units // 1000)


def payment_units(delivered_wh: int, price_per_kwh: int) -> int:
    """What one trade pays its seller: floor(delivered_wh * price_per_kwh / 1000)."""
    return delivered_wh * price_per_kwh // 1000
