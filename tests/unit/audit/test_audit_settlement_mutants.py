"""Settlements (ledger.audit.settlement): each defect is named with the figures a reader needs,
at the settlement's period, interval and block. Written against the survivors of
scripts/mutation (issue 17); every expected text and number is derived here from the planted
defect and the honest history, not from the checker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from audit_world import GRID, PERIOD, RULES, Scenario, edit, honest, tx_of

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.audit.history import SettleCall
from ledger.audit.model import Kind, Problem
from ledger.events_v2 import HouseholdSettled, PeriodCleared, PeriodSettled
from ledger.exchange import MeterData, MeterSource


def problems(history: History) -> list[Problem]:
    return list(audit_history(history, settlement_rule).problems)


def settlement(history: History) -> tuple[bytes, SettleCall, int, int]:
    """The settlement's transaction, call, block and block time."""
    tx = tx_of(history, PeriodSettled)
    call = history.calls[tx]
    assert isinstance(call, SettleCall)
    (logged,) = [e for e in history.exchange_events if isinstance(e.event, PeriodSettled)]
    return tx, call, logged.block_number, logged.block_time


def honest_world(**knobs: Any) -> tuple[History, Scenario]:
    seen: list[Scenario] = []
    history = honest(before_settlement=seen.append, **knobs)
    return history, seen[0]


def with_household(call: SettleCall, address: str, **changes: Any) -> SettleCall:
    households = tuple(
        replace(h, **changes) if h.household == address else h for h in call.households
    )
    return replace(call, households=households)


def test_too_early_names_the_settlement_time_and_the_period_end() -> None:
    history = honest()
    tx, _, block, _ = settlement(history)
    early = GRID.period_end(PERIOD) - 1
    history.exchange_events = [
        replace(e, block_time=early) if e.tx_hash == tx else e for e in history.exchange_events
    ]
    detail = f"settled at {early}, it ends at {GRID.period_end(PERIOD)}"
    assert problems(history) == [Problem(Kind.SETTLEMENT_TOO_EARLY, detail, PERIOD, None, block)]


def test_households_out_of_order_and_left_out_are_named() -> None:
    history, world = honest_world()
    tx, call, block, _ = settlement(history)
    buyer = world.buyer.address
    history.calls[tx] = replace(call, households=tuple(reversed(call.households)))
    assert Problem(
        Kind.SETTLEMENT_HOUSEHOLDS_MISMATCH,
        "households are not in increasing order",
        PERIOD,
        None,
        block,
    ) in problems(history)
    history, world = honest_world()
    buyer = world.buyer.address
    tx, call, block, _ = settlement(history)
    history.calls[tx] = replace(
        call, households=tuple(h for h in call.households if h.household != buyer)
    )
    assert Problem(
        Kind.SETTLEMENT_HOUSEHOLDS_MISMATCH,
        f"supplied [] that did not post, left out ['{buyer}'] that did",
        PERIOD,
        None,
        block,
    ) in problems(history)


def test_a_left_out_version_is_named_with_both_counts() -> None:
    history, world = honest_world()
    tx, call, block, _ = settlement(history)
    buyer = world.buyer.address
    (first_only,) = [h.postings[:1] for h in call.households if h.household == buyer]
    history.calls[tx] = with_household(call, buyer, postings=first_only)
    detail = f"{buyer}: 1 postings supplied do not chain to the 2 posted"
    assert problems(history) == [
        Problem(Kind.SETTLEMENT_POSTINGS_MISMATCH, detail, PERIOD, None, block)
    ]


def test_a_left_out_meter_is_named_with_both_counts() -> None:
    history, world = honest_world()
    tx, call, block, _ = settlement(history)
    buyer = world.buyer.address
    history.calls[tx] = with_household(call, buyer, meters=())
    detail = f"{buyer}: 0 meter data for 1 meters"
    assert problems(history) == [
        Problem(Kind.SETTLEMENT_METERS_MISMATCH, detail, PERIOD, None, block)
    ]


def test_a_posted_batch_resupplied_or_claimed_is_named_by_meter() -> None:
    history, world = honest_world()
    tx, call, block, _ = settlement(history)
    buyer = world.buyer.address
    meter = f"meter 0x{world.buyer.meters[0].meter_id.hex()}"
    (posted,) = [h.meters[0] for h in call.households if h.household == buyer]
    inline = replace(posted, source=MeterSource.INLINE, signature=b"")
    history.calls[tx] = with_household(call, buyer, meters=(inline,))
    assert problems(history) == [
        Problem(
            Kind.SETTLEMENT_POSTED_BATCH_UNUSED,
            f"{meter}: its posted batch is not used",
            PERIOD,
            None,
            block,
        )
    ]
    # The idle household's meter was never posted: claiming a posted batch for it is named.
    history, world = honest_world()
    tx, call, block, _ = settlement(history)
    idle = world.idle.address
    (data,) = [h.meters[0] for h in call.households if h.household == idle]
    history.calls[tx] = with_household(
        call, idle, meters=(replace(data, source=MeterSource.POSTED),)
    )
    claimed = Problem(
        Kind.SETTLEMENT_POSTED_BATCH_UNUSED,
        f"meter 0x{world.idle.meters[0].meter_id.hex()}: claims a batch never posted",
        PERIOD,
        None,
        block,
    )
    assert claimed in problems(history)


