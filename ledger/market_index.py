"""An incremental index of the market's and the registry's events, for a relayer.

A relayer needs, every interval, each meter's reading chain (to name a new reading's
predecessor and to prove boundary readings at settlement), each household's active meters,
and the commit transaction of an interval (to read its book back). Re-reading every event
since deployment for each of these grows with the chain's age: over a day, quadratic. The
index follows the chain instead: each `sync` asks for the logs of the blocks mined since the
previous one, in one query per contract.

Nothing here is trusted by the contracts: a stale chain makes a submission revert with
MarketStalePredecessor (the client re-syncs and retries), a wrong proof or meter set makes
settlement revert. A meter's chain is checked once against the market's stored head when it
is first served, which catches an index started at the wrong block.
"""

from __future__ import annotations

import threading

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.types import FilterParams, RPCEndpoint

from ledger.chain import lean_call
from ledger.errors import ChainUnreachableError
from ledger.events import IntervalCommitted, ReadingAccepted, decode_log
from ledger.meter_chain import ChainValues, MeterChain, ReadingChainError


def _topic(contract: Contract, event: str) -> HexBytes:
    return HexBytes(contract.events[event].topic)


class MarketIndex:
    """Reading chains, meters per household and commit transactions, as of `synced_block`."""

    def __init__(self, market: Contract, registry: Contract, from_block: int) -> None:
        self.market = market
        self.registry = registry
        self.from_block = from_block
        self.synced_block = from_block - 1
        #: Shared with the market client, which appends the readings it submitted itself.
        self.chains: dict[bytes, MeterChain] = {}
        self._meters_of: dict[str, set[bytes]] = {}
        self._revoked: set[bytes] = set()
        self._commits: dict[int, bytes] = {}
        self._checked: set[bytes] = set()
        # The API's threads and the worker share one client: one sync at a time, so no event
        # is appended twice.
        self._lock = threading.RLock()
        self._market_topics = [
            _topic(market, "ReadingAccepted"),
            _topic(market, "IntervalCommitted"),
        ]
        self._admitted = _topic(registry, "MeterAdmitted")
        self._registry_topics = [self._admitted, _topic(registry, "MeterRevoked")]

    def sync(self) -> None:
        """Read the events of the blocks mined since the previous sync."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        w3 = self.market.w3
        answer = w3.provider.make_request(RPCEndpoint("eth_blockNumber"), [])
        if "error" in answer:
            raise ChainUnreachableError(f"eth_blockNumber failed: {answer['error']}")
        head = int(str(answer["result"]), 16)
        if head <= self.synced_block:
            return
        first = self.synced_block + 1
        market_logs = w3.eth.get_logs(
            FilterParams(
                address=self.market.address,
                topics=[self._market_topics],
                fromBlock=first,
                toBlock=head,
            )
        )
        for log in sorted(market_logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
            event = decode_log(self.market, log)
            if isinstance(event, ReadingAccepted):
                self._append(event)
            elif isinstance(event, IntervalCommitted):
                self._commits[event.interval_id] = bytes(log["transactionHash"])
        registry_logs = w3.eth.get_logs(
            FilterParams(
                address=self.registry.address,
                topics=[self._registry_topics],
                fromBlock=first,
                toBlock=head,
            )
        )
        for log in registry_logs:
            topics = log["topics"]
            meter_id = bytes(topics[1])
            if topics[0] == self._admitted:
                household = to_checksum_address(bytes(topics[2])[-20:])
                self._meters_of.setdefault(household, set()).add(meter_id)
            else:  # revoked for good: the registry has no way back
                self._revoked.add(meter_id)
        self.synced_block = head

    def _append(self, event: ReadingAccepted) -> None:
        chain = self.chains.setdefault(event.meter_id, MeterChain(event.meter_id))
        # The client appends what it submitted itself, and a meter's seqs strictly increase:
        # an event at or below the chain's last seq is already in it.
        if chain.entries and event.seq <= chain.entries[-1].seq:
            return
        chain.append(
            ChainValues(event.interval_id, event.import_wh_total, event.export_wh_total, event.seq)
        )

    def meter_chain(self, meter_id: bytes) -> MeterChain:
        """The meter's chain as of the last sync, checked against the market once."""
        chain = self.chains.setdefault(meter_id, MeterChain(meter_id))
        if meter_id not in self._checked:
            stored = bytes(lean_call(self.market.functions.readingHead(meter_id))[0])
            if stored != chain.head:
                self.sync()  # a reading may have been mined since the last sync
                stored = bytes(lean_call(self.market.functions.readingHead(meter_id))[0])
            if stored != chain.head:
                raise ReadingChainError(
                    f"meter 0x{meter_id.hex()}: events from block {self.from_block} rebuild "
                    f"head 0x{chain.head.hex()} but the market stores 0x{stored.hex()}"
                )
            self._checked.add(meter_id)
        return chain

    def active_meters(self, household: str) -> list[bytes]:
        """The household's admitted, unrevoked meters as of the last sync, sorted by id."""
        meters = self._meters_of.get(to_checksum_address(household), set())
        return sorted(meters - self._revoked)

    def commit_transaction(self, interval_id: int) -> bytes | None:
        """The hash of the transaction that committed `interval_id`, if seen yet."""
        return self._commits.get(interval_id)
