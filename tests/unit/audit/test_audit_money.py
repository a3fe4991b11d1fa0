"""Money: escrow and tokens replayed; each defect planted in an otherwise honest history is
named (with what it really implies)."""

from __future__ import annotations

from audit_world import EXCHANGE, Scenario, edit, find, honest, resync

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.events import Transfer
from ledger.events_v2 import ExchangeDeposited, ExchangeWithdrawn

STRANGER = "0x" + "ab" * 20


def kinds(history: History) -> set[str]:
    return audit_history(history, settlement_rule).kinds()


def test_escrow_overdrawn_by_a_withdrawal_beyond_free() -> None:
    history = honest()
    logged = edit(history, ExchangeWithdrawn, amount_units=200_000)
    edit(history, Transfer, lambda t: t.sender == EXCHANGE, amount_units=200_000)
    report = audit_history(resync(history), settlement_rule)
    assert report.kinds() == {"escrow_overdrawn"}
    assert logged.event.household in report.problems[0].detail


def test_escrow_mismatch_when_escrow_of_differs_from_the_replay() -> None:
    history = honest()
    household, (free, locked) = next(iter(history.state.escrow.items()))
    history.state.escrow[household] = (free + 1, locked)
    assert kinds(history) == {"escrow_mismatch"}


def test_escrow_conservation_when_tokens_arrive_without_a_deposit() -> None:
    def stray(world: Scenario) -> None:
        world.builder.new_tx()
        world.builder.transfer(STRANGER, EXCHANGE, 5)

    assert kinds(honest(after_settlement=stray)) == {"escrow_conservation"}


def test_token_transfer_mismatch_when_a_deposit_brought_no_tokens() -> None:
    history = honest()
    deposit = find(history, ExchangeDeposited)
    tx = deposit[0][deposit[1]].tx_hash
    history.transfers = [t for t in history.transfers if t.tx_hash != tx]
    assert kinds(resync(history)) == {"token_transfer_mismatch", "escrow_conservation"}


def test_token_transfer_mismatch_when_tokens_leave_without_a_withdrawal() -> None:
    def theft(world: Scenario) -> None:
        world.builder.new_tx()
        world.builder.transfer(EXCHANGE, STRANGER, 5)

    assert kinds(honest(after_settlement=theft)) == {
        "token_transfer_mismatch",
        "escrow_conservation",
    }


def test_token_balance_mismatch_when_the_balance_is_not_the_transfers() -> None:
    history = honest()
    history.state.exchange_token_units += 5
    assert kinds(history) == {"token_balance_mismatch", "escrow_conservation"}


def test_from_block_drops_problems_found_before_it() -> None:
    history = honest()
    logged = edit(history, ExchangeWithdrawn, amount_units=200_000)
    edit(history, Transfer, lambda t: t.sender == EXCHANGE, amount_units=200_000)
    resync(history)
    history.from_block = logged.block_number + 1
    assert kinds(history) == set()
