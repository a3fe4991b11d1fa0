"""`quartier market clear`: output formats and malformed books."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.matching import Mechanism, clear
from api.matching.bench import random_book
from api.matching.cli import market_app

BOOK: dict[str, Any] = {
    "interval_id": 1_962_000,
    "orders": [
        {"id": "s1", "household": "h1", "side": "sell", "energy_wh": 500, "price_per_kwh": 10},
        {"id": "s2", "household": "h2", "side": "sell", "energy_wh": 500, "price_per_kwh": 30},
        {"id": "b1", "household": "h3", "side": "buy", "energy_wh": 700, "price_per_kwh": 40},
        {"id": "b2", "household": "h1", "side": "buy", "energy_wh": 700, "price_per_kwh": 20},
    ],
}


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "book.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def _run(*args: str) -> Any:
    return CliRunner().invoke(market_app, ["clear", *args])


def test_json_output_of_pay_as_clear(tmp_path: Path) -> None:
    result = _run(str(_write(tmp_path, BOOK)), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "clearing_price_per_kwh": 35,
        "trades": [
            {"sell_id": "s1", "buy_id": "b1", "energy_wh": 500, "price_per_kwh": 35},
            {"sell_id": "s2", "buy_id": "b1", "energy_wh": 200, "price_per_kwh": 35},
        ],
    }


def test_json_output_of_pay_as_bid(tmp_path: Path) -> None:
    result = _run(str(_write(tmp_path, BOOK)), "--mechanism", "pay-as-bid", "--json")
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["clearing_price_per_kwh"] is None
    assert [t["price_per_kwh"] for t in output["trades"]] == [40, 40]


def test_bounds_options_clamp_limits(tmp_path: Path) -> None:
    path = str(_write(tmp_path, BOOK))
    result = _run(path, "--feed-in-price", "20", "--retail-price", "36", "--json")
    assert result.exit_code == 0, result.stderr
    # The bid of 40 counts as 36: marginal ask 30, marginal bid 36 -> 33.
    assert json.loads(result.stdout)["clearing_price_per_kwh"] == 33
    assert _run(path, "--feed-in-price", "20").exit_code == 2


def test_json_output_matches_the_engine_on_a_larger_book(tmp_path: Path) -> None:
    orders = random_book(300, seed=7)
    document = {
        "interval_id": 1,
        "orders": [
            {
                "id": o.id,
                "household": o.household,
                "side": o.side.value,
                "energy_wh": o.energy_wh,
                "price_per_kwh": o.price_per_kwh,
            }
            for o in reversed(orders)
        ],
    }
    result = _run(str(_write(tmp_path, document)), "--json")
    expected = clear(orders, Mechanism.PAY_AS_CLEAR)
    output = json.loads(result.stdout)
    assert output["clearing_price_per_kwh"] == expected.clearing_price_per_kwh
    assert [(t["sell_id"], t["buy_id"], t["energy_wh"]) for t in output["trades"]] == [
        (t.sell_id, t.buy_id, t.energy_wh) for t in expected.trades
    ]


def test_table_output_is_readable(tmp_path: Path) -> None:
    result = _run(str(_write(tmp_path, BOOK)))
    assert result.exit_code == 0, result.stderr
    assert "clearing price: 35 per kWh" in result.stdout
    assert "traded: 700 Wh in 2 trades" in result.stdout
    assert "s2" in result.stdout
    assert "b1" in result.stdout


def _order(**changes: Any) -> dict[str, Any]:
    order = {"id": "o-7", "household": "h1", "side": "sell", "energy_wh": 10, "price_per_kwh": 5}
    order.update(changes)
    return {k: v for k, v in order.items() if v is not ...}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"interval_id": 1, "orders": [_order(energy_wh=...)]},
            "'o-7'): missing field 'energy_wh'",
        ),
        ({"interval_id": 1, "orders": [_order(energy_wh=12.5)]}, "'o-7'): field 'energy_wh'"),
        ({"interval_id": 1, "orders": [_order(energy_wh="12")]}, "'o-7'): field 'energy_wh'"),
        ({"interval_id": 1, "orders": [_order(energy_wh=True)]}, "'o-7'): field 'energy_wh'"),
        ({"interval_id": 1, "orders": [_order(price_per_kwh=-1)]}, "field 'price_per_kwh'"),
        ({"interval_id": 1, "orders": [_order(side="bid")]}, "'o-7'): field 'side'"),
        ({"interval_id": 1, "orders": [_order(id=...)]}, "order #0: missing field 'id'"),
        ({"interval_id": 1, "orders": [_order(), _order()]}, "order #1 (id 'o-7'): field 'id'"),
        ({"interval_id": 1, "orders": [_order(), 3]}, "order #1: must be a JSON object"),
        ({"orders": []}, "book: missing field 'interval_id'"),
        ({"interval_id": "x", "orders": []}, "field 'interval_id'"),
        ({"interval_id": 1, "orders": {}}, "field 'orders' must be a list"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_malformed_books_exit_2_with_one_line(tmp_path: Path, document: Any, expected: str) -> None:
    result = _run(str(_write(tmp_path, document)), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    assert "cannot read book file" in result.stderr


def test_console_script_reports_a_malformed_book(tmp_path: Path) -> None:
    # Through the real entry point (api.cli.main), as an auditor runs it.
    path = _write(tmp_path, {"interval_id": 1, "orders": [_order(side="hold")]})
    command = [sys.executable, "-c", "from api.cli import main; main()", "market", "clear"]
    done = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("quartier: order #0 (id 'o-7'): field 'side'")
    ok = subprocess.run(
        [*command, str(_write(tmp_path, BOOK)), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["clearing_price_per_kwh"] == 35
