"""What the chain says, as plain data: logged events with their block, and decoded calldata.

`source.read_history` fills a `History` from a node; unit tests build one by hand. Calldata
is kept raw (bytes as posted): an entry or a batch the contract should have refused must
reach the checks intact, not fail to decode on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ledger.community import Window
from ledger.exchange import MeterData
from ledger.rules import Rules, TimeGrid

E = TypeVar("E")

#: Where something happened on the chain: (block number, log index).
Position = tuple[int, int]


@dataclass(frozen=True)
class Logged(Generic[E]):
    """An event with its block, block time, transaction and log index."""

    event: E
    block_number: int
    block_time: int
    tx_hash: bytes
    log_index: int

    @property
    def position(self) -> Position:
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class RawSchedule:
    """One SignedSchedule of a `postSchedules` call, fields as posted."""

    household: str
    period_id: int
    version: int
    first_interval_id: int
    entries: bytes
    signature: bytes


@dataclass(frozen=True)
class RawBatch:
    """One MeterBatch of a `postMeterBatches` call (signature r || s)."""

    meter_id: bytes
    period_id: int
    start_import_wh: int
    start_export_wh: int
    deltas: bytes
    signature: bytes


@dataclass(frozen=True)
class RawPosting:
    """A posting as `settlePeriod` re-supplies it (no signature)."""

    version: int
    first_interval_id: int
    entries: bytes


@dataclass(frozen=True)
class RawHousehold:
    """One HouseholdPeriod of a `settlePeriod` call."""

    household: str
    postings: tuple[RawPosting, ...]
    meters: tuple[MeterData, ...]


@dataclass(frozen=True)
class PostCall:
    """A `postSchedules` transaction."""

    sender: str
    schedules: tuple[RawSchedule, ...]


@dataclass(frozen=True)
class BatchCall:
    """A `postMeterBatches` transaction."""

    sender: str
    batches: tuple[RawBatch, ...]


@dataclass(frozen=True)
class SettleCall:
    """A `settlePeriod` transaction."""

    sender: str
    period_id: int
    households: tuple[RawHousehold, ...]
    hints: bytes


@dataclass(frozen=True)
class Unreadable:
    """A transaction whose input is not a direct call of the exchange (e.g. via a contract)."""

    sender: str
    to: str | None


Call = PostCall | BatchCall | SettleCall | Unreadable


@dataclass(frozen=True)
class MeterRecord:
    """A meter as the community's views answer at the last block."""

    household: str
    window: Window
    public_key_x: int
    public_key_y: int


@dataclass
class EndState:
    """The contracts' views at the last audited block (what the replay must arrive at)."""

    escrow: dict[str, tuple[int, int]] = field(default_factory=dict)
    exchange_token_units: int = 0
    rules_history: list[tuple[int, Rules]] = field(default_factory=list)
    #: rulesAt(P) of every period with a posting or a settlement.
    rules_at: dict[int, Rules] = field(default_factory=dict)
    memberships: dict[str, Window] = field(default_factory=dict)
    meters: dict[bytes, MeterRecord] = field(default_factory=dict)
    meters_of: dict[str, list[bytes]] = field(default_factory=dict)


@dataclass
class History:
    """Everything read for one audit, deployment block to `to_block`.

    `community_events` and `exchange_events` hold the v2 event dataclasses of
    `ledger.events_v2`, `transfers` the token's `ledger.events.Transfer` events from or to
    the exchange; each list in chain order. `calls` maps the hash of every transaction that
    posted, accepted a batch or settled to its decoded input.
    """

    chain_id: int
    exchange: str
    token: str
    grid: TimeGrid
    rule_change_delay_periods: int
    from_block: int
    to_block: int
    last_block_time: int
    community_events: list[Logged[Any]] = field(default_factory=list)
    exchange_events: list[Logged[Any]] = field(default_factory=list)
    transfers: list[Logged[Any]] = field(default_factory=list)
    calls: dict[bytes, Call] = field(default_factory=dict)
    state: EndState = field(default_factory=EndState)
    #: The exchange's MAX_POSTINGS_PER_PERIOD (IQuartierExchange names it, the code fixes it).
    max_postings_per_period: int = 24
    max_households_per_period: int = 255
