"""`quartier dso resettle`: read the chain, compute each covered period's next version from
a cleanly imported workbook (`ledger.dso.resettle`), and record it (the community manager's
transaction to QuartierSettlementVersions).

Nothing is sent before every covered period's lines are computed: a refusal (workbook,
EAN, a settlement that does not replay) posts nothing. A period whose lines are empty (the
operator agrees with the latest version) gets no version, so running the same workbook again
records nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils.crypto import keccak
from web3 import Web3

from ledger.audit.history import History
from ledger.audit.source import read_history
from ledger.audit.versions import (
    CONTRACT,
    Recompute,
    RecordedVersion,
    VersionLine,
    read_versions,
)
from ledger.chain import Sender
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.dso.calendar import QUARTER_HOUR_SECONDS
from ledger.dso.resettle import (
    ResettleError,
    ResettleRule,
    SettledPeriod,
    resettle_period,
    settled_periods,
)
from ledger.dso.workbook import MonthData


@dataclass(frozen=True)
class PeriodVersion:
    """What resettle did for one settled period the workbook covers."""

    period_id: int
    version: int  # the version recorded, or the latest one when nothing differed
    recorded: bool
    lines: tuple[VersionLine, ...]
    gas_used: int = 0
    tx_hash: str = ""


@dataclass(frozen=True)
class Resettlement:
    """The whole run: the workbook's keccak and each covered period."""

    month: str
    source_keccak: bytes
    periods: tuple[PeriodVersion, ...]
    unsettled_periods: tuple[int, ...]
    seconds: float


def file_keccak(path: Path) -> bytes:
    """keccak256 of the file's bytes: the source a version references."""
    try:
        return keccak(path.read_bytes())
    except OSError as error:
        raise ResettleError(f"{path}: cannot read the file ({error})") from None


def _versions_of(versions: Sequence[RecordedVersion], period_id: int) -> list[RecordedVersion]:
    return [v for v in versions if v.period_id == period_id]


def _covered_periods(month: MonthData, history: History) -> list[int]:
    grid = history.grid
    return sorted({grid.period_at(start) for start in month.starts})


def plan_versions(
    history: History,
    versions: Sequence[RecordedVersion],
    month: MonthData,
    ean_of: dict[str, str],
    rule: ResettleRule,
) -> tuple[list[tuple[int, int, tuple[VersionLine, ...]]], list[int]]:
    """([(period, next version, lines)] for every settled period the month covers, the
    covered periods not settled yet)."""
    if history.grid.interval_seconds != QUARTER_HOUR_SECONDS:
        raise ResettleError(
            f"the community's intervals are {history.grid.interval_seconds} s; the operator's"
            f" volumes are per quarter-hour ({QUARTER_HOUR_SECONDS} s)"
        )
    settled = settled_periods(history)
    planned = []
    unsettled = []
    for period_id in _covered_periods(month, history):
        period = settled.get(period_id)
        if period is None:
            unsettled.append(period_id)
            continue
        earlier = _versions_of(versions, period_id)
        lines = resettle_period(period, month, ean_of, history.grid, rule, earlier)
        if lines is not None:
            planned.append((period_id, len(earlier) + 2, lines))
    return planned, unsettled


def resettle(
    sender: Sender,
    deployment: Deployment,
    month: MonthData,
    source_keccak: bytes,
    ean_of: dict[str, str],
    rule: ResettleRule,
) -> Resettlement:
    """Record, for every settled period the month covers whose lines are not empty, its
    next version referencing `source_keccak` (see the module docstring)."""
    started = time.perf_counter()
    w3 = sender.w3
    address = deployment.address(CONTRACT)
    history = read_history(w3, deployment)
    versions = read_versions(w3, deployment)
    planned, unsettled = plan_versions(history, versions, month, ean_of, rule)
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=artifact(CONTRACT).abi
    )
    done = []
    for period_id, version, lines in planned:
        if not lines:
            done.append(PeriodVersion(period_id, version - 1, False, ()))
            continue
        receipt = sender.transact(
            contract.functions.recordVersion(
                period_id, version, source_keccak, [line.as_abi() for line in lines]
            )
        )
        done.append(
            PeriodVersion(
                period_id,
                version,
                True,
                lines,
                int(receipt["gasUsed"]),
                "0x" + bytes(receipt["transactionHash"]).hex(),
            )
        )
    return Resettlement(
        month.month_text,
        source_keccak,
        tuple(done),
        tuple(unsettled),
        time.perf_counter() - started,
    )


def workbook_recompute(month: MonthData, ean_of: dict[str, str], rule: ResettleRule) -> Recompute:
    """The audit's recomputation of a version's lines from the auditor's workbook."""
    read: dict[int, dict[int, SettledPeriod]] = {}  # by id(history): read its calls once

    def recompute(
        history: History, period_id: int, earlier: Sequence[RecordedVersion]
    ) -> tuple[VersionLine, ...] | None:
        settled = read.get(id(history))
        if settled is None:
            settled = read[id(history)] = settled_periods(history)
        period = settled.get(period_id)
        if period is None:
            return None
        return resettle_period(period, month, ean_of, history.grid, rule, earlier)

    return recompute
