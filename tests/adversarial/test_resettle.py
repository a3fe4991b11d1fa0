"""Re-settlement on the grid operator's workbook (issue 15), attacked on a real Anvil node.

One period (10 November 2026, a UTC day of 96 quarter-hours) of four members: Alice and Bruno
sell, Chloé and David buy, every quarter-hour. Alice's meter signs 250 Wh of injection in
eight quarter-hours where the operator's workbook says 400 Wh; everything else agrees. The
operator's volumes must move exactly those 1,200 Wh (and their money) to Alice, as a second
settlement version that references the workbook's keccak, while the first settlement stays
as it was. Then: who may record versions, which ones the contract refuses, a workbook that
does not import cleanly, and a version the workbook does not recompute. The node is this
module's own (its clock starts in November 2026).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from attack_support import Period
from eth_utils.crypto import keccak
from v2_support import RULES, Member, World

from api import settlement as engine
from api.audit_cli import settlement_rule
from api.dso_cli import workbook_check
from api.economics.tariff import tariff_of
from api.statements.members import member_info
from api.statements.month import month_statement
from api.statements.record import read_record
from api.statements.render import render_html
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.audit import run_audit
from ledger.audit.versions import lines_hash, read_versions
from ledger.chain import Sender, connect
from ledger.community_config.files import Directory, save_deployment_file
from ledger.compiler import artifact
from ledger.dso.calendar import month_quarter_hours
from ledger.dso.sample import write_workbook
from ledger.dso.workbook import GROSS, NET, SHARED, Column, Direction
from ledger.entries import Entry, EntrySide
from ledger.errors import revert_class
from ledger.events_v2 import HouseholdSettled
from ledger.exchange import HouseholdPeriod, MeterData
from ledger.rules import TimeGrid

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).with_name("quartier"))
GRID = TimeGrid(900, 96)
YEAR, MONTH = 2026, 11
NAMES = ("Alice", "Bruno", "Chloé", "David")
EANS = ("541448820000150000", "541448820000150017", "541448820000150024", "541448820000150031")
#: (side, Wh per quarter-hour, limit per kWh) of each member, all day.
PLANS = (
    (EntrySide.SELL, 400, 60_000),
    (EntrySide.SELL, 300, 80_000),
    (EntrySide.BUY, 500, 300_000),
    (EntrySide.BUY, 400, 250_000),
)
SHORT = range(40, 48)  # Alice's meter signs 250 Wh there, the operator says 400 Wh
SHORT_WH = 250


@dataclass
class Settled:
    world: World
    period: Period
    members: dict[str, Member]
    rpc: str
    deployment_file: Path
    community_file: Path
    workbook: Path
    honest: list[HouseholdPeriod]
    folder: Path

    @property
    def period_id(self) -> int:
        return self.period.period_id

    def versions(self) -> object:
        w3 = self.world.manager.w3
        address = self.world.deployment.address("QuartierSettlementVersions")
        return w3.eth.contract(address=address, abi=artifact("QuartierSettlementVersions").abi)

    def latest(self) -> int:
        return int(self.versions().functions.latestVersion(self.period_id).call())  # type: ignore[attr-defined]


def _volumes(index: int) -> list[tuple[int, int]]:
    """(import, export) Wh per quarter-hour of the period as the operator measured them."""
    side, energy_wh, _ = PLANS[index]
    return [(energy_wh, 0) if side is EntrySide.BUY else (0, energy_wh)] * GRID.period_intervals


def _signed(index: int) -> list[tuple[int, int]]:
    volumes = _volumes(index)
    if index == 0:
        return [(0, SHORT_WH) if k in SHORT else pair for k, pair in enumerate(volumes)]
    return volumes


def _write_workbook(path: Path, period_id: int) -> None:
    starts = month_quarter_hours(YEAR, MONTH)
    columns = [Column(ean, d, "") for ean in EANS for d in (Direction.OFFTAKE, Direction.INJECTION)]
    gross = np.zeros((len(starts), 2 * len(EANS)), dtype=np.int64)
    first = GRID.period_start(period_id)
    for index in range(len(EANS)):
        for offset, (imported, exported) in enumerate(_volumes(index)):
            row = starts.index(first + offset * GRID.interval_seconds)
            gross[row, 2 * index], gross[row, 2 * index + 1] = imported, exported
    sheets = {GROSS: (columns, gross), SHARED: (columns, gross * 0), NET: (columns, gross)}
    write_workbook(path, starts, sheets, dict(zip(EANS, NAMES, strict=True)))


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settled]:
    folder = tmp_path_factory.mktemp("resettle")
    start = int(datetime(YEAR, MONTH, 8, tzinfo=UTC).timestamp())
    with AnvilNode(extra_args=("--timestamp", str(start))) as node:
        w3 = connect(node.url)
        manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
        world = World.deploy(manager, RULES, GRID)
        period = Period.open(world)
        members = {name: period.member(funds_units=10**9) for name in NAMES}
        for index, member in enumerate(members.values()):
            side, energy_wh, price = PLANS[index]
            period.post(member, [Entry(side, energy_wh, price)] * GRID.period_intervals)
            period.sign(member, _signed(index), start=(10_000, 20_000))
        world.warp(GRID.period_end(period.period_id) + 60)
        honest = period.households()
        period.settle()
        deployment_file = folder / "community.31337.json"
        directory = Directory(
            "Rue des Tilleuls",
            {
                m.address.lower(): {"name": name, "ean": ean}
                for (name, m), ean in zip(members.items(), EANS, strict=True)
            },
        )
        save_deployment_file(deployment_file, world.deployment, directory)
        workbook = folder / f"{YEAR}-{MONTH:02d} ORES.xlsx"
        _write_workbook(workbook, period.period_id)
        community_file = folder / "community.toml"
        community_file.write_text(_community_toml(members), encoding="utf-8")
        yield Settled(
            world, period, members, node.url, deployment_file, community_file, workbook, honest,
            folder,
        )  # fmt: skip


def _community_toml(members: dict[str, Member]) -> str:
    from api.demo.neighbourhood import member_contracts

    lines = [
        'name = "Rue des Tilleuls"',
        "[rules]",
        'mechanism = "pay-as-clear"',
        "gate_lead_seconds = 0",
        "settlement_deadline_seconds = 600",
        "min_entry_wh = 1",
        "price_floor_per_kwh = 50000",
        "price_ceiling_per_kwh = 350000",
        "community_price_per_kwh = 150000",
    ]
    contracts = member_contracts(len(members), 7)
    for (name, member), ean, contract in zip(members.items(), EANS, contracts, strict=True):
        lines += [
            "[[members]]",
            f'name = "{name}"',
            f'ean = "{ean}"',
            f'address = "{member.address}"',
            f'contract = {{ dso = "{contract.dso}", supply = "{contract.supply}", '
            f'injection = "{contract.injection}" }}',
        ]
    return "\n".join(lines) + "\n"


def _resettle(settled: Settled, workbook: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        QUARTIER, "dso", "resettle", str(workbook), "--rpc", settled.rpc,
        "--deployment", str(settled.deployment_file), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


def _first_settlement(settled: Settled) -> tuple[object, ...]:
    """What version 1 is on chain: its HouseholdSettled events and every member's escrow."""
    exchange = settled.world.exchange
    logs = settled.world.manager.w3.eth.get_logs(
        {"address": exchange.address, "fromBlock": settled.world.deployment.deploy_block}
    )
    from ledger.events_v2 import decode_log_v2

    events = [
        e for e in (decode_log_v2(exchange.contract, log) for log in logs)
        if isinstance(e, HouseholdSettled)
    ]  # fmt: skip
    escrows = [exchange.escrow_of(m.address) for m in settled.members.values()]
    return (tuple(events), tuple(escrows), settled.world.token.balance_of(exchange.address))


