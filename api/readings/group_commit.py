"""Group commit of POST /readings: the readings checked together share one write transaction.

A reading's own work (parse, P-256 verify) runs in its request; what every transaction pays
once (a pooled connection, the write lock, the commit, the database-file checks) was a third
of a reading's CPU. So a checked reading waits here, and the readings that arrived in the same
turn of the event loop are stored by one `store_readings` call, scheduled when the first of
them arrives: under load the group grows by itself (the requests that came in while a group
was being written form the next), with one request alone it costs one loop turn.

Nothing is acknowledged before it is durable: each request is answered only after the commit
of its group returned (or with its own refusal). When another writer holds the database the
group waits for it in a thread, never on the event loop. If the group's transaction fails
for a reason that is no reading's refusal (the database went away, ...), every reading is
retried alone, so that each request gets its own answer, as without grouping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.readings.service import Checked, Ingested, Outcome, store_readings
from api.readings.store import WriterBusyError

_Waiting = list[tuple[Checked, "asyncio.Future[Ingested]"]]


class GroupCommit:
    """Stores the checked readings of one process, a group per event-loop turn."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: The group gathering on each running event loop (one, except in tests), keyed by
        #: the loop's id; the loop is kept, so its id cannot be reused while listed.
        self._gathering: dict[int, tuple[asyncio.AbstractEventLoop, _Waiting]] = {}
        #: Groups being written (a task must be referenced until it ends).
        self._writing: set[asyncio.Task[None]] = set()

    async def store(self, checked: Checked) -> Ingested:
        """Store `checked` with the readings checked in the same loop turn; its outcome
        (ReadingRejectedError raised), once the group's commit returned."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ingested] = loop.create_future()
        gathering = self._gathering.get(id(loop))
        if gathering is None or gathering[0] is not loop:
            gathering = (loop, [])
            self._gathering[id(loop)] = gathering
            # The task starts at the next loop turn, after the requests ready now.
            task = loop.create_task(self._write(id(loop)))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)
        gathering[1].append((checked, future))
        return await future

    async def _write(self, key: int) -> None:
        _loop, group = self._gathering.pop(key)
        await self._answer(group)

    async def _answer(self, group: _Waiting) -> None:
        items = [checked for checked, _future in group]
        outcomes: Sequence[Outcome | Exception]
        try:
            try:
                outcomes = store_readings(self._engine, items, wait_for_writer=False)
            except WriterBusyError:
                # Another process or the relayer is writing (possibly for a while, around a
                # chain call): wait for it in a thread, never on the event loop.
                outcomes = await run_in_threadpool(store_readings, self._engine, items)
        except Exception as error:
            if len(group) > 1:
                for one in group:
                    await self._answer([one])
                return
            # A lone reading's failure goes to its request as it is (a 503 problem, ...).
            outcomes = [error]
        for (_checked, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # its request was cancelled (the client left)
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
