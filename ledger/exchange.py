"""Typed client of QuartierExchange (protocol v2): escrow, schedules, meter batches, settlement.

Every write returns the decoded v2 events of its transaction and its gas; every revert
surfaces as the named error of IQuartierExchange (`ledger.errors.revert_class`). The rule
itself (clearing, netting, money) is in the interface's NatSpec and in `api.settlement`;
this module only carries the data: `HouseholdPeriod` and `MeterData` are the settlement
tuples, built from `ledger.schedules.Schedule` and `metering.period` batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from web3 import Web3
from web3.contract import Contract

from ledger.chain import Sender, chain_call, lean_call
from ledger.compiler import artifact
from ledger.errors import LedgerError
from ledger.events_v2 import (
    EventV2,
    ExchangeDeposited,
    ExchangeWithdrawn,
    HouseholdSettled,
    MeterBatchAccepted,
    PeriodCleared,
    PeriodSettled,
    SchedulePosted,
    decode_receipt_v2,
    only,
)
from ledger.schedules import Schedule, SignedSchedule
from metering.period import MeterPeriod, SignedMeterPeriod

E = TypeVar("E")

CONTRACT_NAME = "QuartierExchange"


class MeterSource(IntEnum):
    """Mirror of IQuartierExchange.MeterSource."""

    NONE = 0
    POSTED = 1
    INLINE = 2


@dataclass(frozen=True)
class MeterData:
    """One meter's data at settlement: posted earlier, inline with its signature, or none."""

    source: MeterSource
    start_import_wh: int = 0
    start_export_wh: int = 0
    deltas: bytes = b""
    signature: bytes = b""

    @classmethod
    def none(cls) -> MeterData:
        """No data (allowed past the settlement deadline: the meter measures 0 Wh)."""
        return cls(MeterSource.NONE)

    @classmethod
    def posted(cls, period: MeterPeriod) -> MeterData:
        """The fields of a batch already posted (`postMeterBatches`); no signature."""
        return cls(
            MeterSource.POSTED, period.start_import_wh, period.start_export_wh, period.deltas_bytes
        )

    @classmethod
    def inline(cls, signed: SignedMeterPeriod) -> MeterData:
        """A signed batch verified and chained inside the settlement."""
        p = signed.period
        return cls(
            MeterSource.INLINE,
            p.start_import_wh,
            p.start_export_wh,
            p.deltas_bytes,
            signed.signature,
        )

    def as_abi(self) -> tuple[int, int, int, bytes, bytes]:
        return (
            int(self.source),
            self.start_import_wh,
            self.start_export_wh,
            self.deltas,
            self.signature,
        )


@dataclass(frozen=True)
class HouseholdPeriod:
    """One household of a settlement: all its postings in posting order, and one MeterData
    per entry of `metersOf(household)` in that order."""

    household: str
    postings: tuple[Schedule, ...]
    meters: tuple[MeterData, ...]

    def as_abi(self) -> tuple[str, list[tuple[int, int, bytes]], list[tuple[Any, ...]]]:
        return (
            Web3.to_checksum_address(self.household),
            [posting.as_posting() for posting in self.postings],
            [meter.as_abi() for meter in self.meters],
        )


@dataclass(frozen=True)
class Escrow:
    """A household's credits in the exchange: free, and locked by its postings."""

    free_units: int
    locked_units: int


@dataclass(frozen=True)
class ScheduleRecord:
    """What the exchange keeps per (household, period): hash chain head, last version, count."""

    head: bytes
    last_version: int
    postings: int


@dataclass(frozen=True)
class MeterChainState:
    """The meter's last accepted period + 1 (0: none yet) and its end registers there."""

    next_period_id: int
    end_import_wh: int
    end_export_wh: int


@dataclass(frozen=True)
class PostSchedulesResult:
    posted: tuple[SchedulePosted, ...]
    gas_used: int


@dataclass(frozen=True)
class PostBatchesResult:
    accepted: tuple[MeterBatchAccepted, ...]
    gas_used: int


@dataclass(frozen=True)
class SettlePeriodResult:
    cleared: PeriodCleared
    households: tuple[HouseholdSettled, ...]
    accepted: tuple[MeterBatchAccepted, ...]
    settled: PeriodSettled
    gas_used: int


