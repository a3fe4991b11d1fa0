"""`quartier audit` against a real Anvil chain: a clean round trip, then tampering on purpose.

Each test drives order -> commit -> readings -> settle with the helpers of test_market (own
Anvil node: the clock moves) and asserts the audit names exactly what was tampered with.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from test_market import Community, Household
from typer.testing import CliRunner

from api.audit_cli import engine_rule
from api.cli import app
from api.matching import Mechanism, PriceBounds
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.audit import AuditReport, Evidence, run_audit
from ledger.audit.rules import book_of, reclear
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.deployment import Deployment, save_deployment
from ledger.market import MarketClient
from ledger.orders import Order, Side, SignedOrder, Trade, sign_order
from metering.reading import Reading, SignedReading, sign_reading

pytestmark = pytest.mark.integration

RULE = engine_rule(Mechanism.PAY_AS_CLEAR, PriceBounds(40, 300))


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as running:
        yield running


@pytest.fixture
def community(node: AnvilNode) -> Community:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    return Community(manager, deploy_community(manager))


@dataclass
class RoundTrip:
    """One interval traded and settled, with everything signed along the way."""

    community: Community
    interval_id: int
    seller: Household
    buyers: tuple[Household, Household]
    readings: list[SignedReading]

    @property
    def deployment(self) -> Deployment:
        return self.community.deployment

    def audit(self, evidence: Evidence | None = None) -> AuditReport:
        return run_audit(self.community.w3, self.deployment, RULE, evidence=evidence)


def _sign(community: Community, household: Household, order: Order) -> SignedOrder:
    return sign_order(
        household.account.key, order, community.w3.eth.chain_id, community.market_address
    )


def _read(community: Community, household: Household, k: int, imp: int, exp: int) -> SignedReading:
    seq = community.meter_seq.get(household.meter_id, 0) + 1
    community.meter_seq[household.meter_id] = seq
    reading = Reading(household.meter_id, k, imp, exp, seq)
    signed = sign_reading(
        household.meter_key, reading, community.w3.eth.chain_id, community.market_address
    )
    relayer = MarketClient(
        community.manager, community.market_address, community.deployment.deploy_block
    )
    relayer.submit_readings([signed])
    return signed


def _round_trip(community: Community, price_override: int | None = None) -> RoundTrip:
    """Seller 1000 Wh >= 100, buyers 600 and 400 Wh <= 150: the engine clears 1000 Wh at 125.

    The seller exports only 700 Wh and buyer B imports 300 Wh, so settlement scales down.
    `price_override` commits the same trades at another price within both limits: the
    contract accepts it, the engine would not have produced it.
    """
    seller, buyer_b, buyer_c = community.household(0), community.household(), community.household()
    k = community.now() // 900 + 1
    community.warp(k * 900)
    orders = [
        _sign(community, seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1)),
        _sign(community, buyer_b, Order(buyer_b.address, Side.BUY, k, 600, 150, 1)),
        _sign(community, buyer_c, Order(buyer_c.address, Side.BUY, k, 400, 150, 1)),
    ]
    chain_id = community.w3.eth.chain_id
    trades, _ = reclear(
        RULE, book_of([o.order for o in orders], chain_id, community.market_address)
    )
    assert trades is not None
    assert {t.price_per_kwh for t in trades} == {125}
    if price_override is not None:
        trades = [
            Trade(t.sell_order_index, t.buy_order_index, t.energy_wh, price_override)
            for t in trades
        ]
    seller.market.commit_interval(k, orders, trades)
    readings = [_read(community, h, k - 1, 50_000, 20_000) for h in (seller, buyer_b, buyer_c)]
    community.warp((k + 1) * 900)
    readings.append(_read(community, seller, k, 50_000, 20_700))
    readings.append(_read(community, buyer_b, k, 50_300, 20_000))
    readings.append(_read(community, buyer_c, k, 50_400, 20_000))
    seller.market.settle_interval(k)
    return RoundTrip(community, k, seller, (buyer_b, buyer_c), readings)


def _kinds(report: AuditReport) -> set[str]:
    return {problem.kind for problem in report.problems}


def test_clean_round_trip_passes_with_exact_counts(community: Community) -> None:
    trip = _round_trip(community)
    report = trip.audit()
    assert report.problems == ()
    assert report.as_json() == {
        "ok": True,
        "intervals": 1,
        "trades": 2,
        # 3 order signatures (secp256k1) + 6 reading signatures (P-256).
        "signatures_checked": 9,
        "problems": [],
    }
    # Settlement recomputed from the readings: 300 Wh to B, 280 Wh to C at 125 per kWh.
    settled = sorted((t.buyer, t.delivered_wh, t.payment_units) for t in report.trades)
    assert settled == sorted([(trip.buyers[0].address, 300, 37), (trip.buyers[1].address, 280, 35)])
    assert report.balances_units[trip.seller.address] == 37 + 35


def test_valid_evidence_passes_and_counts(community: Community) -> None:
    trip = _round_trip(community)
    report = trip.audit(Evidence(readings=[("r", r) for r in trip.readings]))
    assert report.ok
    assert report.signatures_checked == 9 + 6


def test_forged_reading_in_the_evidence_is_named(community: Community) -> None:
    trip = _round_trip(community)
    genuine = trip.readings[3]  # the seller's R(k): 20_700 Wh exported
    forged_reading = Reading(
        genuine.reading.meter_id,
        genuine.reading.interval_id,
        genuine.reading.import_wh_total,
        21_000,
        genuine.reading.seq,
    )
    forged = SignedReading(forged_reading, genuine.public_key, genuine.r, genuine.s)
    report = trip.audit(Evidence(readings=[("forged.json#1", forged)]))
    assert not report.ok
    assert [(p.interval_id, p.kind) for p in report.problems] == [
        (trip.interval_id, "reading_signature")
    ]
    assert "forged.json#1" in report.problems[0].detail
    assert "0x" + genuine.reading.meter_id.hex() in report.problems[0].detail


def test_meter_signed_reading_that_differs_from_the_chain_is_named(community: Community) -> None:
    trip = _round_trip(community)
    genuine = trip.readings[3].reading
    other = Reading(
        genuine.meter_id, genuine.interval_id, genuine.import_wh_total, 20_999, genuine.seq
    )
    signed = sign_reading(
        trip.seller.meter_key, other, community.w3.eth.chain_id, community.market_address
    )
    report = trip.audit(Evidence(readings=[("other.json#1", signed)]))
    assert [(p.interval_id, p.kind) for p in report.problems] == [
        (trip.interval_id, "evidence_mismatch")
    ]


def test_mis_cleared_interval_is_named(community: Community) -> None:
    # 140 per kWh is within every limit (asks 100, bids 150): the contract accepts it.
    trip = _round_trip(community, price_override=140)
    report = trip.audit()
    assert [(p.interval_id, p.kind) for p in report.problems] == [
        (trip.interval_id, "clearing_mismatch")
    ]
    assert "125" in report.problems[0].detail
    assert "140" in report.problems[0].detail


def _escrow_slot(household: str) -> int:
    # QuartierMarket's first state variable: mapping(address => Account) _accounts at slot 0.
    return int.from_bytes(keccak(abi_encode(["address", "uint256"], [household, 0])), "big")


def test_altered_payment_in_a_fork_of_the_state_is_named(community: Community) -> None:
    trip = _round_trip(community)
    w3 = community.w3
    seller = trip.seller.address
    slot = _escrow_slot(seller)
    stored = int.from_bytes(w3.eth.get_storage_at(community.market_address, slot), "big")
    # Layout guard: the low 128 bits are the free units the contract reports.
    assert stored & (2**128 - 1) == trip.seller.market.escrow_of(seller).free_units == 72
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        # The seller is credited 100 more units than the settlement paid it.
        w3.provider.make_request(
            "anvil_setStorageAt",
            [community.market_address, hex(slot), "0x" + (stored + 100).to_bytes(32, "big").hex()],
        )
        report = trip.audit()
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
    kinds = _kinds(report)
    assert {"escrow_mismatch", "escrow_conservation", "credit_conservation"} <= kinds
    assert kinds <= {"escrow_mismatch", "escrow_conservation", "credit_conservation"}
    mismatch = next(p for p in report.problems if p.kind == "escrow_mismatch")
    assert seller in mismatch.detail
    assert "172 free" in mismatch.detail
    assert "72 / 0" in mismatch.detail
    assert trip.audit().ok  # the snapshot restored the honest state


# ------------------------------------------------------------------ CLI


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["audit-v1", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_exit_0_with_json_html_and_csv(
    community: Community, node: AnvilNode, tmp_path: Path
) -> None:
    trip = _round_trip(community)
    deployment = save_deployment(trip.deployment, tmp_path)
    code, out, err = _cli(
        "--rpc",
        node.url,
        "--deployment",
        str(deployment),
        "--json",
        "--html",
        str(tmp_path / "audit.html"),
        "--csv",
        str(tmp_path / "csv"),
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "ok": True,
        "intervals": 1,
        "trades": 2,
        "signatures_checked": 9,
        "problems": [],
    }
    page = (tmp_path / "audit.html").read_text()
    assert page.count("<svg") == 3
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")
    trades_csv = (tmp_path / "csv" / "trades.csv").read_text().splitlines()
    assert (
        trades_csv[0]
        == "interval_id,seller,buyer,energy_wh,price_per_kwh,delivered_wh,payment_units"
    )
    assert len(trades_csv) == 3
    settlements = (tmp_path / "csv" / "settlements.csv").read_text().splitlines()
    assert settlements[1] == f"{trip.interval_id},1000,1000,580,72,125,0"


def test_cli_exit_1_names_the_problem(
    community: Community, node: AnvilNode, tmp_path: Path
) -> None:
    trip = _round_trip(community, price_override=140)
    deployment = save_deployment(trip.deployment, tmp_path)
    code, out, _ = _cli("--rpc", node.url, "--deployment", str(deployment), "--json")
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert [(p["interval_id"], p["kind"]) for p in result["problems"]] == [
        (trip.interval_id, "clearing_mismatch")
    ]
    # The same book re-cleared as pay-as-bid prices every trade at the bid (150): still not 140.
    code, out, _ = _cli(
        "--rpc", node.url, "--deployment", str(deployment), "--json", "--mechanism", "pay-as-bid"
    )
    assert code == 1
    assert "150" in json.loads(out)["problems"][0]["detail"]


def test_cli_exit_2_when_the_audit_cannot_run(
    community: Community, node: AnvilNode, tmp_path: Path
) -> None:
    deployment = save_deployment(community.deployment, tmp_path)
    cases = {
        "unreachable": (
            ["--rpc", "http://127.0.0.1:9", "--deployment", str(deployment)],
            "no Ethereum JSON-RPC node",
        ),
        "missing": (["--rpc", node.url, "--deployment", str(tmp_path / "nope.json")], "not found"),
    }
    other = tmp_path / "other" / "1.json"
    other.parent.mkdir()
    raw = json.loads(deployment.read_text())
    raw["chain_id"] = 1
    other.write_text(json.dumps(raw))
    cases["other chain"] = (
        ["--rpc", node.url, "--deployment", str(other)],
        "deployment is for chain 1",
    )
    cases["range"] = (
        ["--rpc", node.url, "--deployment", str(deployment), "--to-block", "99999999"],
        "block range",
    )
    bad_evidence = tmp_path / "evidence"
    bad_evidence.mkdir()
    (bad_evidence / "x.json").write_text("{not json")
    cases["bad evidence"] = (
        ["--rpc", node.url, "--deployment", str(deployment), "--evidence", str(bad_evidence)],
        "is not JSON",
    )
    for name, (args, message) in cases.items():
        code, out, err = _cli(*args, "--json")
        assert code == 2, name
        assert out == "", name
        assert message in err, name
        assert len(err.strip().splitlines()) == 1, name
        assert "Traceback" not in err, name


def test_altered_token_balance_in_a_fork_is_named(community: Community) -> None:
    trip = _round_trip(community)
    w3 = community.w3
    token = community.deployment.address("QuartierToken")
    buyer = trip.buyers[0].address
    # QuartierToken: _name, _symbol, _totalSupply, then mapping _balances at slot 3.
    slot = int.from_bytes(keccak(abi_encode(["address", "uint256"], [buyer, 3])), "big")
    assert w3.eth.get_storage_at(token, slot) == bytes(32)  # the buyer deposited everything
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        w3.provider.make_request(
            "anvil_setStorageAt", [token, hex(slot), "0x" + (5).to_bytes(32, "big").hex()]
        )
        report = trip.audit()
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
    assert {p.kind for p in report.problems} == {"balance_mismatch", "credit_conservation"}
    assert any(buyer in p.detail and "holds 5 token units" in p.detail for p in report.problems)


def _order_json(signed: SignedOrder, status: str = "committed") -> dict[str, object]:
    order = signed.order
    return {
        "order_hash": "0x" + "00" * 32,
        "household": order.household,
        "side": "sell" if order.side is Side.SELL else "buy",
        "interval_id": order.interval_id,
        "energy_wh": order.energy_wh,
        "price_per_kwh": order.price_per_kwh,
        "nonce": order.nonce,
        "status": status,
        "signature": {"v": signed.v, "r": hex(signed.r), "s": hex(signed.s)},
    }


@contextmanager
def _book_server(books: dict[int, list[dict[str, object]]]) -> Iterator[str]:
    """A stand-in for the API's public book endpoint, GET /intervals/{k}/orders."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            k = int(self.path.split("/")[2])
            body = json.dumps({"interval_id": k, "gate_closes_at": 0, "orders": books.get(k, [])})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_api_books_are_checked_against_the_commitments(
    community: Community, node: AnvilNode, tmp_path: Path
) -> None:
    trip = _round_trip(community)
    k = trip.interval_id
    seller, buyer_b = trip.seller, trip.buyers[0]
    honest = _sign(community, seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1))
    # The API shows buyer B's nonce 1 with another amount, validly signed by B: not what was
    # committed. And an order whose signature is not its household's.
    other = _sign(community, buyer_b, Order(buyer_b.address, Side.BUY, k, 650, 150, 1))
    unsigned = SignedOrder(
        Order(buyer_b.address, Side.BUY, k, 10, 150, 9), honest.v, honest.r, honest.s
    )
    deployment = save_deployment(trip.deployment, tmp_path)
    with _book_server({k: [_order_json(honest), _order_json(other), _order_json(unsigned)]}) as url:
        code, out, err = _cli(
            "--rpc", node.url, "--deployment", str(deployment), "--api", url, "--json"
        )
    assert (code, err) == (1, "")
    result = json.loads(out)
    assert [(p["interval_id"], p["kind"]) for p in result["problems"]] == [
        (k, "evidence_mismatch"),
        (k, "order_signature"),
    ]
    assert buyer_b.address in result["problems"][0]["detail"]
    assert result["signatures_checked"] == 9 + 3
    with _book_server({k: [_order_json(honest)]}) as url:
        code, out, _ = _cli(
            "--rpc", node.url, "--deployment", str(deployment), "--api", url, "--json"
        )
    assert code == 0
    assert json.loads(out)["signatures_checked"] == 10


def test_cli_exit_2_when_the_api_does_not_answer(
    community: Community, node: AnvilNode, tmp_path: Path
) -> None:
    _round_trip(community)
    deployment = save_deployment(community.deployment, tmp_path)
    code, out, err = _cli(
        "--rpc", node.url, "--deployment", str(deployment), "--api", "http://127.0.0.1:9", "--json"
    )
    assert (code, out) == (2, "")
    assert "the API at http://127.0.0.1:9 does not answer" in err
