"""Builders and Hypothesis strategies for settlement inputs (imported by the settlement tests).

A small grid (4 intervals of 60 s per period) with windows opening and closing on and
between interval boundaries, few households and a narrow price range, so that ties,
clamping, partial fills, forecast errors and membership edges are all common.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from api.settlement import (
    NO_ENTRY,
    Entry,
    HouseholdInput,
    Mechanism,
    MeterInput,
    Posting,
    Rules,
    Side,
    TimeGrid,
    Window,
    encode_deltas,
    encode_entries,
)

GRID = TimeGrid(interval_seconds=60, period_intervals=4)
PERIOD = 5
FIRST = GRID.first_interval(PERIOD)
START = GRID.period_start(PERIOD)
END = GRID.period_end(PERIOD)
# Boundaries, points inside intervals, and times before / after the period.
# A few round prices, so that equal limits (ties, ask' == bid', a limit at the floor, the
# ceiling or c) are common.
PRICES = st.sampled_from([0, 10, 20, 30, 40, 60, 80])
TIMES = sorted({0, START - 1, END, END + 60, *range(START, END, 30), *range(START + 1, END, 60)})


def address(n: int) -> str:
    """A household address whose sort order is n's."""
    return "0x" + f"{n:040x}"


def plan(entries: Sequence[Entry | None]) -> bytes:
    """`entries` bytes from a list where None means no entry."""
    return encode_entries([entry or NO_ENTRY for entry in entries])


@st.composite
def rules(draw: st.DrawFn, mechanism: Mechanism | None = None) -> Rules:
    floor, ceiling = sorted((draw(PRICES), draw(PRICES)))
    return Rules(
        mechanism=mechanism if mechanism is not None else draw(st.sampled_from(Mechanism)),
        gate_lead_seconds=0,
        settlement_deadline_seconds=0,
        min_entry_wh=draw(st.integers(1, 3)),
        price_floor_per_kwh=floor,
        price_ceiling_per_kwh=ceiling,
        community_price_per_kwh=draw(st.sampled_from([floor, ceiling, (floor + ceiling) // 2])),
    )


@st.composite
def windows(draw: st.DrawFn) -> Window:
    """Mostly open over the whole period; sometimes starting or ending on or inside it."""
    if draw(st.integers(0, 3)):
        return Window(0)
    admitted = draw(st.sampled_from(TIMES))
    removed = draw(st.sampled_from([0, *[t for t in TIMES if t > admitted]]))
    return Window(admitted, removed)


@st.composite
def entries(draw: st.DrawFn, count: int, min_entry_wh: int, max_energy_wh: int) -> bytes:
    chosen: list[Entry | None] = []
    for _ in range(count):
        side = draw(st.sampled_from([Side.NONE, Side.SELL, Side.BUY, Side.SELL, Side.BUY]))
        if side is Side.NONE:
            chosen.append(None)
        else:
            energy = draw(st.integers(min_entry_wh, max_energy_wh))
            chosen.append(Entry(side, energy, draw(PRICES)))
    return plan(chosen)


@st.composite
def postings(draw: st.DrawFn, min_entry_wh: int, max_energy_wh: int) -> tuple[Posting, ...]:
    """One to three postings; the first one usually covers the whole period, a later one
    replaces a tail (and, when shorter, cancels the rest)."""
    made = []
    version = draw(st.integers(0, 3))
    n = GRID.period_intervals
    for index in range(draw(st.sampled_from([1, 1, 2, 3]))):
        whole = index == 0 and draw(st.integers(0, 3)) > 0
        offset = 0 if whole else draw(st.integers(0, n - 1))
        count = n - offset if whole or draw(st.booleans()) else draw(st.integers(0, n - offset))
        data = draw(entries(count, min_entry_wh, max_energy_wh))
        made.append(Posting(version, FIRST + offset, data))
        version += draw(st.integers(1, 3))
    return tuple(made)


@st.composite
def meters(draw: st.DrawFn, max_energy_wh: int) -> tuple[MeterInput, ...]:
    made = []
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.integers(0, 5)) == 0:
            made.append(MeterInput(draw(windows()), None))
            continue
        flows = st.integers(0, max_energy_wh)
        pairs = [(draw(flows), draw(flows)) for _ in range(GRID.period_intervals)]
        made.append(MeterInput(draw(windows()), encode_deltas(pairs)))
    return tuple(made)


@st.composite
def households(
    draw: st.DrawFn, min_entry_wh: int, max_households: int = 6, max_energy_wh: int = 3_000
) -> list[HouseholdInput]:
    numbers = draw(
        st.lists(st.integers(1, 2**160 - 1), unique=True, min_size=2, max_size=max_households)
    )
    return [
        HouseholdInput(
            address(n),
            draw(windows()),
            draw(postings(min_entry_wh, max_energy_wh)),
            draw(meters(max_energy_wh)),
        )
        for n in numbers
    ]


@st.composite
def periods(
    draw: st.DrawFn, max_energy_wh: int = 3_000, mechanism: Mechanism | None = None
) -> tuple[Rules, list[HouseholdInput]]:
    """(rules, households) of one period on GRID, PERIOD."""
    chosen = draw(rules(mechanism))
    return chosen, draw(households(chosen.min_entry_wh, max_energy_wh=max_energy_wh))