class ExchangeClient:
    """Talks to one exchange as `sender` (a household, a relayer, a settler).

    `gas_limit`: sent with every transaction instead of estimating each first (a relayer
    whose call shapes are known); None estimates, which also names a revert before sending.
    """

    def __init__(self, sender: Sender, address: str, gas_limit: int | None = None) -> None:
        self.sender = sender
        self.gas_limit = gas_limit
        self.contract: Contract = sender.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact(CONTRACT_NAME).abi
        )

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def chain_id(self) -> int:
        return self.sender.chain_id

    def as_sender(self, sender: Sender) -> ExchangeClient:
        """The same exchange, talked to by another account."""
        return ExchangeClient(sender, self.address, self.gas_limit)

    # ------------------------------------------------------------ escrow

    def deposit(self, amount_units: int) -> ExchangeDeposited:
        """Move tokens the sender approved to the exchange into its free escrow."""
        events, _ = self._send(self.contract.functions.deposit(amount_units))
        return _one(events, ExchangeDeposited)

    def withdraw(self, amount_units: int) -> ExchangeWithdrawn:
        """Return free escrow to the sender's wallet."""
        events, _ = self._send(self.contract.functions.withdraw(amount_units))
        return _one(events, ExchangeWithdrawn)

    # ------------------------------------------------------------ writes

    def post_schedules(self, schedules: Sequence[SignedSchedule]) -> PostSchedulesResult:
        """Post signed schedules in one transaction (all or nothing; errors name the index)."""
        fn = self.contract.functions.postSchedules([signed.as_abi() for signed in schedules])
        events, gas = self._send(fn)
        return PostSchedulesResult(tuple(only(events, SchedulePosted)), gas)

    def post_meter_batches(self, batches: Sequence[SignedMeterPeriod]) -> PostBatchesResult:
        """Forced inclusion of meter batches: verified and chained now."""
        fn = self.contract.functions.postMeterBatches([signed.as_abi() for signed in batches])
        events, gas = self._send(fn)
        return PostBatchesResult(tuple(only(events, MeterBatchAccepted)), gas)

    def settle_period(
        self, period_id: int, households: Sequence[HouseholdPeriod], hints: bytes
    ) -> SettlePeriodResult:
        """Settle period `period_id`: every posting household by increasing address."""
        fn = self.contract.functions.settlePeriod(
            period_id, [household.as_abi() for household in households], hints
        )
        events, gas = self._send(fn)
        return SettlePeriodResult(
            _one(events, PeriodCleared),
            tuple(only(events, HouseholdSettled)),
            tuple(only(events, MeterBatchAccepted)),
            _one(events, PeriodSettled),
            gas,
        )

    # ------------------------------------------------------------ reads

    def community(self) -> str:
        return Web3.to_checksum_address(chain_call(self.contract.functions.community()))

    def token(self) -> str:
        return Web3.to_checksum_address(chain_call(self.contract.functions.token()))

    def escrow_of(self, household: str) -> Escrow:
        free_units, locked_units = lean_call(self.contract.functions.escrowOf(household))
        return Escrow(int(free_units), int(locked_units))

    def schedule_record(self, household: str, period_id: int) -> ScheduleRecord:
        fn = self.contract.functions.scheduleRecord(household, period_id)
        head, last_version, postings = lean_call(fn)
        return ScheduleRecord(bytes(head), int(last_version), int(postings))

    def posting_households(self, period_id: int) -> int:
        return int(lean_call(self.contract.functions.postingHouseholds(period_id))[0])

    def is_settled(self, period_id: int) -> bool:
        return bool(lean_call(self.contract.functions.isSettled(period_id))[0])

    def meter_chain(self, meter_id: bytes) -> MeterChainState:
        next_period_id, end_import_wh, end_export_wh = lean_call(
            self.contract.functions.meterChain(meter_id)
        )
        return MeterChainState(int(next_period_id), int(end_import_wh), int(end_export_wh))

    def posted_batch_hash(self, meter_id: bytes, period_id: int) -> bytes:
        """The hash of the batch posted for (meter, period); zero when none was posted."""
        fn = self.contract.functions.postedBatchHash(meter_id, period_id)
        return bytes(lean_call(fn)[0])

    def domain_separator(self) -> bytes:
        return bytes(chain_call(self.contract.functions.domainSeparator()))

    def schedule_digest(self, schedule: Schedule) -> bytes:
        """The digest the contract computes for a schedule (to cross-check local signing)."""
        return bytes(chain_call(self.contract.functions.scheduleDigest(schedule.as_abi())))

    def meter_batch_digest(self, period: MeterPeriod) -> bytes:
        """The digest the contract computes for a meter batch."""
        fn = self.contract.functions.meterBatchDigest(
            period.meter_id,
            period.period_id,
            period.start_import_wh,
            period.start_export_wh,
            period.deltas_bytes,
        )
        return bytes(chain_call(fn))

    # ------------------------------------------------------------ helpers

    def _send(self, fn: Any) -> tuple[list[EventV2], int]:
        receipt = self.sender.transact(fn, gas=self.gas_limit)
        return decode_receipt_v2(self.contract, receipt), int(receipt["gasUsed"])


def _one(events: list[EventV2], kind: type[E]) -> E:
    matching = only(events, kind)
    if len(matching) != 1:
        raise LedgerError(f"expected one {kind.__name__} event, got {len(matching)}")
    return matching[0]
