"""api.limits.json_depth: the nesting a JSON decoder would recurse into, in linear time."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.limits import json_depth

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children, max_size=4)
    ),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@given(_JSON)
def test_depth_of_any_json_document(value: Any) -> None:
    # Strings full of brackets, quotes and escapes do not count.
    assert json_depth(json.dumps(value).encode()) == _depth(value)
    assert json_depth(json.dumps(value, ensure_ascii=False).encode()) == _depth(value)


def test_unclosed_openings_count() -> None:
    assert json_depth(b"[" * 70_000) == 70_000
    assert json_depth(b'{"a": [[' + b"[" * 100) == 103
    assert json_depth(b'"' + b"[" * 50) == 0  # inside an unterminated string
    assert json_depth(b'"[[[[[' * 10) == 25  # every other run is outside a string


def test_hostile_bodies_take_linear_time() -> None:
    # Escaped quotes with no closing quote would make a backtracking string pattern quadratic.
    for body in (b'"\\"' * 350_000, b"[]" * 500_000, b"[" * 1_000_000, b'"a' * 500_000):
        started = time.perf_counter()
        json_depth(body)
        assert time.perf_counter() - started < 0.5, body[:8]
