"""kill -9 of `quartier relayer` while its postSchedules or settlePeriod transaction is in
flight, in each window a crash can fall in: mined before the relayer read its receipt (the
DB never learnt it), never mined (dropped with the process), mined after the process died.
After a restart every acknowledged schedule is on chain exactly once, the period settles once,
and the DB's bookkeeping (schedules posted, with their transaction, block and lock; the
period's delivered energy and gas) is the chain's events'.

The window is made exact with Anvil's mining switch: with automine off the relayer's
transaction waits in the pool; the test stops the process (SIGSTOP), mines or drops the
transaction, and kills it (SIGKILL).

Under load: the relayer is killed 10 times (kill -9, each time after it sent a transaction
of that cycle, at a random moment of its next passes) while households keep posting
schedules through `quartier serve`; after a last restart every acknowledged schedule is on
chain exactly once and the DB's record of each posting (transaction, block, lock) is the
chain's event. The counts are printed.
"""

from __future__ import annotations

import random
import threading
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


# ---------------------------------------------------------------- 10 kills under load

RELAYER_KILLS = 10
LOAD_HOUSEHOLDS = 6
#: Schedules the load sends during each kill cycle (spread over the households: within the
#: exchange's MAX_POSTINGS_PER_PERIOD of 24 per household and period over the whole run).
PER_CYCLE = 12
#: A kill cycle waits this long at most for the relayer to send a transaction.
CYCLE_SECONDS = 300.0


class ScheduleLoad:
    """One client thread per household posting signed schedules (versions in order) through
    `quartier serve`; each post takes a permit, which the kill loop hands out per cycle, so
    schedules keep arriving while the relayer starts, posts and is killed."""

    def __init__(self, community: Community, url: str, members: list[Any], period: int) -> None:
        self.community = community
        self.url = url
        self.period = period
        self.permits = threading.Semaphore(0)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acknowledged: list[str] = []
        self.errors: list[str] = []
        self.threads = [
            threading.Thread(target=self._run, args=(member, seed), daemon=True)
            for seed, member in enumerate(members)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, member: Any, seed: int) -> None:
        randomness = random.Random(seed)
        version = 0
        while not self.stop.is_set():
            if not self.permits.acquire(timeout=0.5):
                continue
            time.sleep(randomness.uniform(0.0, 1.0))
            version += 1
            body = self.community.schedule_body(member, self.period, [SELL], version)
            try:
                response = httpx.post(f"{self.url}/schedules", json=body, timeout=180)
            except httpx.HTTPError as error:
                with self.lock:
                    self.errors.append(f"{type(error).__name__}: {error}")
                continue
            with self.lock:
                if response.status_code == 201:
                    self.acknowledged.append(response.json()["schedule_hash"])
                else:
                    self.errors.append(response.text)

    def sent(self) -> int:
        with self.lock:
            return len(self.acknowledged) + len(self.errors)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in self.threads)


def test_kill_9_of_the_relayer_under_load_10_times_loses_and_duplicates_nothing(
    community: Community, launch: Any, relayer_key: str, environment: dict[str, str]
) -> None:
    url = community.node.url
    relayer_address = Account.from_key(relayer_key).address
    members = [community.member() for _ in range(LOAD_HOUSEHOLDS)]
    # The chain's clock moves one second per block, not with the wall clock (the run takes
    # minutes on a loaded machine; the period's gate must stay open), and far enough ahead
    # that the wall clock never passes it.
    community.warp(GRID.period_start(GRID.period_at(community.now()) + 4))
    period = GRID.period_at(community.now()) + 1
    rpc(url, "anvil_setBlockTimestampInterval", 1)
    serve: Process = launch("serve", served=True)
    load = ScheduleLoad(community, serve.url, members, period)
    relayer: Process | None = None
    randomness = random.Random(12)
    kills, busy_kills, restart_seconds = 0, 0, []

    def nonce() -> int:
        return int(rpc(url, "eth_getTransactionCount", relayer_address, "latest"), 16)

    try:
        for cycle in range(RELAYER_KILLS):
            load.permits.release(PER_CYCLE)
            before = nonce()
            started = time.monotonic()
            if relayer is None:
                relayer = launch("relayer", QUARTIER_WORKER_POLL_SECONDS="2")
            else:
                relayer.start()
            # Killed while at work: after it sent a transaction of this cycle, at a random
            # moment of its next passes (schedules keep arriving meanwhile).
            deadline = time.monotonic() + CYCLE_SECONDS
            while nonce() <= before:
                assert time.monotonic() < deadline, (
                    f"no relayer transaction in cycle {cycle} ({relayer.alive()=},"
                    f" {load.sent()} sent, {len(load.errors)} errors {load.errors[:2]}):"
                    f" {relayer.text()[-1500:]}"
                )
                time.sleep(0.2)
            restart_seconds.append(time.monotonic() - started)
            busy_kills += 1
            time.sleep(randomness.uniform(0.0, 1.5))
            relayer.kill()
            kills += 1
        _until("the load's last schedules", lambda: load.sent() >= RELAYER_KILLS * PER_CYCLE)
    finally:
        load.finish()
    assert relayer is not None
    relayer.start()

    def all_posted() -> bool:
        rows = query(environment, "SELECT status FROM v2_schedule")
        return len(rows) == len(load.acknowledged) and {status for (status,) in rows} == {"posted"}

    try:
        _until("every acknowledged schedule posted", all_posted, CYCLE_SECONDS)
    finally:
        relayer.stop()
        rpc(url, "anvil_removeBlockTimestampInterval")
    assert load.errors == []
    acknowledged = Counter(load.acknowledged)
    posted = [
        (e, tx, block) for e, tx, block in _events(community) if isinstance(e, SchedulePosted)
    ]
    on_chain = Counter("0x" + event.schedule_hash.hex() for event, _, _ in posted)
    stored = {
        row[0]: row[1:]
        for row in query(
            environment,
            "SELECT schedule_hash, status, tx_hash, posted_block, lock_units FROM v2_schedule",
        )
    }
    lost = [h for h in acknowledged if h not in stored or on_chain[h] == 0]
    duplicated = [h for h, count in on_chain.items() if count > 1]
    transactions = len({tx for _, tx, _ in posted})
    print(
        f"relayer killed {kills} times under load ({busy_kills} after a transaction of its"
        f" cycle): acknowledged {len(acknowledged)} schedules, on chain {sum(on_chain.values())}"
        f" in {transactions} transactions; lost {len(lost)}, duplicated {len(duplicated)};"
        f" DB = chain for every posting; restart to first transaction"
        f" {max(restart_seconds):.1f} s at most"
    )
    assert kills == busy_kills == RELAYER_KILLS
    assert len(acknowledged) == RELAYER_KILLS * PER_CYCLE
    assert max(acknowledged.values()) == 1
    assert on_chain == acknowledged  # each acknowledged schedule on chain exactly once
    assert lost == []
    assert duplicated == []
    for event, tx_hash, block in posted:
        assert stored["0x" + event.schedule_hash.hex()] == (
            "posted",
            tx_hash,
            block,
            event.locked_units,
        )
    assert "Traceback" not in relayer.text()
