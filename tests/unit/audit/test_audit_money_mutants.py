"""Money replay (ledger.audit.money) event by event: exact balances, the problem each defect
names (kind, period, block and the figures a reader needs), and the settler credited with the
rounding. Written against the survivors of scripts/mutation (issue 17): each test pins a
behaviour an auditor relies on, not an implementation detail.
"""

from __future__ import annotations

from typing import Any

from ledger.audit.history import EndState, History, Logged, SettleCall, Unreadable
from ledger.audit.model import Kind
from ledger.audit.money import Escrow, check_end
from ledger.events import Transfer
from ledger.events_v2 import (
    ExchangeDeposited,
    ExchangeWithdrawn,
    HouseholdSettled,
    PeriodSettled,
    SchedulePosted,
)
from ledger.rules import TimeGrid

EXCHANGE = "0x" + "ee" * 20
TOKEN = "0x" + "70" * 20
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
SETTLER = "0x" + "5e" * 20
WRAPPER = "0x" + "c0" * 20


def logged(event: Any, block: int, tx: int = 0, index: int = 0) -> Logged[Any]:
    return Logged(event, block, 1_000 + block, bytes([tx or block]) * 32, index)


def posted(household: str, period_id: int, locked: int) -> SchedulePosted:
    return SchedulePosted(period_id, household, 1, 0, b"\x00" * 32, locked)


def settled(household: str, period_id: int, released: int, change: int) -> HouseholdSettled:
    return HouseholdSettled(period_id, household, 0, 0, change, released)


def history(transfers: list[Logged[Any]], events: list[Logged[Any]], state: EndState) -> History:
    return History(
        chain_id=31337,
        exchange=EXCHANGE,
        token=TOKEN,
        grid=TimeGrid(),
        rule_change_delay_periods=1,
        from_block=0,
        to_block=99,
        last_block_time=0,
        exchange_events=events,
        transfers=transfers,
        state=state,
    )


def test_each_event_moves_free_and_locked_by_its_exact_amounts() -> None:
    escrow = Escrow()
    escrow.apply(logged(ExchangeDeposited(ALICE, 1_000), 1), None)
    escrow.apply(logged(ExchangeDeposited(ALICE, 500), 2), None)
    escrow.apply(logged(ExchangeWithdrawn(ALICE, 200), 3), None)
    escrow.apply(logged(posted(ALICE, 7, 600), 4), None)
    escrow.apply(logged(settled(ALICE, 7, 600, 150), 5), None)
    # 1000 + 500 - 200 = 1300 free; 600 locked, then released with 150 earned on top.
    assert escrow.escrow() == {ALICE: (1_300 - 600 + 600 + 150, 0)}
    assert escrow.problems == []


def test_a_household_with_only_locked_units_is_still_listed() -> None:
    escrow = Escrow()
    escrow.locked[BOB] = 40
    escrow.free[ALICE] = 3
    assert escrow.escrow() == {ALICE: (3, 0), BOB: (0, 40)}


def test_overdrawn_names_the_event_the_household_the_figures_period_and_block() -> None:
    escrow = Escrow()
    escrow.apply(logged(ExchangeWithdrawn(ALICE, 5), 11), None)
    escrow.apply(logged(posted(BOB, 8, 30), 12), None)
    escrow.apply(logged(settled(ALICE, 9, 10, 0), 13), None)
    withdrawal, lock, settlement = escrow.problems
    assert {p.kind for p in escrow.problems} == {Kind.ESCROW_OVERDRAWN}
    assert withdrawal.detail == f"a withdrawal leaves {ALICE} with -5 free / 0 locked units"
    assert (withdrawal.period_id, withdrawal.block_number) == (None, 11)
    assert lock.detail == f"a posting's lock leaves {BOB} with -30 free / 30 locked units"
    assert (lock.period_id, lock.block_number) == (8, 12)
    assert settlement.detail == f"a settlement leaves {ALICE} with 5 free / -10 locked units"
    assert (settlement.period_id, settlement.block_number) == (9, 13)


def test_rounding_goes_to_the_direct_sender_of_the_settlement() -> None:
    escrow = Escrow()
    call = SettleCall(SETTLER, 3, (), b"")
    escrow.apply(logged(PeriodSettled(3, 2, 0, 7), 20), call)
    escrow.apply(logged(PeriodSettled(4, 2, 0, 5), 21), call)
    assert escrow.escrow() == {SETTLER: (12, 0)}


def test_rounding_through_a_contract_goes_to_the_contract_called() -> None:
    escrow = Escrow()
    escrow.apply(logged(PeriodSettled(3, 2, 0, 7), 20), Unreadable(SETTLER, WRAPPER))
    assert escrow.escrow() == {WRAPPER: (7, 0)}
    # A contract creation has no `to`: the sender is all there is.
    escrow.apply(logged(PeriodSettled(4, 2, 0, 2), 21), Unreadable(SETTLER, None))
    assert escrow.escrow() == {SETTLER: (2, 0), WRAPPER: (7, 0)}


def test_rounding_with_no_calldata_is_named_with_its_transaction_period_and_block() -> None:
    escrow = Escrow()
    escrow.apply(logged(PeriodSettled(6, 1, 0, 9), 30, tx=0xAB), None)
    escrow.apply(logged(PeriodSettled(7, 1, 0, 0), 31), None)  # no rounding: nothing to credit
    (problem,) = escrow.problems
    assert problem.kind is Kind.CALLDATA_UNAVAILABLE
    assert problem.detail == (
        f"the settler of 0x{'ab' * 32} is unknown: its rounding cannot be credited"
    )
    assert (problem.period_id, problem.block_number) == (6, 30)
    assert escrow.escrow() == {}


