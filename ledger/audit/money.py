"""Money checks over the whole history: escrow replayed from events, tokens conserved.

Only meaningful when the audited range starts at the deployment (every deposit and mint is
then in the events); the runner skips them otherwise.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from ledger.audit.model import Problem
from ledger.audit.source import ChainHistory

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class ChainState(Protocol):
    """Contract state at the end of the audited range."""

    def escrow_of(self, household: str) -> tuple[int, int]:
        """(free, locked) units of a household in the market."""
        ...

    def balance_of(self, holder: str) -> int:
        """Token balance of an account."""
        ...

    def total_supply(self) -> int:
        """Token total supply."""
        ...


def replay_escrow(history: ChainHistory) -> dict[str, tuple[int, int]]:
    """(free, locked) per household as the events say they must be."""
    free: Counter[str] = Counter()
    locked: Counter[str] = Counter()
    for deposit in history.deposits:
        free[deposit.household] += deposit.amount_units
    for withdrawal in history.withdrawals:
        free[withdrawal.household] -= withdrawal.amount_units
    for commit in history.commits.values():
        for lock in commit.locks:
            free[lock.household] -= lock.amount_units
            locked[lock.household] += lock.amount_units
    for settlement in history.settlements.values():
        committed = history.commits.get(settlement.interval_id)
        for lock in committed.locks if committed else ():
            locked[lock.household] -= lock.amount_units
        for release in settlement.releases:
            free[release.household] += release.amount_units
        for trade in settlement.trade_events:
            free[trade.seller] += trade.payment_units
    households = set(free) | set(locked)
    return {h: (free[h], locked[h]) for h in sorted(households)}


def check_money(history: ChainHistory, state: ChainState) -> tuple[list[Problem], dict[str, int]]:
    """Escrow and token balances against the replay; minted = wallets + escrow.

    Returns the problems and each household's escrow (free + locked) at the end.
    """
    problems: list[Problem] = []
    escrow_total = 0
    escrow_units: dict[str, int] = {}
    for household, (free, locked) in replay_escrow(history).items():
        actual_free, actual_locked = state.escrow_of(household)
        escrow_total += actual_free + actual_locked
        escrow_units[household] = actual_free + actual_locked
        if (actual_free, actual_locked) != (free, locked):
            problems.append(
                Problem(
                    None,
                    "escrow_mismatch",
                    f"{household} holds {actual_free} free / "
                    f"{actual_locked} locked units, the events give {free} / {locked}",
                )
            )
    balances: Counter[str] = Counter()
    minted = 0
    for transfer in history.transfers:
        if transfer.sender == ZERO_ADDRESS:
            minted += transfer.amount_units
        else:
            balances[transfer.sender] -= transfer.amount_units
        if transfer.receiver == ZERO_ADDRESS:
            minted -= transfer.amount_units
        else:
            balances[transfer.receiver] += transfer.amount_units
    wallets_total = 0
    for holder, expected in sorted(balances.items()):
        actual = state.balance_of(holder)
        if holder != history.market:
            wallets_total += actual
        if actual != expected:
            problems.append(
                Problem(
                    None,
                    "balance_mismatch",
                    f"{holder} holds {actual} token units, its transfers give {expected}",
                )
            )
    supply = state.total_supply()
    if supply != minted:
        problems.append(
            Problem(None, "token_conservation", f"total supply {supply} but {minted} units minted")
        )
    market_units = state.balance_of(history.market)
    if market_units != escrow_total:
        problems.append(
            Problem(
                None,
                "escrow_conservation",
                f"the market holds {market_units} units but "
                f"its escrow accounts sum to {escrow_total}",
            )
        )
    if minted != wallets_total + escrow_total:
        problems.append(
            Problem(
                None,
                "credit_conservation",
                f"{minted} units minted but wallets hold {wallets_total} and escrow {escrow_total}",
            )
        )
    return problems, escrow_units