def _operator_outcome(settled: Settled) -> engine.PeriodSettlement:
    """The engine on the same postings with every meter signing the operator's volumes."""
    from attack_support import engine_outcome

    alice = settled.members["Alice"]
    honest = []
    for household in settled.honest:
        if household.household == alice.address:
            batch = settled.world.batch(
                alice.meters[0], settled.period_id, (10_000, 20_000), _volumes(0)
            )
            household = HouseholdPeriod(
                household.household, household.postings, (MeterData.inline(batch),)
            )
        honest.append(household)
    return engine_outcome(settled.world, settled.period_id, honest)


def test_refusals_post_nothing(settled: Settled) -> None:
    """Before any version: a workbook that does not import cleanly, an outsider, a member,
    an unsettled period and a version out of order are all refused, and nothing moves."""
    before = _first_settlement(settled)
    block = settled.world.manager.w3.eth.block_number
    broken = settled.folder / "broken" / settled.workbook.name
    broken.parent.mkdir()
    shutil.copy(settled.workbook, broken)
    book = openpyxl.load_workbook(broken)
    book[GROSS]["C9"] = -0.001  # a negative injection
    book.save(broken)
    done = _resettle(settled, broken, "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Brut Rep" in lines[0]
    assert "C9" in lines[0]
    missing = settled.folder / "missing" / settled.workbook.name
    missing.parent.mkdir()
    shutil.copy(settled.workbook, missing)
    book = openpyxl.load_workbook(missing)
    del book[NET]
    book.save(missing)
    done = _resettle(settled, missing)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Net Rep" in done.stderr

    versions = settled.versions()
    source = keccak(settled.workbook.read_bytes())
    line = (settled.members["Alice"].address, 10, 0, 1)
    pair = sorted(
        [line, (settled.members["Chloé"].address, 0, 10, -1)], key=lambda x: int(str(x[0]), 16)
    )
    for caller in (settled.members["Alice"], settled.period.outsider()):
        fn = versions.functions.recordVersion(settled.period_id, 2, source, pair)  # type: ignore[attr-defined]
        with pytest.raises(revert_class("VersionsNotManager")) as refused:
            caller.sender.transact(fn)
        assert refused.value.arguments["caller"] == caller.address
    manager = settled.world.manager
    unsettled = settled.period_id + 1
    with pytest.raises(revert_class("VersionsPeriodNotSettled")) as refused:
        manager.transact(versions.functions.recordVersion(unsettled, 2, source, pair))  # type: ignore[attr-defined]
    assert refused.value.arguments["periodId"] == unsettled
    with pytest.raises(revert_class("VersionsOutOfOrder")) as refused:
        manager.transact(versions.functions.recordVersion(settled.period_id, 3, source, pair))  # type: ignore[attr-defined]
    assert refused.value.arguments["expectedVersion"] == 2
    assert settled.latest() == 1
    assert settled.world.manager.w3.eth.block_number == block  # nothing mined
    assert _first_settlement(settled) == before


def test_resettle_records_the_operators_differences(settled: Settled) -> None:
    before = _first_settlement(settled)
    done = _resettle(settled, settled.workbook, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["source_keccak"] == "0x" + keccak(settled.workbook.read_bytes()).hex()
    (period,) = result["periods"]
    assert (period["period_id"], period["version"], period["recorded"]) == (
        settled.period_id, 2, True,
    )  # fmt: skip
    assert settled.period_id not in result["unsettled_periods"]
    # The lines are the engine's differences between the operator's volumes and version 1.
    first = {h.address.lower(): h for h in settled.period.expected(settled.honest).households}
    again = {h.address.lower(): h for h in _operator_outcome(settled).households}
    lines = {line["household"].lower(): line for line in period["lines"]}
    alice = settled.members["Alice"].address.lower()
    assert lines[alice]["delivered_wh"] == len(SHORT) * (400 - SHORT_WH) == 1_200
    for address, line in lines.items():
        assert line["delivered_wh"] == again[address].delivered_wh - first[address].delivered_wh
        assert line["received_wh"] == again[address].received_wh - first[address].received_wh
        exact = again[address].change_units - first[address].change_units
        assert abs(line["change_units"] - exact) <= 1
    assert lines[alice]["change_units"] > 0  # a credit for what she delivered unpaid
    assert sum(line["change_units"] for line in lines.values()) == 0
    assert sum(line["delivered_wh"] for line in lines.values()) == sum(
        line["received_wh"] for line in lines.values()
    )
    # On chain: version 2 referencing the workbook, the first settlement untouched.
    assert settled.latest() == 2
    (recorded,) = read_versions(settled.world.manager.w3, settled.world.deployment)
    assert recorded.source_keccak == keccak(settled.workbook.read_bytes())
    assert recorded.lines_hash == lines_hash(recorded.lines)
    assert _first_settlement(settled) == before
    # Again with the same workbook: the operator and version 2 agree, nothing is recorded.
    again_done = _resettle(settled, settled.workbook, "--json")
    assert again_done.returncode == 0, again_done.stderr
    (same,) = json.loads(again_done.stdout)["periods"]
    assert (same["recorded"], same["version"], same["lines"]) == (False, 2, [])
    assert settled.latest() == 2


def test_audit_checks_versions_against_the_workbook(settled: Settled) -> None:
    w3 = settled.world.manager.w3
    workbook = workbook_check(settled.workbook, settled.deployment_file, None)
    report = run_audit(w3, settled.world.deployment, settlement_rule, workbook=workbook)
    assert report.ok, [p.as_json() for p in report.problems]
    # The manager records a version 3 that conserves everything but is not the workbook's.
    versions = settled.versions()
    alice, chloe = settled.members["Alice"].address, settled.members["Chloé"].address
    forged = sorted([(alice, 0, 0, 5), (chloe, 0, 0, -5)], key=lambda x: int(str(x[0]), 16))
    settled.world.manager.transact(
        versions.functions.recordVersion(  # type: ignore[attr-defined]
            settled.period_id, 3, keccak(settled.workbook.read_bytes()), forged
        )
    )
    plain = run_audit(w3, settled.world.deployment, settlement_rule)
    assert plain.ok, "without the workbook the version breaks no rule"
    report = run_audit(w3, settled.world.deployment, settlement_rule, workbook=workbook)
    kinds = [p.kind for p in report.problems]
    assert kinds == ["version_recompute_mismatch"]
    (problem,) = report.problems
    assert problem.period_id == settled.period_id
    assert "version 3" in problem.detail
    assert "5 units" in problem.detail
    # The console script says so too (exit 1), and refuses a workbook it cannot import.
    command = [
        QUARTIER, "audit", "--rpc", settled.rpc, "--deployment", str(settled.deployment_file),
        "--json", "--dso-workbook", str(settled.workbook),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 1, done.stderr
    assert [p["kind"] for p in json.loads(done.stdout)["problems"]] == [
        "version_recompute_mismatch"
    ]


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_statement_shows_the_credit_and_debit_lines(settled: Settled, lang: str) -> None:
    record = read_record(connect(settled.rpc), settled.world.deployment)
    directory = Directory()
    alice = settled.members["Alice"].address
    info = member_info(alice, settled.community_file, directory)
    statement = month_statement(record, info, tariff_of(info.region, YEAR), YEAR, MONTH)
    lines = [c for c in statement.corrections if c.period_id == settled.period_id]
    assert [c.version for c in lines][:1] == [2]
    version_2 = lines[0]
    assert version_2.sold_wh == 1_200
    assert version_2.source_keccak == keccak(settled.workbook.read_bytes())
    html = render_html(statement, lang, {}, record.block_time)
    cents = (Decimal(version_2.change_units) / 1_000_000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    shown = str(cents).replace(".", ",") if lang in ("fr", "nl") else str(cents)
    assert shown in html
    assert {"fr": "+1,200", "nl": "+1,200", "en": "+1.200"}[lang] in html
    heading = {
        "fr": "Corrections sur les données du gestionnaire de réseau",
        "nl": "Correcties op de gegevens van de netbeheerder",
        "en": "Corrections on the grid operator\u2019s data",
    }[lang]
    assert heading in html
    assert "0x" + version_2.source_keccak.hex()[:12] in html