def test_end_state_that_agrees_has_no_problem() -> None:
    escrow = Escrow()
    escrow.apply(logged(ExchangeDeposited(ALICE, 100), 1), None)
    events = [logged(ExchangeDeposited(ALICE, 100), 1)]
    transfers = [logged(Transfer(ALICE, EXCHANGE, 100), 1)]
    state = EndState(escrow={ALICE: (100, 0)}, exchange_token_units=100)
    assert check_end(history(transfers, events, state), escrow) == []


def test_end_state_mismatches_name_both_figures() -> None:
    escrow = Escrow()
    escrow.free[ALICE] = 100
    escrow.locked[ALICE] = 20
    transfers = [logged(Transfer(BOB, EXCHANGE, 90), 1, tx=1)]
    events: list[Logged[Any]] = []
    state = EndState(escrow={ALICE: (70, 30)}, exchange_token_units=95)
    problems = check_end(history(transfers, events, state), escrow)
    by_kind = {p.kind: p for p in problems}
    assert set(by_kind) == {
        Kind.ESCROW_MISMATCH,
        Kind.ESCROW_CONSERVATION,
        Kind.TOKEN_BALANCE_MISMATCH,
    }
    assert by_kind[Kind.ESCROW_MISMATCH].detail == (
        f"{ALICE} holds 70 free / 30 locked units, the events give 100 / 20"
    )
    assert by_kind[Kind.ESCROW_CONSERVATION].detail == (
        "the exchange holds 95 token units, its escrow accounts sum to 120"
    )
    assert by_kind[Kind.TOKEN_BALANCE_MISMATCH].detail == (
        "the exchange's token balance is 95, its transfers give 90"
    )
    assert all(p.block_number is None and p.period_id is None for p in problems)


def test_transfer_mismatches_are_reported_in_block_order_with_their_block() -> None:
    # tx 1 (block 5): a deposit of 10 with no token transfer; tx 2 (block 3): 4 tokens out
    # with a withdrawal of 6; tx 3 (block 4): a withdrawal whose transfer matches.
    events = [
        logged(ExchangeWithdrawn(BOB, 6), 3, tx=2),
        logged(ExchangeWithdrawn(ALICE, 1), 4, tx=3),
        logged(ExchangeDeposited(ALICE, 10), 5, tx=1),
    ]
    transfers = [
        logged(Transfer(EXCHANGE, BOB, 4), 3, tx=2),
        logged(Transfer(EXCHANGE, ALICE, 1), 4, tx=3),
    ]
    state = EndState(escrow={}, exchange_token_units=-5)
    escrow = Escrow()
    problems = [
        p
        for p in check_end(history(transfers, events, state), escrow)
        if p.kind is Kind.TOKEN_TRANSFER_MISMATCH
    ]
    assert [(p.block_number, p.detail) for p in problems] == [
        (3, f"tokens out [('{BOB}', 4)] but withdrawals [('{BOB}', 6)]"),
        (5, f"deposits [('{ALICE}', 10)] without the token transfer"),
    ]


def test_a_deposit_paid_twice_in_one_transaction_needs_two_transfers() -> None:
    events = [
        logged(ExchangeDeposited(ALICE, 10), 2, tx=1, index=0),
        logged(ExchangeDeposited(ALICE, 10), 2, tx=1, index=1),
    ]
    transfers = [logged(Transfer(ALICE, EXCHANGE, 10), 2, tx=1)]
    state = EndState(escrow={}, exchange_token_units=10)
    problems = check_end(history(transfers, events, state), Escrow())
    assert [
        (p.block_number, p.detail) for p in problems if p.kind is Kind.TOKEN_TRANSFER_MISMATCH
    ] == [(2, f"deposits [('{ALICE}', 10)] without the token transfer")]


def test_two_identical_withdrawal_transfers_need_two_withdrawals() -> None:
    events = [logged(ExchangeWithdrawn(ALICE, 3), 2, tx=1)]
    transfers = [
        logged(Transfer(EXCHANGE, ALICE, 3), 2, tx=1, index=0),
        logged(Transfer(EXCHANGE, ALICE, 3), 2, tx=1, index=1),
    ]
    state = EndState(escrow={}, exchange_token_units=-6)
    problems = check_end(history(transfers, events, state), Escrow())
    assert [p.detail for p in problems if p.kind is Kind.TOKEN_TRANSFER_MISMATCH] == [
        f"tokens out [('{ALICE}', 3), ('{ALICE}', 3)] but withdrawals [('{ALICE}', 3)]"
    ]


def test_two_identical_deposits_each_paid_are_not_a_mismatch() -> None:
    events = [
        logged(ExchangeDeposited(ALICE, 10), 2, tx=1, index=0),
        logged(ExchangeDeposited(ALICE, 10), 2, tx=1, index=2),
    ]
    transfers = [
        logged(Transfer(ALICE, EXCHANGE, 10), 2, tx=1, index=1),
        logged(Transfer(ALICE, EXCHANGE, 10), 2, tx=1, index=3),
    ]
    escrow = Escrow()
    for event in events:
        escrow.apply(event, None)
    state = EndState(escrow={ALICE: (20, 0)}, exchange_token_units=20)
    assert check_end(history(transfers, events, state), escrow) == []


def test_escrow_the_chain_shows_but_no_event_explains_is_a_mismatch() -> None:
    state = EndState(escrow={BOB: (5, 0)}, exchange_token_units=0)
    problems = check_end(history([], [], state), Escrow())
    assert [(p.kind, p.detail) for p in problems] == [
        (Kind.ESCROW_MISMATCH, f"{BOB} holds 5 free / 0 locked units, the events give 0 / 0")
    ]
