"""The main job as a newcomer runs it: `quartier demo` on protocol v2.

Small days run through the real API, relayer, contracts and v2 audit. The figures of the
JSON are re-derived here from the chain alone, with web3.py's own event decoding, eth-abi
decoding of the transactions' calldata and a literal clearing walk of this file — not with
the summary's code (`api.demo.chain_facts`, `ledger.events_v2`, `api.settlement`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.abi import abi_to_signature, function_abi_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import MismatchedABI

from api.demo.run import DayRun, DemoConfig, run_day
from ledger.anvil import AnvilNode
from ledger.chain import connect
from ledger.compiler import artifact
from ledger.deployment import load_deployment

QUARTIER = [sys.executable, "-c", "from api.cli import main; main()"]
#: 5 households trading 13:00-17:00 in Brussels (11:00-15:00 UTC, summer time): a sunny
#: window, much shorter than the daily period.
SHORT = ["--households", "5", "--intervals", "16", "--start", "13:00"]
SHORT_FIRST_SLOT, SHORT_INTERVALS, SHORT_HOUSEHOLDS = 44, 16, 5
SLOTS_PER_DAY = 96
EVENTS = ("SchedulePosted", "PeriodCleared", "HouseholdSettled", "PeriodSettled")


def _quartier(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QUARTIER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# ------------------------------------------------------------------ a day on a running node


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    # Anvil's clock starts at the wall clock, months after the demo's June day: the demo
    # moves its day to the node's future (whole days later). Default settings (30 M block
    # gas limit), as `quartier chain up` leaves them.
    running = AnvilNode().start()
    try:
        yield running
    finally:
        running.stop()
        if running.process is not None and running.process.stderr is not None:
            running.process.stderr.close()


@pytest.fixture(scope="module")
def rpc_day(node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("deployment")
    result = _quartier(
        "demo", "--rpc", node.url, "--deployment-dir", str(directory), "--json", *SHORT
    )
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@dataclass
class ChainRecord:
    """What this test reads from the node by itself."""

    w3: Web3
    exchange: Any
    community: Any
    deploy_block: int
    events: dict[str, list[Any]]
    inputs: dict[bytes, bytes]  # tx hash -> calldata, of the exchange's trading-day calls
    gas: dict[str, int]  # function name -> gas of its transactions


def _read_chain(url: str, deployment_file: str) -> ChainRecord:
    w3 = connect(url)
    deployment = load_deployment(Path(deployment_file))
    exchange = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("QuartierExchange")),
        abi=artifact("QuartierExchange").abi,
    )
    community = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("QuartierCommunity")),
        abi=artifact("QuartierCommunity").abi,
    )
    logs = w3.eth.get_logs({"address": exchange.address, "fromBlock": deployment.deploy_block})
    events: dict[str, list[Any]] = defaultdict(list)
    hashes = set()
    for log in logs:
        for name in EVENTS:
            try:
                events[name].append(exchange.events[name]().process_log(log))
            except MismatchedABI:
                continue
            hashes.add(bytes(log["transactionHash"]))
    selectors = {
        function_abi_to_4byte_selector(item): item["name"]
        for item in exchange.abi
        if item["type"] == "function"
        and item["name"] in ("postSchedules", "postMeterBatches", "settlePeriod")
    }
    inputs: dict[bytes, bytes] = {}
    gas: dict[str, int] = defaultdict(int)
    for tx_hash in hashes:
        data = bytes(w3.eth.get_transaction(HexBytes(tx_hash))["input"])
        name = selectors[data[:4]]
        inputs[tx_hash] = data
        gas[name] += int(w3.eth.get_transaction_receipt(HexBytes(tx_hash))["gasUsed"])
    return ChainRecord(w3, exchange, community, deployment.deploy_block, events, inputs, gas)


def _argument_types(contract: Any, name: str) -> list[str]:
    item = next(i for i in contract.abi if i["type"] == "function" and i["name"] == name)
    signature = abi_to_signature(item)
    inner = signature[len(name) + 1 : -1]
    types, depth, start = [], 0, 0
    for index, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            types.append(inner[start:index])
            start = index + 1
    return [*types, inner[start:]]


def _calls(record: ChainRecord, name: str) -> list[tuple[Any, ...]]:
    types = _argument_types(record.exchange, name)
    selector = next(
        function_abi_to_4byte_selector(i)
        for i in record.exchange.abi
        if i["type"] == "function" and i["name"] == name
    )
    return [
        tuple(abi_decode(types, data[4:]))
        for data in record.inputs.values()
        if data[:4] == selector
    ]


def _entries(data: bytes) -> list[tuple[int, int, int]]:
    return [
        (data[at], int.from_bytes(data[at + 1 : at + 4]), int.from_bytes(data[at + 4 : at + 8]))
        for at in range(0, len(data), 8)
    ]


def _literal_fills(record: ChainRecord, period_id: int) -> int:
    """Entries that trade, by a plain walk of each interval's book (IQuartierExchange,
    "Clearing", PayAsClear): asks up, bids down, ties by rank (h + k) mod H."""
    book: dict[str, dict[int, tuple[int, int, int]]] = defaultdict(dict)
    for (items,) in _calls(record, "postSchedules"):
        for (household, period, _version, first, entries), _signature in items:
            if period == period_id:
                for offset, entry in enumerate(_entries(entries)):
                    book[Web3.to_checksum_address(household)][first + offset] = entry
    rules = record.community.functions.rulesAt(period_id).call()
    floor, ceiling = rules[4], rules[5]
    order = sorted(book, key=lambda address: int(address, 16))
    count = len(order)
    fills = 0
    for k in range(period_id * SLOTS_PER_DAY, (period_id + 1) * SLOTS_PER_DAY):
        sells, buys = [], []
        for h, household in enumerate(order):
            side, energy, price = book[household].get(k, (0, 0, 0))
            rank = (h + k) % count
            if side == 1:
                sells.append([max(price, floor), rank, energy])
            elif side == 2:
                buys.append([-min(price, ceiling), rank, energy])
        sells.sort()
        buys.sort()
        filled: set[tuple[str, int]] = set()
        i = j = 0
        while i < len(sells) and j < len(buys) and sells[i][0] <= -buys[j][0]:
            quantity = min(sells[i][2], buys[j][2])
            sells[i][2] -= quantity
            buys[j][2] -= quantity
            filled.add(("s", i))
            filled.add(("b", j))
            i += sells[i][2] == 0
            j += buys[j][2] == 0
        fills += len(filled)
    return fills


def test_the_demo_on_a_running_node_then_the_audit_command_passes(
    rpc_day: dict[str, Any], node: AnvilNode
) -> None:
    assert rpc_day["rpc_url"] == node.url
    assert rpc_day["audit_ok"] is True, rpc_day["audit_problems"]
    assert rpc_day["periods_settled"] == rpc_day["periods"]
    result = _quartier(
        "audit", "--rpc", node.url, "--deployment", rpc_day["deployment_file"], "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [p["period_id"] for p in report["periods"] if p["settled"]] == rpc_day["periods"]
    checked = report["signatures_checked"]
    assert checked["schedules"] == rpc_day["schedules"]
    assert checked["meter_batches"] == rpc_day["meter_batches"] == SHORT_HOUSEHOLDS
    # the demo left the node running: it still answers
    assert connect(node.url).eth.block_number > 0


def test_the_json_figures_follow_from_the_chains_own_record(
    rpc_day: dict[str, Any], node: AnvilNode
) -> None:
    record = _read_chain(node.url, rpc_day["deployment_file"])
    (settled,) = record.events["PeriodSettled"]
    period_id = settled["args"]["periodId"]
    assert rpc_day["periods"] == [period_id]
    # the window is 11:00-15:00 of that day, whatever day the node's clock put it on
    window = range(
        period_id * SLOTS_PER_DAY + SHORT_FIRST_SLOT,
        period_id * SLOTS_PER_DAY + SHORT_FIRST_SLOT + SHORT_INTERVALS,
    )
    (cleared,) = record.events["PeriodCleared"]
    packed = bytes(cleared["args"]["intervals"])
    lines = {
        period_id * SLOTS_PER_DAY + at // 16: (
            int.from_bytes(packed[at : at + 8]),
            int.from_bytes(packed[at + 8 : at + 12]),
            int.from_bytes(packed[at + 12 : at + 16]),
        )
        for at in range(0, len(packed), 16)
    }
    assert all(lines[k][1] == 0 for k in lines if k not in window), "traded outside the window"
    traded = sum(lines[k][1] for k in window)
    delivered = sum(lines[k][2] for k in window)
    assert rpc_day["traded_wh"] == traded > 0
    assert rpc_day["settled_wh"] == delivered == settled["args"]["deliveredWh"]
    assert rpc_day["schedules"] == len(record.events["SchedulePosted"])

    # every household posted, so the settlement's meter data are the whole neighbourhood
    (settle_call,) = _calls(record, "settlePeriod")
    _period, households, _hints = settle_call
    assert len(households) == SHORT_HOUSEHOLDS == rpc_day["households"]
    exports = [0] * SLOTS_PER_DAY
    imports = [0] * SLOTS_PER_DAY
    for _address, _postings, meters in households:
        ((source, _si, _se, deltas, _signature),) = meters
        assert source == 2  # inline: the batch went into the settlement itself
        for index in range(SLOTS_PER_DAY):
            imports[index] += int.from_bytes(deltas[8 * index : 8 * index + 4])
            exports[index] += int.from_bytes(deltas[8 * index + 4 : 8 * index + 8])
    possible = sum(
        min(exports[k - period_id * SLOTS_PER_DAY], imports[k - period_id * SLOTS_PER_DAY])
        for k in window
    )
    assert rpc_day["possible_wh"] == possible
    assert rpc_day["delivered_share"] == round(delivered / possible, 4)
    assert rpc_day["delivered_share"] >= 0.95

    gas_total = sum(record.gas.values())
    assert rpc_day["gas_total"] == gas_total
    assert rpc_day["gas"]["schedules"] == record.gas["postSchedules"]
    assert rpc_day["gas"]["settlement"] == record.gas["settlePeriod"]
    assert rpc_day["gas_per_household_day"] == gas_total // SHORT_HOUSEHOLDS
    fills = _literal_fills(record, period_id)
    assert rpc_day["trades"] == fills > 0
    assert rpc_day["gas_per_trade"] == gas_total // fills
    assert rpc_day["readings"] == SHORT_HOUSEHOLDS * (SLOTS_PER_DAY + 1)
    assert 0 < rpc_day["gas_per_reading"] < 5_000

    bills = {bill["address"]: bill for bill in rpc_day["bills"]}
    for event in record.events["HouseholdSettled"]:
        args = event["args"]
        bill = bills[args["household"]]
        assert bill["sold_wh"] == args["deliveredWh"]
        assert bill["bought_wh"] == args["receivedWh"]
        assert bill["change_units"] == args["changeUnits"]
        free, locked = record.exchange.functions.escrowOf(args["household"]).call()
        assert locked == 0  # the period is settled: every lock released
        assert free > 0
    assert sum(bill["change_units"] for bill in bills.values()) <= 0  # rounding to the settler
    assert rpc_day["savings_units"] == sum(b["savings_units"] for b in bills.values()) > 0
    _check_bills(rpc_day, record, households, period_id)
    rules = record.community.functions.rulesAt(period_id).call()
    assert (rpc_day["feed_in_per_kwh"], rpc_day["retail_per_kwh"]) == (rules[4], rules[5])
    assert rpc_day["gate_lead_seconds"] == rules[1]


TARIFF = tomllib.loads(
    (Path(__file__).parents[2] / "api/economics/tariffs/wallonia-2026.toml").read_text()
)
#: 11:00-15:00 UTC on the simulated 21 June is 13:00-17:00 in Brussels (summer time): one
#: band of each set, June's prices.
SHORT_BANDS = {"single": "all", "day_night": "offpeak", "impact": "eco"}


def _check_bills(
    summary: dict[str, Any], record: ChainRecord, households: Any, period_id: int
) -> None:
    """Each bill by the Walloon rule, from the tariff file (read here with tomllib), the
    meters' deltas in the settlement's calldata and the chain's HouseholdSettled amounts."""
    for band, ranges in TARIFF["bands"]["day_night"].items():
        assert ("11:00-17:00" in ranges) == (band == "offpeak")
    assert "11:00-17:00" in TARIFF["bands"]["impact"]["eco"]
    settled = {e["args"]["household"]: e["args"] for e in record.events["HouseholdSettled"]}
    bills = {bill["address"]: bill for bill in summary["bills"]}
    taxes = sum(TARIFF["taxes"].values())
    vat = 100 + TARIFF["file"]["vat_percent"]
    savers = 0
    for address, _postings, meters in households:
        address = Web3.to_checksum_address(address)
        ((_source, _si, _se, deltas, _signature),) = meters
        offsets = range(SHORT_FIRST_SLOT, SHORT_FIRST_SLOT + SHORT_INTERVALS)
        taken = sum(int.from_bytes(deltas[8 * j : 8 * j + 4]) for j in offsets)
        fed = sum(int.from_bytes(deltas[8 * j + 4 : 8 * j + 8]) for j in offsets)
        bill = bills[address]
        event = settled.get(address, {"deliveredWh": 0, "receivedWh": 0, "changeUnits": 0})
        bought, sold, change = event["receivedWh"], event["deliveredWh"], event["changeUnits"]
        supply = TARIFF["supply"][bill["supply"]]
        band = SHORT_BANDS[supply["bands"]]
        energy = supply["energy_per_kwh"]["2026-06"][band]
        injection = TARIFF["injection"][bill["injection"]]["price_per_kwh"]["2026-06"]["all"]
        network = TARIFF["network"][bill["dso"]]
        grid = network["distribution_per_kwh"][supply["bands"]][band]
        grid += network["transmission_per_kwh"] + taxes
        scale = 10_000_000  # Wh x units/kWh x percent x percent
        alone = taken * (energy + grid) * vat * 100 - fed * injection * 10_000
        shared = (taken - bought) * energy * vat * 100 + taken * grid * vat * 100
        shared -= (fed - sold) * injection * 10_000 + change * scale
        assert bill["imported_wh"] == taken
        assert bill["exported_wh"] == fed
        assert bill["bill_without_units"] == -(-alone // scale)
        assert bill["bill_with_units"] == -(-shared // scale)
        assert bill["network_and_taxes_units"] == -(-(taken * grid * vat * 100) // scale)
        assert bill["savings_units"] == bill["bill_without_units"] - bill["bill_with_units"]
        assert bill["savings_units"] >= 0  # the agents' limits: nobody loses
        savers += bill["savings_units"] > 0
    assert savers >= 2  # at least a seller and a buyer gained
    with_pv = sum(1 for bill in summary["bills"] if bill["pv_kwp"] > 0)
    assert summary["pv_share"] == round(with_pv / SHORT_HOUSEHOLDS, 4)


def test_a_second_demo_on_the_same_node_gets_its_own_community_and_day(
    rpc_day: dict[str, Any], node: AnvilNode, tmp_path: Path
) -> None:
    # The same seed, so the same household keys, now with nonces in use on this node; the
    # node's clock is past the first day, so this day lands on a later one.
    result = _quartier(
        "demo",
        "--rpc",
        node.url,
        "--deployment-dir",
        str(tmp_path),
        "--json",
        "--households",
        "3",
        "--intervals",
        "4",
        "--start",
        "14:00",
    )
    assert result.returncode == 0, result.stderr
    second = json.loads(result.stdout)
    assert second["audit_ok"] is True
    assert second["periods"][0] > rpc_day["periods"][0]
    assert second["deployment_file"] != rpc_day["deployment_file"]
    for summary in (rpc_day, second):
        audit = _quartier(
            "audit", "--rpc", node.url, "--deployment", summary["deployment_file"], "--json"
        )
        assert audit.returncode == 0, audit.stderr
        assert json.loads(audit.stdout)["ok"] is True


# ------------------------------------------------------------------ days on a fresh Anvil


def _figures(run: DayRun) -> tuple[object, ...]:
    facts = run.facts
    return (
        tuple(sorted(facts.cleared.items())),
        tuple(
            (e.household, e.delivered_wh, e.received_wh, e.change_units)
            for e in facts.settled_households
        ),
        tuple(e.schedule_hash for e in facts.postings),
        facts.fills,
    )


def test_the_same_seed_gives_the_same_day_on_the_chain() -> None:
    config = DemoConfig(households=3, intervals=4, start_slot=48)
    first, second = run_day(config), run_day(config)
    assert first.audit.ok
    assert second.audit.ok
    assert _figures(first) == _figures(second)
    assert first.facts.settled_households, "noon in June should trade"
    other = run_day(DemoConfig(households=3, intervals=4, start_slot=48, seed=8))
    assert _figures(other) != _figures(first)
    # P-256 signatures are randomised (so calldata, hence gas, varies by a few units)
    assert abs(first.facts.gas.total - second.facts.gas.total) < 1_000


def test_a_window_over_midnight_settles_both_days() -> None:
    # 16:00 to 08:00 the next day: evening and morning sun, two daily periods.
    run = run_day(DemoConfig(households=3, intervals=64, start_slot=64))
    assert run.audit.ok, run.audit.problems
    assert len(run.periods) == 2
    assert sorted(p.period_id for p in run.facts.settled_periods) == list(run.periods)
    assert {e.period_id for e in run.facts.postings} == set(run.periods)
    # each meter's second batch chained from its first, inside the second settlement
    for household in run.households:
        periods = [b.period_id for b in run.facts.batches if b.meter_id == household.meter.meter_id]
        assert periods == list(run.periods)
    assert sum(run.facts.tokens_after.locked_units) == 0


def test_demo_command_on_a_fresh_anvil_prints_json_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "day.html"
    result = _quartier(
        "demo",
        "--households",
        "3",
        "--intervals",
        "4",
        "--start",
        "14:00",
        "--json",
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in (
        "households",
        "intervals",
        "trades",
        "traded_wh",
        "settled_wh",
        "savings_units",
        "gas_per_household_day",
        "gas_per_trade",
        "gas_per_reading",
        "readings",
        "schedules",
    ):
        assert isinstance(summary[key], int), key
    assert isinstance(summary["delivered_share"], float)
    assert isinstance(summary["pv_share"], float)
    for bill in summary["bills"]:
        for key in (
            "bill_without_units",
            "bill_with_units",
            "savings_units",
            "network_and_taxes_units",
        ):
            assert isinstance(bill[key], int), key
    assert (summary["households"], summary["intervals"]) == (3, 4)
    assert summary["audit_ok"] is True
    assert summary["settled_wh"] <= summary["traded_wh"]
    assert "rpc_url" not in summary
    assert "deployment_file" not in summary
    page = report.read_text()
    # Sources, surplus, who with whom, one market, one household's day, the neighbourhood's
    # flows and prices, the savings: charts of ledger.charts, static SVG.
    assert page.count("<svg") >= 7
    assert "<script" not in page
    assert "household-001" in page
    assert re.search(r"0x[0-9a-fA-F]{40}", page) is None  # names, not addresses
    assert " €" in page


def test_demo_command_refuses_a_bad_date_in_one_line() -> None:
    result = _quartier("demo", "--date", "21/06", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "quartier: --date must be YYYY-MM-DD, got '21/06'"
    ]