def test_missing_meter_data_names_the_time_and_the_deadline() -> None:
    history, world = honest_world(omit_inline=("idle",))
    _, _, block, time = settlement(history)
    deadline = GRID.settlement_deadline(PERIOD, RULES)
    detail = (
        f"meter 0x{world.idle.meters[0].meter_id.hex()} has no data at {time}, "
        f"before the deadline {deadline}"
    )
    assert problems(history) == [
        Problem(Kind.SETTLEMENT_METER_DATA_MISSING, detail, PERIOD, None, block)
    ]


def test_meter_data_of_source_none_is_named_by_meter() -> None:
    history, world = honest_world(omit_inline=("seller",))
    # Past the deadline a missing meter measures 0 Wh, so only the non-empty data is named.
    history.exchange_events = [
        replace(e, block_time=GRID.settlement_deadline(PERIOD, RULES))
        if e.tx_hash == tx_of(history, PeriodSettled)
        else e
        for e in history.exchange_events
    ]
    tx, call, block, _ = settlement(history)
    seller = world.seller.address
    for start in (MeterData(MeterSource.NONE, 1), MeterData(MeterSource.NONE, 0, 0, b"", b"s")):
        history.calls[tx] = with_household(call, seller, meters=(start,))
        detail = (
            f"meter 0x{world.seller.meters[0].meter_id.hex()}: data of source none must be empty"
        )
        assert Problem(Kind.BATCH_BAD_DELTAS, detail, PERIOD, None, block) in problems(history)


def test_hints_mismatch_is_named_at_the_settlement() -> None:
    history = honest()
    tx, call, block, _ = settlement(history)
    history.calls[tx] = replace(call, hints=call.hints[:-2] + b"\xff\xff")
    assert problems(history) == [
        Problem(
            Kind.HINTS_MISMATCH, "the hints are not the rule's marginal claims", PERIOD, None, block
        )
    ]


def test_a_cleared_mismatch_names_the_interval_and_both_figures() -> None:
    history = honest()
    _, _, block, _ = settlement(history)
    (rule,) = [e.event for e in history.exchange_events if isinstance(e.event, PeriodCleared)]
    data = rule.intervals
    logged = edit(history, PeriodCleared, intervals=(150_001).to_bytes(8, "big") + data[8:])
    k = GRID.first_interval(PERIOD)
    theirs, mine = logged.event.cleared()[0], rule.cleared()[0]
    detail = (
        f"interval {k}: chain (price, traded, delivered) = "
        f"{(theirs.price_per_kwh, theirs.traded_wh, theirs.delivered_wh)}, "
        f"rule {(mine.price_per_kwh, mine.traded_wh, mine.delivered_wh)}"
    )
    assert problems(history) == [Problem(Kind.CLEARED_MISMATCH, detail, PERIOD, k, block)]
    # A PeriodCleared one interval short is named by its length.
    edit(
        history,
        PeriodCleared,
        intervals=data[: len(data) - len(data) // GRID.period_intervals],
    )
    short = problems(history)
    n = GRID.period_intervals
    length = f"PeriodCleared has {n - 1} intervals, the period {n}"
    assert short[0] == Problem(Kind.CLEARED_MISMATCH, length, PERIOD, None, block)


def test_a_misstated_household_row_is_named_with_both_rows() -> None:
    history = honest()
    _, _, block, _ = settlement(history)
    honest_row = next(
        e.event
        for e in history.exchange_events
        if isinstance(e.event, HouseholdSettled) and e.event.delivered_wh > 0
    )
    edit(history, HouseholdSettled, lambda e: e == honest_row, delivered_wh=1_051)

    def row(delivered: int) -> tuple[object, ...]:
        e = honest_row
        return (e.household.lower(), delivered, e.received_wh, e.change_units, e.released_units)

    detail = (
        "HouseholdSettled (household, delivered, received, change, released) = "
        f"{row(1_051)}, rule {row(honest_row.delivered_wh)}"
    )
    assert problems(history) == [
        Problem(Kind.HOUSEHOLD_SETTLED_MISMATCH, detail, PERIOD, None, block)
    ]


def test_a_misstated_period_total_is_named_with_both_totals() -> None:
    history = honest()
    _, _, block, _ = settlement(history)
    (total,) = [e.event for e in history.exchange_events if isinstance(e.event, PeriodSettled)]
    edit(history, PeriodSettled, delivered_wh=1_051)
    chain = (total.household_count, 1_051, total.rounding_units)
    rule = (total.household_count, total.delivered_wh, total.rounding_units)
    detail = f"PeriodSettled (households, delivered, rounding) = {chain}, rule {rule}"
    assert problems(history) == [Problem(Kind.PERIOD_SETTLED_MISMATCH, detail, PERIOD, None, block)]


def test_an_unsettled_period_names_its_deadline_and_the_last_block() -> None:
    history = honest(settle=False)
    deadline = GRID.settlement_deadline(PERIOD, RULES)
    detail = (
        f"period {PERIOD} has postings and is not settled; its deadline {deadline} passed "
        f"(last block at {history.last_block_time})"
    )
    assert problems(history) == [Problem(Kind.PERIOD_UNSETTLED, detail, PERIOD)]
