"""api.limits.json_deeper_than: the nesting a JSON decoder would recurse into, decided in
linear time whatever the body."""

from __future__ import annotations

import json
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.limits import json_deeper_than

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


@given(_JSON, st.integers(min_value=0, max_value=8))
def test_any_json_document(value: Any, limit: int) -> None:
    # Strings full of brackets, quotes and escapes do not count.
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert json_deeper_than(text.encode(), limit) == (_depth(value) > limit)


@given(_JSON, st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=200))
def test_a_truncated_document_counts_its_unclosed_openings(
    value: Any, limit: int, cut: int
) -> None:
    text = json.dumps(value).encode()
    prefix = text[: min(cut, len(text))]
    depths = [0]
    inside = escaped = False
    for byte in prefix:  # the reference: a byte-by-byte walk
        if inside:
            escaped, inside = (False, True) if escaped else (byte == 92, byte != 34)
        elif byte == 34:
            inside = True
        elif byte in b"[{":
            depths.append(depths[-1] + 1)
        elif byte in b"]}":
            depths.append(depths[-1] - 1)
    assert json_deeper_than(prefix, limit) == (max(depths) > limit)


def test_unclosed_openings_count() -> None:
    assert json_deeper_than(b"[" * 70_000, 32)
    assert json_deeper_than(b'{"a": [[' + b"[" * 30, 32)
    assert not json_deeper_than(b'{"a": [[' + b"[" * 29, 32)
    assert not json_deeper_than(b'"' + b"[" * 50, 32)  # inside an unterminated string
    assert not json_deeper_than(b'"[[[[[' * 10, 25)  # every other run is outside a string
    assert json_deeper_than(b'"[[[[[' * 10, 24)


def _calls_while(check: Any) -> int:
    """The function calls (Python and C) made while `check()` runs."""
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        check()
    finally:
        sys.setprofile(None)
    return calls


_HOSTILE = (
    # Escaped quotes with no closing quote made a backtracking string pattern quadratic.
    (b'"\\"', False),
    (b"[]", False),
    (b"[", True),
    (b"]", False),
    (b"[[]]", False),
    (b"[" * 31 + b"]" * 31, False),
    (b'"a', False),
)


def test_hostile_bodies_take_a_bounded_number_of_whole_body_passes() -> None:
    # Linear whatever the body: the check is a number of whole-body C operations (translate,
    # count, replace) bounded by the depth limit, never a step per byte, string or bracket.
    # So as many calls whether a hostile pattern is repeated 1,000 or 100,000 times, and never
    # more than the limit's passes allow; a Python walk, a per-string loop or a pass per
    # nesting level beyond the limit would grow with the body.
    for unit, deep in _HOSTILE:
        counts = []
        for repeat in (10, 1_000, 100_000):
            body = unit * repeat
            assert json_deeper_than(body, 32) is (deep and repeat > 32), (unit, repeat)
            counts.append(_calls_while(lambda body=body: json_deeper_than(body, 32)))
        assert counts[1] == counts[2], (unit, counts)
        assert max(counts) <= 3 * 32 + 20, (unit, counts)
