"""Typed client of QuartierMarket: escrow, interval commits, meter readings, settlement.

Every write returns the decoded events of its transaction (`ledger.events`) and its gas;
every revert surfaces as the named `ContractRevertError` of `ledger.errors`. The market's
rules (rounding, the reading chain, the pro-rata rule) are documented in
contracts/interfaces/IQuartierMarket.sol; `ledger.orders` and `ledger.meter_chain` mirror the
parts a client must compute itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from ledger.chain import Sender, chain_call, decode_calldata, lean_call
from ledger.compiler import artifact
from ledger.errors import LedgerError, revert_class
from ledger.events import (
    Deposited,
    EscrowLocked,
    EscrowReleased,
    Event,
    IntervalCommitted,
    IntervalSettled,
    NonceCancelled,
    ReadingAccepted,
    TradeCommitted,
    TradeSettled,
    Withdrawn,
    decode_receipt,
    only,
)
from ledger.market_index import MarketIndex
from ledger.meter_chain import ChainValues, MeterChain, MeterProof
from ledger.orders import Order, Side, SignedOrder, Trade, sort_for_commit
from metering.reading import SignedReading

E = TypeVar("E")


@dataclass(frozen=True)
class Escrow:
    """A household's credits in the market: free to withdraw or lock, and locked by commits."""

    free_units: int
    locked_units: int


@dataclass(frozen=True)
class CommitResult:
    committed: IntervalCommitted
    trades: tuple[TradeCommitted, ...]
    locks: tuple[EscrowLocked, ...]
    gas_used: int


@dataclass(frozen=True)
class ReadingsResult:
    accepted: tuple[ReadingAccepted, ...]
    gas_used: int


@dataclass(frozen=True)
class SettleResult:
    settled: IntervalSettled
    trades: tuple[TradeSettled, ...]
    releases: tuple[EscrowReleased, ...]
    gas_used: int


@dataclass(frozen=True)
class CommittedBook:
    """The orders (sorted, without signatures) and trades of a committed interval."""

    interval_id: int
    orders: tuple[Order, ...]
    trades: tuple[Trade, ...]


