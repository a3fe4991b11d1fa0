"""kill -9 of `quartier relayer` while its postSchedules or settlePeriod transaction is in
flight, in each window a crash can fall in: mined before the relayer read its receipt (the
DB never learnt it), never mined (dropped with the process), mined after the process died.
After a restart every acknowledged schedule is on chain exactly once, the period settles once,
and the DB's bookkeeping (schedules posted, with their transaction, block and lock; the
period's delivered energy and gas) is the chain's events'.

The window is made exact with Anvil's mining switch: with automine off the relayer's
transaction waits in the pool; the test stops the process (SIGSTOP), mines or drops the
transaction, and kills it (SIGKILL).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from conftest import GRID, Community, Process, query, rpc
from eth_account import Account
from hexbytes import HexBytes
from web3.types import FilterParams

from ledger.events_v2 import PeriodSettled, SchedulePosted, decode_log_v2
from ledger.schedules import NO_ENTRY, Entry, EntrySide

pytestmark = pytest.mark.integration

FUNDS_UNITS = 1_000_000
SELL = Entry(EntrySide.SELL, 1_000, 100_000)
BUY = Entry(EntrySide.BUY, 600, 200_000)
START = (10_000, 20_000)
WAIT_SECONDS = 45.0
WINDOWS = ("mined-unrecorded", "never-mined", "mined-after-kill")


def _until(what: str, check: Any, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def _kill_in_window(community: Community, start_relayer: Any, address: str, window: str) -> None:
    """Start the relayer with mining off, and kill it with its transaction in `window`."""
    url = community.node.url
    rpc(url, "evm_setAutomine", False)
    try:
        relayer: Process = start_relayer()
        _until(
            f"the relayer's transaction in the pool ({relayer.alive()=}, {relayer.text()[-800:]})",
            lambda: (
                int(rpc(url, "eth_getTransactionCount", address, "pending"), 16)
                > int(rpc(url, "eth_getTransactionCount", address, "latest"), 16)
            ),
        )
        relayer.pause()
        if window == "mined-unrecorded":
            rpc(url, "evm_mine")
        elif window == "never-mined":
            rpc(url, "anvil_dropAllTransactions")
        relayer.kill()
        if window == "mined-after-kill":
            rpc(url, "evm_mine")
    finally:
        rpc(url, "evm_setAutomine", True)


def _events(community: Community) -> list[tuple[Any, str, int]]:
    """Every decoded exchange event with its transaction hash and block."""
    exchange = community.exchange()
    params: FilterParams = {
        "address": exchange.contract.address,
        "fromBlock": community.deployment.deploy_block,
        "toBlock": "latest",
    }
    found = []
    for entry in community.manager.w3.eth.get_logs(params):
        event = decode_log_v2(exchange.contract, entry)
        if event is not None:
            tx_hash = "0x" + bytes(entry["transactionHash"]).hex()
            found.append((event, tx_hash, int(entry["blockNumber"])))
    return found


@pytest.mark.parametrize("window", WINDOWS)
def test_a_relayer_killed_posting_then_settling_leaves_the_db_as_the_chain(
    community: Community, launch: Any, relayer_key: str, environment: dict[str, str], window: str
) -> None:
    relayer_address = Account.from_key(relayer_key).address
    serve: Process = launch("serve", served=True)
    seller, buyer = community.member(), community.member(FUNDS_UNITS)
    period = community.open_period()
    acknowledged: list[str] = []
    for member, entries, version in (
        (seller, [SELL, NO_ENTRY], 1),
        (buyer, [BUY], 1),
        (seller, [SELL, SELL], 2),
    ):
        body = community.schedule_body(member, period, entries, version)
        response = httpx.post(f"{serve.url}/schedules", json=body, timeout=10)
        assert response.status_code == 201, response.text
        acknowledged.append(response.json()["schedule_hash"])

    # --- killed during posting
    _kill_in_window(community, lambda: launch("relayer"), relayer_address, window)
    relayer: Process = launch("relayer")

    def all_posted() -> bool:
        rows = query(environment, "SELECT status FROM v2_schedule")
        return len(rows) == 3 and all(status == "posted" for (status,) in rows)

    _until("every schedule posted", all_posted)
    relayer.stop()
    posted = [
        (e, tx, block) for e, tx, block in _events(community) if isinstance(e, SchedulePosted)
    ]
    hashes = Counter("0x" + event.schedule_hash.hex() for event, _, _ in posted)
    assert hashes == Counter(acknowledged)  # each acknowledged schedule exactly once
    stored = {
        row[0]: row[1:]
        for row in query(
            environment, "SELECT schedule_hash, tx_hash, posted_block, lock_units FROM v2_schedule"
        )
    }
    for event, tx_hash, block in posted:
        assert stored["0x" + event.schedule_hash.hex()] == (tx_hash, block, event.locked_units)

    # --- killed during settlement
    community.warp(GRID.period_end(period))
    for member, deltas in (
        (seller, [(0, 800), (0, 900), (0, 0), (0, 0)]),
        (buyer, [(600, 0), (5, 0), (0, 0), (0, 0)]),
    ):
        body = community.batch_body(member.meters[0], period, START, deltas)
        response = httpx.post(f"{serve.url}/meter-batches", json=body, timeout=10)
        assert response.status_code == 201, response.text
    _kill_in_window(community, lambda: launch("relayer"), relayer_address, window)
    relayer = launch("relayer")

    def recorded() -> list[tuple[Any, ...]]:
        return query(
            environment,
            "SELECT status, delivered_wh, gas_used FROM v2_period WHERE period_id = ?",
            period,
        )

    _until("the period settled in the DB", lambda: recorded() and recorded()[0][0] == "settled")
    relayer.stop()
    assert community.exchange().is_settled(period)
    settled = [(e, tx) for e, tx, _ in _events(community) if isinstance(e, PeriodSettled)]
    assert [event.period_id for event, _ in settled] == [period]  # settled once
    event, tx_hash = settled[0]
    receipt = community.manager.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    assert recorded() == [("settled", event.delivered_wh, int(receipt["gasUsed"]))]
    assert event.delivered_wh > 0
    assert "Traceback" not in relayer.text()
    print(
        f"relayer killed in window {window!r} while posting and while settling:"
        f" {len(acknowledged)} acknowledged schedules, {len(hashes)} on chain once each,"
        f" period settled once ({event.delivered_wh} Wh delivered), DB = chain"
    )
