"""A meter's reading chain, as the market commits to it.

The market keeps one slot per meter: the head of a hash chain over its accepted readings,
`head' = keccak256(abi.encode(head, intervalId, importWhTotal, exportWhTotal, seq))` from zero.
A new reading names its predecessor (values and the head before it); settlement proves the
boundary readings R(k-1), R(k) with the chain segment from R(k-1) to the head. This module
rebuilds the chain from `ReadingAccepted` events, so any relayer (not only the one that
submitted the readings) can extend it or prove from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3.contract import Contract

from ledger.chain import chain_call
from ledger.errors import LedgerError
from metering.reading import Reading

ZERO_HEAD = bytes(32)


class ReadingChainError(LedgerError):
    """The chain cannot prove what is asked (missing boundary reading, diverged head)."""


@dataclass(frozen=True)
class ChainValues:
    """The values of one reading as hashed into the chain (the contract's ReadingValues)."""

    interval_id: int
    import_wh_total: int
    export_wh_total: int
    seq: int

    @classmethod
    def of(cls, reading: Reading) -> ChainValues:
        return cls(
            reading.interval_id, reading.import_wh_total, reading.export_wh_total, reading.seq
        )

    def as_abi(self) -> tuple[int, int, int, int]:
        return (self.interval_id, self.import_wh_total, self.export_wh_total, self.seq)


def chain_link(head: bytes, values: ChainValues) -> bytes:
    """The next head after appending `values` to a chain whose head is `head`."""
    return keccak(
        abi_encode(["bytes32", "uint64", "uint64", "uint64", "uint64"], [head, *values.as_abi()])
    )


@dataclass(frozen=True)
class MeterProof:
    """The segment of one meter's chain from R(k-1) to its head."""

    meter_id: bytes
    link: bytes
    readings: tuple[ChainValues, ...]

    def as_abi(self) -> tuple[Any, ...]:
        return (self.meter_id, self.link, [values.as_abi() for values in self.readings])


@dataclass
class MeterChain:
    """The accepted readings of one meter, oldest first, with the head before each."""

    meter_id: bytes
    entries: list[ChainValues] = field(default_factory=list)
    links: list[bytes] = field(default_factory=list)

    @property
    def head(self) -> bytes:
        """The head the market should store for this meter."""
        if not self.entries:
            return ZERO_HEAD
        return chain_link(self.links[-1], self.entries[-1])

    def predecessor(self) -> tuple[bytes, ChainValues]:
        """(link, values) of the latest reading, as a new reading names it; zeros when none."""
        if not self.entries:
            return ZERO_HEAD, ChainValues(0, 0, 0, 0)
        return self.links[-1], self.entries[-1]

    def append(self, values: ChainValues) -> None:
        """Record a reading the market accepted."""
        self.links.append(self.head)
        self.entries.append(values)

    def proof(self, interval_id: int) -> MeterProof:
        """The proof of R(interval_id - 1) and R(interval_id) for settling `interval_id`."""
        for index, values in enumerate(self.entries[:-1]):
            following = self.entries[index + 1]
            if values.interval_id == interval_id - 1 and following.interval_id == interval_id:
                return MeterProof(self.meter_id, self.links[index], tuple(self.entries[index:]))
        raise ReadingChainError(
            f"meter 0x{self.meter_id.hex()} has no consecutive readings for intervals "
            f"{interval_id - 1} and {interval_id}"
        )


def load_chain(market: Contract, meter_id: bytes, from_block: int) -> MeterChain:
    """Rebuild a meter's chain from the market's ReadingAccepted events and check its head."""
    logs = market.events.ReadingAccepted().get_logs(
        argument_filters={"meterId": meter_id}, from_block=from_block
    )
    chain = MeterChain(meter_id)
    for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
        args = log["args"]
        chain.append(
            ChainValues(
                args["intervalId"], args["importWhTotal"], args["exportWhTotal"], args["seq"]
            )
        )
    stored = bytes(chain_call(market.functions.readingHead(meter_id)))
    if stored != chain.head:
        raise ReadingChainError(
            f"meter 0x{meter_id.hex()}: events rebuild head 0x{chain.head.hex()} but the market "
            f"stores 0x{stored.hex()} (events read from block {from_block} on?)"
        )
    return chain
