"""`quartier dso reconcile` on a real chain: the kept February 2027 sample workbook against
the batches its four members' meters signed and posted on Anvil.

The meters sign exactly the workbook's gross volumes, except where the test makes them
differ: Alice's meter brings no batch for 10 February (missing signed readings), Bruno's
meter is replaced on 15 February at 12:05 UTC (no meter covers 12:00-12:15), Chloé's
batch of 20 February swaps two quarter-hours (same day total: the operator's figure looks
estimated) and David's meter measures 1 Wh more in one quarter-hour of 25 February. The
node is this module's own (the chain's clock moves to 2027 and never back).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.audit.source import read_history
from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.community_config.files import Directory, save_deployment_file
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment, load_deployment
from ledger.dso.chain_meters import chain_meters, read_chain_meters
from ledger.dso.workbook import GROSS, Direction, read_month
from ledger.exchange import ExchangeClient
from ledger.rules import TimeGrid
from metering.period import MeterPeriod, SignedMeterPeriod, sign_meter_period
from metering.reading import PublicKey

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dso"
WORKBOOK = FIXTURES / "2027-02 ORES.xlsx"
COMMUNITY = FIXTURES / "community.toml"
GRID = TimeGrid(900, 96)


def _utc(day: int, hour: int = 0) -> int:
    return int(datetime(2027, 2, day, hour, tzinfo=UTC).timestamp())


@dataclass
class Chain:
    deployment_file: Path
    rpc: str


def _warp(sender: Sender, unix_s: int) -> None:
    sender.w3.provider.make_request("evm_setNextBlockTimestamp", [unix_s])  # type: ignore[arg-type]
    sender.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _admit_meter(
    community: CommunityClient, address: str
) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(key.public_key())
    return key, community.admit_meter(address, public.x, public.y).meter_id


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    from ledger.community_config.model import load_config

    config = load_config(COMMUNITY)
    month = read_month(WORKBOOK, sheets=(GROSS,))
    gross = month.sheets[GROSS]
    with AnvilNode() as node:
        w3 = connect(node.url)
        manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
        deployment: Deployment = deploy_community_v2(manager, grid=GRID)
        community = CommunityClient(manager, deployment.address("QuartierCommunity"))
        exchange = ExchangeClient(manager, deployment.address("QuartierExchange"))
        meters: dict[str, list[tuple[ec.EllipticCurvePrivateKey, bytes]]] = {}
        for member in config.members:
            community.admit_household(member.address)
            meters[member.name] = [_admit_meter(community, member.address)]
        # Bruno's meter is replaced at 12:05: no meter counts for 12:00-12:15
        _warp(manager, _utc(15, 12) + 300)
        community.revoke_meter(meters["Bruno"][0][1])
        meters["Bruno"].append(_admit_meter(community, config.member_named("Bruno").address))
        _warp(manager, _utc(28) + 2 * 86_400)

        periods = range(GRID.period_at(month.starts[0]), GRID.period_at(month.starts[-1]) + 1)
        row_of = {start // 900: row for row, start in enumerate(month.starts)}
        signed: list[SignedMeterPeriod] = []
        for member in config.members:
            off = gross.series(member.ean, Direction.OFFTAKE)
            inj = gross.series(member.ean, Direction.INJECTION)
            assert off is not None
            assert inj is not None
            for key, meter_id in meters[member.name]:
                registers = [1_000_000, 500_000]
                for period_id in periods:
                    deltas = []
                    for k in GRID.intervals(period_id):
                        row = row_of.get(k)
                        deltas.append((0, 0) if row is None else (int(off[row]), int(inj[row])))
                    day = datetime.fromtimestamp(GRID.period_start(period_id), UTC).day
                    if member.name == "Chloé" and day == 20:
                        deltas[40], deltas[41] = deltas[41], deltas[40]
                    if member.name == "David" and day == 25:
                        deltas[50] = (deltas[50][0] + 1, deltas[50][1])
                    start = tuple(registers)
                    registers = [
                        registers[0] + sum(d[0] for d in deltas),
                        registers[1] + sum(d[1] for d in deltas),
                    ]
                    if member.name == "Alice" and day == 10:
                        continue  # never signed: the next batch starts past the gap
                    if member.name == "Bruno":
                        old = meter_id == meters["Bruno"][0][1]
                        if (old and period_id > GRID.period_at(_utc(15, 12))) or (
                            not old and period_id < GRID.period_at(_utc(15, 12))
                        ):
                            continue
                    period = MeterPeriod(meter_id, period_id, start[0], start[1], tuple(deltas))
                    signed.append(sign_meter_period(key, period, w3.eth.chain_id, exchange.address))
        for at in range(0, len(signed), 20):
            exchange.post_meter_batches(signed[at : at + 20])
        path = tmp_path_factory.mktemp("dso") / "community.31337.json"
        directory = Directory(
            config.name,
            {m.address.lower(): {"name": m.name, "ean": m.ean} for m in config.members},
        )
        save_deployment_file(path, deployment, directory)
        yield Chain(path, node.url)


def _reconcile(chain: Chain, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "quartier"), "dso", "reconcile", str(WORKBOOK),
        "--rpc", chain.rpc, "--deployment", str(chain.deployment_file), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


def test_every_difference_is_found_with_its_likely_cause(chain: Chain, tmp_path: Path) -> None:
    done = _reconcile(
        chain, "--json", "--csv", str(tmp_path / "csv"), "--html", str(tmp_path / "r.html")
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["month"] == "2027-02"
    assert result["quarter_hours"] == 2688
    causes: dict[str, set[str]] = {}
    for difference in result["differences"]:
        assert difference["difference_wh"] == difference["dso_wh"] - difference["metered_wh"]
        causes.setdefault(difference["member"], set()).add(difference["cause"])
    assert causes == {
        "Alice": {"missing signed readings"},
        "Bruno": {"meter replaced"},
        "Chloé": {"estimated value"},
        "David": {"unexplained"},
    }
    alice = [d for d in result["differences"] if d["member"] == "Alice"]
    assert {d["interval_start"] // 86_400 for d in alice} == {_utc(10) // 86_400}
    assert all(d["metered_wh"] == 0 for d in alice)
    bruno = [d for d in result["differences"] if d["member"] == "Bruno"]
    assert {d["interval_start"] for d in bruno} == {_utc(15, 12)}
    david = [d for d in result["differences"] if d["member"] == "David"]
    assert [(d["direction"], d["difference_wh"]) for d in david] == [("offtake", -1)]
    totals = {m["member"]: m for m in result["members"]}
    assert totals["Chloé"]["offtake"]["dso_wh"] == totals["Chloé"]["offtake"]["metered_wh"]
    assert totals["David"]["offtake"]["metered_wh"] == totals["David"]["offtake"]["dso_wh"] + 1
    rows = (tmp_path / "csv" / "differences.csv").read_text().splitlines()
    assert len(rows) == 1 + len(result["differences"])
    assert "estimated value" in (tmp_path / "r.html").read_text()


def test_a_tolerance_lets_one_wh_agree(chain: Chain) -> None:
    done = _reconcile(chain, "--json", "--tolerance-wh", "1")
    result = json.loads(done.stdout)
    assert "David" not in {d["member"] for d in result["differences"]}
    assert {m["member"]: m["differences"] for m in result["members"]}["David"] == 0


def test_a_chain_that_does_not_answer_is_exit_2(tmp_path: Path, chain: Chain) -> None:
    done = _reconcile(Chain(chain.deployment_file, "http://127.0.0.1:9"))
    assert done.returncode == 2
    assert done.stderr.startswith("quartier: cannot read the chain: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_lean_reader_reads_what_the_auditors_reader_reads(chain: Chain) -> None:
    deployment = load_deployment(chain.deployment_file)
    lean = read_chain_meters(chain.rpc, deployment)
    full = chain_meters(read_history(connect(chain.rpc), deployment))
    assert lean.windows == full.windows
    assert dict(lean.meters_of) == dict(full.meters_of)
    assert sorted(lean.batches) == sorted(full.batches)
    assert len(lean.batches) == 4 * 29 - 1 + 1  # 29 days each, Alice one less, Bruno's two meters
    for at, batch in full.batches.items():
        assert (lean.batches[at].deltas == batch.deltas).all()
        assert lean.batches[at].start_import_wh == batch.start_import_wh