class MarketClient:
    """Talks to one market as `sender`. `from_block`: where its events start (deploy block).

    `gas_limit`: sent with every transaction instead of asking the node to estimate each one
    first (a relayer whose call shapes are known; only the gas used is paid, and a revert is
    still named); None estimates.
    """

    def __init__(
        self, sender: Sender, address: str, from_block: int = 0, gas_limit: int | None = None
    ) -> None:
        self.sender = sender
        self.from_block = from_block
        self.gas_limit = gas_limit
        w3 = sender.w3
        self.contract: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact("QuartierMarket").abi
        )
        self.registry: Contract = w3.eth.contract(
            address=chain_call(self.contract.functions.registry()),
            abi=artifact("CommunityRegistry").abi,
        )
        self._index = MarketIndex(self.contract, self.registry, from_block)
        self._chains = self._index.chains

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def chain_id(self) -> int:
        return self.sender.chain_id

    # ------------------------------------------------------------ escrow

    def deposit(self, amount_units: int) -> Deposited:
        """Move tokens the sender approved to the market into its free escrow."""
        return _one(self._send(self.contract.functions.deposit(amount_units))[0], Deposited)

    def withdraw(self, amount_units: int) -> Withdrawn:
        """Return free escrow to the sender's wallet."""
        return _one(self._send(self.contract.functions.withdraw(amount_units))[0], Withdrawn)

    def cancel_nonce(self, nonce: int) -> NonceCancelled:
        """Cancel the sender's orders with this nonce (before their interval is committed)."""
        return _one(self._send(self.contract.functions.cancelNonce(nonce))[0], NonceCancelled)

    # ------------------------------------------------------------ commit

    def commit_interval(
        self, interval_id: int, orders: Sequence[SignedOrder], trades: Sequence[Trade]
    ) -> CommitResult:
        """Commit a cleared interval; `trades` index into `orders` as given (sorted here)."""
        sorted_orders, sorted_trades = sort_for_commit(orders, trades)
        events, gas = self._send(
            self.contract.functions.commitInterval(
                interval_id,
                [signed.as_abi() for signed in sorted_orders],
                [trade.as_abi() for trade in sorted_trades],
            )
        )
        return CommitResult(
            _one(events, IntervalCommitted),
            tuple(only(events, TradeCommitted)),
            tuple(only(events, EscrowLocked)),
            gas,
        )

    def committed_book(self, interval_id: int) -> CommittedBook:
        """Read back what was committed for `interval_id` from the commit transaction's input."""
        self._index.sync()
        tx_hash = self._index.commit_transaction(interval_id)
        if tx_hash is None:
            raise revert_class("MarketIntervalNotCommitted")({"intervalId": interval_id})
        transaction = self.sender.w3.eth.get_transaction(HexBytes(tx_hash))
        if transaction.get("to") != self.contract.address:
            raise LedgerError(
                f"interval {interval_id} was committed through another contract; "
                "pass its orders and trades to settle_interval explicitly"
            )
        # eth-abi directly: web3.py's decode_function_input formats every nested field.
        signature = self.contract.functions.commitInterval.signature
        _, signed_orders, raw_trades = decode_calldata(signature, bytes(transaction["input"]))
        orders = tuple(_order_of(signed[0]) for signed in signed_orders)
        trades = tuple(Trade(*(int(field) for field in t)) for t in raw_trades)
        return CommittedBook(interval_id, orders, trades)

    # ------------------------------------------------------------ readings

    def meter_chain(self, meter_id: bytes, refresh: bool = False) -> MeterChain:
        """The meter's reading chain from the event index (brought up to date when `refresh`).

        Each refresh reads only the blocks mined since the previous one (`ledger.market_index`).
        """
        if refresh or meter_id not in self._chains:
            self._index.sync()
        return self._index.meter_chain(meter_id)

    def submit_readings(self, readings: Sequence[SignedReading]) -> ReadingsResult:
        """Submit a batch; each reading is chained to its meter's latest accepted one.

        When another relayer extended a meter's chain meanwhile, the batch is rebuilt once
        from fresh events and sent again.
        """
        try:
            return self._submit_readings(readings)
        except revert_class("MarketStalePredecessor"):
            for signed in readings:
                self.meter_chain(signed.reading.meter_id, refresh=True)
            return self._submit_readings(readings)

    def _submit_readings(self, readings: Sequence[SignedReading]) -> ReadingsResult:
        pending: dict[bytes, MeterChain] = {}
        batch = []
        for signed in readings:
            meter_id = signed.reading.meter_id
            if meter_id not in pending:
                known = self.meter_chain(meter_id)
                pending[meter_id] = MeterChain(meter_id, list(known.entries), list(known.links))
            chain = pending[meter_id]
            link, previous = chain.predecessor()
            values = ChainValues.of(signed.reading)
            batch.append(
                (
                    signed.public_key.x,
                    signed.public_key.y,
                    values.as_abi(),
                    signed.r.to_bytes(32, "big"),
                    signed.s.to_bytes(32, "big"),
                    link,
                    previous.as_abi(),
                )
            )
            chain.append(values)
        events, gas = self._send(self.contract.functions.submitReadings(batch))
        self._chains.update(pending)
        return ReadingsResult(tuple(only(events, ReadingAccepted)), gas)

    # ------------------------------------------------------------ settlement

    def active_meters(self, household: str) -> list[bytes]:
        """The household's active meters, sorted by id as settlement requires."""
        self._index.sync()
        return self._index.active_meters(household)

    def settle_interval(self, interval_id: int, book: CommittedBook | None = None) -> SettleResult:
        """Settle a committed interval with proofs of every party meter's boundary readings."""
        book = book or self.committed_book(interval_id)
        # One sync for every proof: other relayers may have appended readings meanwhile.
        self._index.sync()
        households: list[str] = []
        for order in book.orders:
            if not households or households[-1] != order.household:
                households.append(order.household)
        proofs = [
            ([self._proof(meter_id, interval_id).as_abi() for meter_id in self._meters(h)],)
            for h in households
        ]
        events, gas = self._send(
            self.contract.functions.settleInterval(
                interval_id,
                [order.as_abi() for order in book.orders],
                [trade.as_abi() for trade in book.trades],
                proofs,
            )
        )
        return SettleResult(
            _one(events, IntervalSettled),
            tuple(only(events, TradeSettled)),
            tuple(only(events, EscrowReleased)),
            gas,
        )

    def _meters(self, household: str) -> list[bytes]:
        return self._index.active_meters(household)

    def _proof(self, meter_id: bytes, interval_id: int) -> MeterProof:
        return self._index.meter_chain(meter_id).proof(interval_id)

    # ------------------------------------------------------------ views

    def escrow_of(self, household: str) -> Escrow:
        free_units, locked_units = lean_call(self.contract.functions.escrowOf(household))
        return Escrow(int(free_units), int(locked_units))

    def is_nonce_cancelled(self, household: str, nonce: int) -> bool:
        fn = self.contract.functions.isNonceCancelled(household, nonce)
        return bool(lean_call(fn)[0])

    def commitment_of(self, interval_id: int) -> bytes:
        return bytes(chain_call(self.contract.functions.commitmentOf(interval_id)))

    def is_settled(self, interval_id: int) -> bool:
        return bool(chain_call(self.contract.functions.isSettled(interval_id)))

    def reading_head(self, meter_id: bytes) -> bytes:
        return bytes(chain_call(self.contract.functions.readingHead(meter_id)))

    def domain_separator(self) -> bytes:
        return bytes(chain_call(self.contract.functions.domainSeparator()))

    def order_digest(self, order: Order) -> bytes:
        """The digest the contract computes for an order (to cross-check local signing)."""
        return bytes(chain_call(self.contract.functions.orderDigest(order.as_abi())))

    def gate_closure_of(self, interval_id: int) -> int:
        """Unix time from which `interval_id` may be committed."""
        return int(chain_call(self.contract.functions.gateClosureOf(interval_id)))

    # ------------------------------------------------------------ helpers

    def _send(self, fn: Any) -> tuple[list[Event], int]:
        receipt: TxReceipt = self.sender.transact(fn, gas=self.gas_limit)
        return decode_receipt(self.contract, receipt), int(receipt["gasUsed"])


def _fields(value: Any) -> tuple[Any, ...]:
    # web3.py decodes a struct either as a tuple or as a name -> value mapping.
    return tuple(value.values()) if isinstance(value, dict) else tuple(value)


def _order_of(raw: Any) -> Order:
    household, side, interval_id, energy_wh, price_per_kwh, nonce = _fields(raw)
    return Order(household, Side(side), interval_id, energy_wh, price_per_kwh, nonce)


def _one(events: list[Event], kind: type[E]) -> E:
    matching = only(events, kind)
    if len(matching) != 1:
        raise LedgerError(f"expected one {kind.__name__} event, got {len(matching)}")
    return matching[0]
