"""Settlement versions (IQuartierSettlementVersions): read them from their events and check
them against the rule, and, given the grid operator's workbook, against what it recomputes.

Checked for every SettlementVersionRecorded, in chain order:
- order: a period's versions are 2, 3, ... with no gap or repeat (`version_out_of_order`);
- reference: the exchange settled the period before the version (`version_unsettled_period`);
- lines: households strictly increasing, no all-zero line, `linesHash` the keccak of the
  lines' ABI encoding (`version_lines_mismatch`); Σ units 0 and Σ delivered == Σ received
  (`version_not_conserved`);
- with a workbook (`quartier audit --dso-workbook FILE`): a version whose source is the
  file's keccak must hold exactly the lines the workbook recomputes
  (`version_recompute_mismatch`). Versions of other sources are not judged by this file.
The contract refuses all but the last check at recording; the audit re-checks them so that
its verdict never rests on the contract's code.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3

from ledger.audit.history import History
from ledger.audit.model import AuditError, Kind, Problem
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.errors import LedgerError
from ledger.events_v2 import PeriodSettled

CONTRACT = "QuartierSettlementVersions"
_LINES_TYPE = "(address,int64,int64,int256)[]"


@dataclass(frozen=True)
class VersionLine:
    """One household's difference from the previous version (positive units: a credit)."""

    household: str
    delivered_wh: int
    received_wh: int
    change_units: int

    def is_zero(self) -> bool:
        return not (self.delivered_wh or self.received_wh or self.change_units)

    def as_abi(self) -> tuple[str, int, int, int]:
        return (self.household, self.delivered_wh, self.received_wh, self.change_units)


@dataclass(frozen=True)
class RecordedVersion:
    """One SettlementVersionRecorded event."""

    period_id: int
    version: int
    source_keccak: bytes
    lines_hash: bytes
    lines: tuple[VersionLine, ...]
    block_number: int


#: Recomputes, from the auditor's workbook, the lines the next version of a period must
#: hold, given the chain's history and the period's earlier versions (None: the workbook
#: does not cover the period). A LedgerError it raises is reported as the version's problem.
Recompute = Callable[[History, int, Sequence[RecordedVersion]], tuple[VersionLine, ...] | None]


def lines_hash(lines: Iterable[VersionLine]) -> bytes:
    """keccak256(abi.encode(lines)), as the contract computes `linesHash`."""
    return keccak(abi_encode([_LINES_TYPE], [[line.as_abi() for line in lines]]))


def _event_abi() -> Any:  # an ABIEvent
    return next(
        item
        for item in artifact(CONTRACT).abi
        if item["type"] == "event" and item["name"] == "SettlementVersionRecorded"
    )


def read_versions(
    w3: Web3, deployment: Deployment, to_block: int | None = None
) -> list[RecordedVersion]:
    """Every version of the deployment's versions contract, in chain order ([] when the
    deployment has none: a community deployed before versions existed)."""
    address = deployment.contracts.get(CONTRACT)
    if address is None:
        return []
    address = Web3.to_checksum_address(address)
    if not w3.eth.get_code(address):
        raise AuditError(f"no contract at the {CONTRACT} address {address} on this chain")
    event = w3.eth.contract(address=address, abi=[_event_abi()]).events.SettlementVersionRecorded
    logs = w3.eth.get_logs(
        {
            "address": address,
            "topics": [HexBytes(event_abi_to_log_topic(_event_abi()))],
            "fromBlock": deployment.deploy_block,
            "toBlock": "latest" if to_block is None else to_block,
        }
    )
    versions = []
    for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
        args = event().process_log(log)["args"]
        versions.append(
            RecordedVersion(
                int(args["periodId"]),
                int(args["version"]),
                bytes(args["sourceKeccak"]),
                bytes(args["linesHash"]),
                tuple(
                    VersionLine(
                        to_checksum_address(line["household"]),
                        int(line["deliveredWh"]),
                        int(line["receivedWh"]),
                        int(line["changeUnits"]),
                    )
                    for line in args["lines"]
                ),
                int(log["blockNumber"]),
            )
        )
    return versions


