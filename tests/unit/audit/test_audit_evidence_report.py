"""Evidence files (strict parsing, one error naming the file) and the report writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from ledger.audit import AuditError, AuditReport, IntervalSummary, Problem, TradeLine, load_evidence
from ledger.audit.report import render_html, write_csv
from ledger.orders import Order, Side, sign_order
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading

MARKET = "0x" + "ab" * 20


def _signed_reading_json() -> dict[str, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    meter_id = meter_id_of(PublicKey.from_cryptography(key.public_key()))
    return sign_reading(key, Reading(meter_id, 7, 10, 20, 1), 31337, MARKET).to_json()


def _signed_order_json() -> dict[str, object]:
    account = Account.create()
    order = Order(account.address, Side.BUY, 7, 500, 120, 3)
    signed = sign_order(account.key, order, 31337, MARKET)
    return {
        "household": account.address,
        "side": "buy",
        "interval_id": 7,
        "energy_wh": 500,
        "price_per_kwh": 120,
        "nonce": 3,
        "status": "committed",
        "signature": {"v": signed.v, "r": hex(signed.r), "s": hex(signed.s)},
    }


def test_loads_readings_and_orders_from_json_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([_signed_reading_json(), _signed_order_json()]))
    nested = tmp_path / "more"
    nested.mkdir()
    lines = [json.dumps(_signed_reading_json()), "", json.dumps(_signed_reading_json())]
    (nested / "b.jsonl").write_text("\n".join(lines))
    evidence = load_evidence(tmp_path)
    assert [source for source, _ in evidence.readings] == ["a.json#1", "b.jsonl:1", "b.jsonl:3"]
    assert [(source, o.order.energy_wh) for source, o in evidence.orders] == [("a.json#2", 500)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "x.json is not JSON"),
        ('{"hello": 1}', "neither a signed reading nor a signed order"),
        ('{"meter_id": "0x12"}', "x.json#1: signed reading keys"),
        ("[1]", "expected a JSON object"),
    ],
)
def test_bad_evidence_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "x.json").write_text(content)
    with pytest.raises(AuditError, match=message) as raised:
        load_evidence(tmp_path)
    assert raised.value.exit_code == 2


def test_missing_evidence_directory(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="does not exist"):
        load_evidence(tmp_path / "none")


def _report() -> AuditReport:
    return AuditReport(
        intervals=(
            IntervalSummary(7, 1_000, 800, 600, 72, 120),
            IntervalSummary(8, 50, 0, None, None, None),
        ),
        trades=(TradeLine(7, "0xS", "0xB<script>", 800, 120, 600, 72),),
        signatures_checked=4,
        problems=(Problem(7, "payment_mismatch", "paid <b>too</b> much"),),
        balances_units={"0xS": 72, "0xB": 928},
    )


def test_csv_has_one_row_per_trade_and_per_interval(tmp_path: Path) -> None:
    trades, settlements = write_csv(_report(), tmp_path)
    assert trades.read_text().splitlines()[1] == "7,0xS,0xB<script>,800,120,600,72"
    assert settlements.read_text().splitlines()[1:] == ["7,1000,800,600,72,120,1", "8,50,0,,,,0"]


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(_report())
    assert page.count("<svg") == 3
    assert "<script" not in page
    assert "&lt;b&gt;too&lt;/b&gt;" in page
    assert "1 problem(s) found" in page
    assert "src=" not in page
    assert "href=" not in page
