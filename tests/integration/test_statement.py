"""`quartier statement` on a real Anvil day: the demo's neighbourhood trades four hours of
21 June 2026 (summer time) on protocol v2, then members' statements are made by the console
script in each language. Their numbers are checked against figures derived here without the
statement's code: the HouseholdSettled events decoded from the node's logs, the meter values
the demo's meters signed, and the bill without the community summed from the tariff's prices.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from pypdf import PdfReader

from api.demo.neighbourhood import member_contracts
from api.demo.run import GRID, DayRun, DemoConfig, run_day
from api.demo.simulation import simulate_day
from api.economics.tariff import tariff_of
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.community_config.example import example_ean
from ledger.community_config.statement import exchange_logs, topic
from ledger.events_v2 import HouseholdSettled, decode_log_v2
from ledger.exchange import ExchangeClient

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).with_name("quartier"))
DAY = date(2026, 6, 21)
HOUSEHOLDS = 8
#: 10:00-14:00 UTC (12:00-16:00 in Brussels): the sun is up, neighbours trade.
START_SLOT, INTERVALS = 40, 16
NAMES = ("Alice", "Bruno", "Chloé", "David", "Émilie", "François", "Gaëlle", "Hugo")


@dataclass(frozen=True)
class Day:
    run: DayRun
    rpc_url: str
    deployment: Path
    community: Path
    settled: dict[str, HouseholdSettled]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    folder = tmp_path_factory.mktemp("statement-day")
    simulation = simulate_day(HOUSEHOLDS, DAY, INTERVALS, 7, START_SLOT)
    period_start = GRID.period_start(
        GRID.period_at(GRID.interval_start(simulation.first_interval_id))
    )
    # The node's clock starts before the day, so the chain's day is 21 June itself.
    node = AnvilNode(
        extra_args=("--timestamp", str(period_start - 7200), "--gas-limit", "100000000")
    )
    with node:
        run = run_day(
            DemoConfig(
                households=HOUSEHOLDS,
                intervals=INTERVALS,
                day=DAY,
                start_slot=START_SLOT,
                rpc_url=node.url,
                deployment_dir=folder,
            )
        )
        assert run.audit.ok
        assert run.deployment_file is not None
        contracts = member_contracts(HOUSEHOLDS, 7)
        lines = [
            'name = "Rue des Tilleuls"',
            "[rules]",
            'mechanism = "pay-as-clear"',
            "gate_lead_seconds = 900",
            "settlement_deadline_seconds = 86400",
            "min_entry_wh = 1",
            "price_floor_per_kwh = 50000",
            "price_ceiling_per_kwh = 350000",
            "community_price_per_kwh = 150000",
        ]
        for index, (household, contract) in enumerate(zip(run.households, contracts, strict=True)):
            lines += [
                "[[members]]",
                f'name = "{NAMES[index]}"',
                f'ean = "{example_ean(index + 1)}"',
                f'address = "{household.account.address}"',
                f'contract = {{ dso = "{contract.dso}", supply = "{contract.supply}", '
                f'injection = "{contract.injection}" }}',
            ]
        community = folder / "community.toml"
        community.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # The chain's own record of each household's settlement, read from the node's logs.
        w3 = connect(node.url)
        exchange = ExchangeClient(
            Sender(w3, default_deployer(w3.eth.chain_id, None)),
            run.deployment.address("QuartierExchange"),
        )
        settled = {}
        for log in exchange_logs(
            exchange, run.deployment.deploy_block, [topic(exchange, "HouseholdSettled")]
        ):
            event = decode_log_v2(exchange.contract, log)
            assert isinstance(event, HouseholdSettled)
            settled[event.household.lower()] = event
        yield Day(run, node.url, run.deployment_file, community, settled)


def _statement(day: Day, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QUARTIER, "statement", "--rpc", day.rpc_url, "--deployment", str(day.deployment), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _kwh(wh: int, comma: bool) -> str:
    text = str((Decimal(wh) / 1000).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return text.replace(".", ",") if comma else text


def _cents(units: int, comma: bool) -> str:
    text = str((Decimal(units) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return text.replace(".", ",") if comma else text


def _index(day: Day, pick: str) -> int:
    """The first household that bought ("buyer") or sold ("seller") in the day."""
    for index, household in enumerate(day.run.households):
        event = day.settled.get(household.account.address.lower())
        if event is not None and (event.received_wh if pick == "buyer" else event.delivered_wh):
            return index
    raise AssertionError(f"no {pick} in the day")


def _bill_without_units(day: Day, index: int) -> int:
    # Σ offtake x (energy + network + taxes) x (1 + VAT) - Σ injection x injection price,
    # from the meters' signed values and the tariff's prices, rounded up once.
    sim = day.run.simulation
    member = member_contracts(HOUSEHOLDS, 7)[index]
    tariff = tariff_of("wallonia", 2026)
    period = GRID.period_at(GRID.interval_start(sim.first_interval_id))
    total = Fraction(0)
    for k in GRID.intervals(period):
        imported, exported = sim.metered(index, k)
        prices = tariff.prices(member, GRID.interval_start(k))
        per_kwh = prices.energy_per_kwh + prices.network_per_kwh + prices.taxes_per_kwh
        total += Fraction(imported * per_kwh * (100 + prices.vat_percent), 100 * 1000)
        total -= Fraction(exported * prices.injection_per_kwh, 1000)
    return math.ceil(total)


def _peak_w(day: Day, index: int) -> int:
    sim = day.run.simulation
    period = GRID.period_at(GRID.interval_start(sim.first_interval_id))
    return 4 * max(sim.metered(index, k)[0] for k in GRID.intervals(period))


@pytest.mark.parametrize(("lang", "pick"), [("fr", "buyer"), ("nl", "seller"), ("en", "buyer")])
def test_a_members_statement_shows_the_chains_figures(
    day: Day, lang: str, pick: str, tmp_path: Path
) -> None:
    index = _index(day, pick)
    address = day.run.households[index].account.address
    html, pdf = tmp_path / "june.html", tmp_path / "june.pdf"
    args = ["--member", address, "--month", "2026-06", "--lang", lang, "--html", str(html)]
    args += ["--community", str(day.community)] + (["--pdf", str(pdf)] if lang == "fr" else [])
    result = _statement(day, *args)
    assert result.returncode == 0, result.stderr
    page = html.read_text(encoding="utf-8")
    comma = lang != "en"
    event = day.settled[address.lower()]
    assert NAMES[index] in page
    assert example_ean(index + 1) in page
    # kWh bought and sold as HouseholdSettled reports them, one decimal.
    assert f">{_kwh(event.received_wh, comma)}</td>" in page
    assert f">{_kwh(event.delivered_wh, comma)}</td>" in page
    # The chain's change: due (paid) or credited, to the cent.
    amount = _cents(abs(event.change_units), comma)
    assert amount in page
    # Without the community, from the signed meter values and the tariff's prices.
    assert _cents(_bill_without_units(day, index), comma) in page
    # The 15-minute peak of the signed readings, in kW with two decimals.
    peak = str((Decimal(_peak_w(day, index)) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP))
    assert (peak.replace(".", ",") if comma else peak) + " kW" in page
    # Settlement days start at 02:00 in Brussels in June (midnight UTC, summer time).
    assert "02:00\u201302:00" in page
    words = {
        "fr": "Sans la communauté",
        "nl": "Zonder de gemeenschap",
        "en": "Without the community",
    }
    assert words[lang] in page
    if lang == "fr":
        document = pdf.read_bytes()
        assert document.startswith(b"%PDF")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(document)).pages)
        assert NAMES[index] in text
        assert "Sans la communauté" in text


def test_bad_input_is_one_line_and_no_file(day: Day, tmp_path: Path) -> None:
    out = tmp_path / "statement.html"
    member = day.run.households[0].account.address
    common = ["--html", str(out), "--community", str(day.community)]
    stranger = "0x000000000000000000000000000000000000dEaD"
    tariff = tmp_path / "wallonia-2026.toml"
    shipped = Path(tariff_of("wallonia", 2026).file)
    text = (Path(__file__).parents[2] / "api/economics/tariffs" / shipped.name).read_text()
    tariff.write_text(text.replace("excise_per_kwh = 47_480\n", ""), encoding="utf-8")
    cases = [
        (["--member", stranger, "--month", "2026-06"], "unknown member"),
        (["--member", member, "--month", "2026-07"], "no settled period in 2026-07"),
        (
            ["--member", member, "--month", "2026-06", "--tariff", str(tariff)],
            "taxes.excise_per_kwh: missing",
        ),
        (["--member", member, "--month", "June"], "--month must be YYYY-MM"),
    ]
    for args, words in cases:
        result = _statement(day, *args, *common)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert words in lines[0]
        assert not out.exists()
        assert not list(tmp_path.glob("*.partial"))