def settled_blocks(history: History) -> dict[int, int]:
    """The block each period was (first) settled in."""
    found: dict[int, int] = {}
    for logged in history.exchange_events:
        if isinstance(logged.event, PeriodSettled):
            found.setdefault(logged.event.period_id, logged.block_number)
    return found


def check_versions(
    versions: Sequence[RecordedVersion],
    history: History,
    workbook_keccak: bytes | None = None,
    recompute: Recompute | None = None,
) -> list[Problem]:
    """The problems of `versions` (see the module docstring) against `history`."""
    settled_at = settled_blocks(history)
    problems: list[Problem] = []
    by_period: dict[int, list[RecordedVersion]] = {}
    for recorded in versions:
        add = _adder(problems, recorded)
        period_id = recorded.period_id
        earlier = by_period.setdefault(period_id, [])
        expected = len(earlier) + 2
        if recorded.version != expected:
            add(Kind.VERSION_OUT_OF_ORDER, f"the period's next version is {expected}")
        settled = settled_at.get(period_id)
        if settled is None or settled > recorded.block_number:
            add(Kind.VERSION_UNSETTLED_PERIOD, "the exchange had not settled the period")
        _check_lines(recorded, add)
        if recompute is not None and recorded.source_keccak == workbook_keccak:
            _recheck(history, recorded, tuple(earlier), recompute, add)
        earlier.append(recorded)
    return problems


def _adder(problems: list[Problem], recorded: RecordedVersion) -> Callable[[Kind, str], None]:
    def add(kind: Kind, detail: str) -> None:
        problems.append(
            Problem(
                kind,
                f"version {recorded.version}: {detail}",
                recorded.period_id,
                None,
                recorded.block_number,
            )
        )

    return add


def _recheck(
    history: History,
    recorded: RecordedVersion,
    earlier: tuple[RecordedVersion, ...],
    recompute: Recompute,
    add: Callable[[Kind, str], None],
) -> None:
    try:
        wanted = recompute(history, recorded.period_id, earlier)
    except LedgerError as error:
        add(Kind.VERSION_RECOMPUTE_MISMATCH, f"the workbook cannot recompute it: {error}")
        return
    if wanted is None:
        add(Kind.VERSION_RECOMPUTE_MISMATCH, "the workbook does not cover the period")
    elif wanted != recorded.lines:
        add(Kind.VERSION_RECOMPUTE_MISMATCH, _first_difference(wanted, recorded.lines))


def _check_lines(recorded: RecordedVersion, add: Callable[[Kind, str], None]) -> None:
    lines = recorded.lines
    households = [int(line.household, 16) for line in lines]
    if not lines or any(a >= b for a, b in itertools.pairwise(households)):
        add(Kind.VERSION_LINES_MISMATCH, "lines are empty or not in increasing household order")
    for line in lines:
        if line.is_zero():
            add(Kind.VERSION_LINES_MISMATCH, f"{line.household}'s line is all zero")
    if lines_hash(lines) != recorded.lines_hash:
        add(Kind.VERSION_LINES_MISMATCH, "linesHash is not the keccak of the lines")
    units = sum(line.change_units for line in lines)
    delivered = sum(line.delivered_wh for line in lines)
    received = sum(line.received_wh for line in lines)
    if units:
        add(Kind.VERSION_NOT_CONSERVED, f"the lines sum to {units} units, not 0")
    if delivered != received:
        add(Kind.VERSION_NOT_CONSERVED, f"{delivered} Wh delivered against {received} Wh received")


def _first_difference(wanted: Sequence[VersionLine], got: Sequence[VersionLine]) -> str:
    mine = {line.household: line for line in wanted}
    theirs = {line.household: line for line in got}
    for household in sorted(set(mine) | set(theirs), key=lambda h: int(h, 16)):
        a, b = mine.get(household), theirs.get(household)
        if a != b:
            return (
                f"{household}: the workbook recomputes {_shown(a)}, the version records {_shown(b)}"
            )
    return "the lines differ in order"


def _shown(line: VersionLine | None) -> str:
    if line is None:
        return "no line"
    return (
        f"{line.delivered_wh:+} Wh delivered, {line.received_wh:+} Wh received,"
        f" {line.change_units:+} units"
    )
