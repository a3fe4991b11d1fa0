"""kill -9 of `quartier serve` under load, KILLS times: every reading and schedule it
acknowledged (201, or 200 for a re-send it already held) before a kill is in the SQLite file
after the restart, exactly once; the figures are printed.

Load: one client thread per household posting signed schedules (versions in order) and one
per meter posting signed readings (intervals in order), all the time, through the kills; a
request that fails (the process died under it) is not acknowledged and the client moves on.
The chain's clock stays still during the run (no block is mined), so no gate closes.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx
import pytest
from conftest import GRID, Community, Member, Process, query

from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration

KILLS = 10
HOUSEHOLDS = 3
METERS = 3
SELL = Entry(EntrySide.SELL, 500, 100_000)
READING_INTERVAL_SECONDS = 900  # readings keep the 15-minute interval ids of metering.reading


def _budget_spent(response: httpx.Response) -> bool:
    """The household reached MAX_POSTINGS_PER_PERIOD: a refusal by rule, not a fault."""
    return response.status_code == 409 and response.json().get("type", "").endswith(
        ":too-many-postings"
    )


class Load:
    """Client threads posting until stopped; what was acknowledged, by key."""

    def __init__(self, community: Community, url: str) -> None:
        self.community = community
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.schedules: set[str] = set()
        self.readings: set[tuple[str, int]] = set()
        self.failed = 0
        self.threads: list[threading.Thread] = []

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response | None:
        try:
            return httpx.post(f"{self.url}{path}", json=body, timeout=10)
        except httpx.HTTPError:
            with self.lock:
                self.failed += 1
            time.sleep(0.05)
            return None

    def _schedules(self, member: Member, period_id: int) -> None:
        version = 0
        while not self.stop.is_set():
            version += 1
            body = self.community.schedule_body(member, period_id, [SELL], version)
            response = self._post("/schedules", body)
            if response is not None and response.status_code in (200, 201):
                with self.lock:
                    self.schedules.add(response.json()["schedule_hash"])
            elif response is not None and _budget_spent(response):
                return  # this household's postings for the period are all used: readings go on
            elif response is not None and response.status_code != 503:
                raise AssertionError(response.text)

    def _readings(self, member: Member, first_interval: int) -> None:
        meter = member.meters[0]
        interval = first_interval
        while not self.stop.is_set():
            interval += 1
            body = self.community.next_reading(meter, interval)
            response = self._post("/readings", body)
            if response is not None and response.status_code in (200, 201):
                with self.lock:
                    self.readings.add(("0x" + meter.meter_id.hex(), meter.seq))
            elif response is not None and response.status_code != 503:
                raise AssertionError(response.text)

    def start(self, households: list[Member], meters: list[Member], period_id: int) -> None:
        first = self.community.now() // READING_INTERVAL_SECONDS - 100_000
        for member in households:
            self.threads.append(
                threading.Thread(target=self._schedules, args=(member, period_id), daemon=True)
            )
        for member in meters:
            self.threads.append(
                threading.Thread(target=self._readings, args=(member, first), daemon=True)
            )
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads)


def test_kill_9_of_serve_under_load_loses_and_duplicates_nothing_acknowledged(
    community: Community, launch: Any, environment: dict[str, str]
) -> None:
    households = [community.member() for _ in range(HOUSEHOLDS)]
    meters = [community.member() for _ in range(METERS)]
    # Far enough ahead that the wall clock never passes the chain's (frozen) time.
    community.warp(GRID.period_start(GRID.period_at(community.now()) + 3))
    period_id = GRID.period_at(community.now()) + 1
    serve: Process = launch("serve", served=True)
    load = Load(community, serve.url)
    load.start(households, meters, period_id)
    randomness = random.Random(12)
    restart_seconds = []
    before_kill: list[tuple[int, int]] = []
    try:
        for _ in range(KILLS):
            time.sleep(randomness.uniform(0.5, 2.0))
            with load.lock:
                before_kill.append((len(load.schedules), len(load.readings)))
            serve.kill()
            started = time.monotonic()
            serve.start()
            restart_seconds.append(time.monotonic() - started)
        time.sleep(1.0)
    finally:
        load.finish()
    serve.stop()

    schedules = query(
        environment, "SELECT schedule_hash, household, period_id, version FROM v2_schedule"
    )
    stored_hashes = [row[0] for row in schedules]
    versions = [(row[1], row[2], row[3]) for row in schedules]
    readings = query(environment, "SELECT meter_id, seq, interval_id FROM reading")
    stored_readings = [(row[0], row[1]) for row in readings]
    lost_schedules = load.schedules - set(stored_hashes)
    lost_readings = load.readings - set(stored_readings)
    print(
        f"serve killed {KILLS} times under load: acknowledged {len(load.schedules)} schedules,"
        f" {len(load.readings)} readings; lost {len(lost_schedules)} + {len(lost_readings)};"
        f" stored {len(stored_hashes)} schedules, {len(stored_readings)} readings;"
        f" requests cut by a kill {load.failed}; restart {max(restart_seconds):.1f} s at most"
    )
    assert len(load.schedules) > 0
    assert len(load.readings) > 0
    # Acknowledged before each kill: a kill happened with work acknowledged (a real load).
    assert all(count > 0 for pair in before_kill[1:] for count in pair), before_kill
    assert lost_schedules == set()
    assert lost_readings == set()
    assert len(stored_hashes) == len(set(stored_hashes))
    assert len(versions) == len(set(versions))
    assert len(stored_readings) == len(set(stored_readings))
    assert len(readings) == len({(row[0], row[2]) for row in readings})
    assert "Traceback" not in serve.text()
