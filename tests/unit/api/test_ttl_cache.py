"""api.ttl_cache.SingleFlightTtl: when it loads, what it answers meanwhile, what it keeps."""

from __future__ import annotations

import threading

import pytest

from api.ttl_cache import SingleFlightTtl


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loads:
    """Counts loads and answers 1, 2, 3, ...; `hold` makes a load wait."""

    def __init__(self) -> None:
        self.count = 0
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self) -> int:
        self.count += 1
        self.entered.set()
        assert self.hold.wait(5)
        return self.count


def test_a_fresh_value_is_served_and_an_expired_one_loaded_once() -> None:
    clock, loads = Clock(), Loads()
    cache: SingleFlightTtl[str, int] = SingleFlightTtl(2.0, clock=clock)
    assert cache.fresh("k") is None
    assert cache.get("k", loads) == 1
    clock.now += 1.9
    assert cache.get("k", loads) == 1
    assert cache.fresh("k") == 1
    clock.now += 0.2
    assert cache.fresh("k") is None
    assert cache.get("k", loads) == 2
    assert cache.get("k", loads, force=True) == 3
    assert loads.count == 3


def test_while_one_caller_refreshes_the_others_get_the_last_value_at_once() -> None:
    clock, loads = Clock(), Loads()
    cache: SingleFlightTtl[str, int] = SingleFlightTtl(1.0, clock=clock)
    cache.get("k", loads)
    clock.now += 5
    loads.hold.clear()
    loads.entered.clear()
    answers: list[int] = []
    refresher = threading.Thread(target=lambda: answers.append(cache.get("k", loads)))
    refresher.start()
    assert loads.entered.wait(5)
    # Expired, but a load is under way: the last value, no second load.
    assert [cache.get("k", loads) for _ in range(10)] == [1] * 10
    assert loads.count == 2
    loads.hold.set()
    refresher.join(5)
    assert answers == [2]
    assert cache.get("k", loads) == 2


def test_answered_is_what_get_would_answer_without_a_load() -> None:
    clock, loads = Clock(), Loads()
    cache: SingleFlightTtl[str, int] = SingleFlightTtl(1.0, clock=clock)
    assert cache.answered("k") is None  # nothing yet: get would load
    cache.get("k", loads)
    assert cache.answered("k") == 1
    clock.now += 5
    assert cache.answered("k") is None  # expired, nobody loading: get would load
    loads.hold.clear()
    loads.entered.clear()
    refresher = threading.Thread(target=lambda: cache.get("k", loads))
    refresher.start()
    assert loads.entered.wait(5)
    assert cache.answered("k") == 1  # expired while another caller loads: the last value
    assert loads.count == 2
    loads.hold.set()
    refresher.join(5)
    assert cache.answered("k") == 2


def test_a_failed_refresh_keeps_the_last_value_for_the_next_caller_to_retry() -> None:
    clock = Clock()
    cache: SingleFlightTtl[str, int] = SingleFlightTtl(1.0, clock=clock)
    cache.get("k", lambda: 7)
    clock.now += 5

    def down() -> int:
        raise ConnectionError("the node is down")

    with pytest.raises(ConnectionError):
        cache.get("k", down)
    assert cache.get("k", lambda: 8) == 8  # not stuck "refreshing"


def test_values_refused_by_keep_are_loaded_every_time() -> None:
    loads = Loads()
    cache: SingleFlightTtl[str, int] = SingleFlightTtl(60.0)
    assert cache.get("k", loads, keep=lambda value: value > 2) == 1
    assert cache.get("k", loads, keep=lambda value: value > 2) == 2
    assert cache.get("k", loads, keep=lambda value: value > 2) == 3
    assert cache.get("k", loads, keep=lambda value: value > 2) == 3


def test_a_zero_lifetime_loads_every_time_even_during_another_load() -> None:
    loads = Loads()
    cache: SingleFlightTtl[str, int] = SingleFlightTtl(0)
    assert [cache.get("k", loads) for _ in range(3)] == [1, 2, 3]


def test_forget_drops_one_key_and_the_size_is_bounded() -> None:
    loads = Loads()
    cache: SingleFlightTtl[int, int] = SingleFlightTtl(60.0, max_entries=3)
    for key in range(3):
        cache.get(key, loads)
    cache.forget(0)
    assert cache.fresh(0) is None
    assert cache.fresh(1) == 2
    cache.get(0, loads)  # back to three entries
    cache.get(9, loads)  # a fourth clears the others first
    assert cache.fresh(9) == 5
    assert cache.fresh(1) is None
