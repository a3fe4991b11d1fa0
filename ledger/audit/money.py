"""Money replayed (IQuartierExchange, "Settlement" and escrow): free and locked escrow per
household from Deposited, Withdrawn, SchedulePosted locks, HouseholdSettled and the settler's
rounding, and the exchange's token balance from the token's Transfer events.

At the last block: each replayed escrow == escrowOf, Σ free + Σ locked == the tokens the
exchange holds == its balance replayed from transfers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ledger.audit.history import Call, History, Logged, Unreadable
from ledger.audit.model import Kind, Problem
from ledger.events import Transfer
from ledger.events_v2 import (
    ExchangeDeposited,
    ExchangeWithdrawn,
    HouseholdSettled,
    PeriodSettled,
    SchedulePosted,
)


@dataclass
class Escrow:
    """The escrow replay, applied event by event in chain order."""

    free: Counter[str] = field(default_factory=Counter)
    locked: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    def apply(self, logged: Logged[Any], call: Call | None) -> None:
        event = logged.event
        if isinstance(event, ExchangeDeposited):
            self.free[event.household] += event.amount_units
        elif isinstance(event, ExchangeWithdrawn):
            self.free[event.household] -= event.amount_units
            self._overdrawn(logged, event.household, "a withdrawal")
        elif isinstance(event, SchedulePosted):
            self.free[event.household] -= event.locked_units
            self.locked[event.household] += event.locked_units
            self._overdrawn(logged, event.household, "a posting's lock", event.period_id)
        elif isinstance(event, HouseholdSettled):
            self.locked[event.household] -= event.released_units
            self.free[event.household] += event.released_units + event.change_units
            self._overdrawn(logged, event.household, "a settlement", event.period_id)
        elif isinstance(event, PeriodSettled) and event.rounding_units:
            if call is None:
                self.problems.append(
                    Problem(
                        Kind.CALLDATA_UNAVAILABLE,
                        f"the settler of 0x{logged.tx_hash.hex()} is unknown: its rounding "
                        "cannot be credited",
                        event.period_id,
                        block_number=logged.block_number,
                    )
                )
            else:
                # The settler is msg.sender: the sender of a direct call, else (most likely)
                # the contract the transaction called.
                settler = call.to if isinstance(call, Unreadable) and call.to else call.sender
                self.free[settler] += event.rounding_units

    def _overdrawn(
        self, logged: Logged[Any], household: str, what: str, period_id: int | None = None
    ) -> None:
        if self.free[household] < 0 or self.locked[household] < 0:
            self.problems.append(
                Problem(
                    Kind.ESCROW_OVERDRAWN,
                    f"{what} leaves {household} with {self.free[household]} free / "
                    f"{self.locked[household]} locked units",
                    period_id,
                    block_number=logged.block_number,
                )
            )

    def escrow(self) -> dict[str, tuple[int, int]]:
        households = set(self.free) | set(self.locked)
        return {h: (self.free[h], self.locked[h]) for h in sorted(households)}


def _transfer_problems(history: History) -> tuple[list[Problem], int]:
    """Deposits and withdrawals against the token's transfers of the same transaction, and
    the exchange's token balance replayed from them."""
    exchange = history.exchange
    units = 0
    moved: dict[bytes, tuple[Counter[tuple[str, int]], Counter[tuple[str, int]], int]] = {}
    for logged in history.transfers:
        transfer: Transfer = logged.event
        ins, outs, _ = moved.setdefault(logged.tx_hash, (Counter(), Counter(), logged.block_number))
        if transfer.receiver == exchange:
            units += transfer.amount_units
            ins[(transfer.sender, transfer.amount_units)] += 1
        if transfer.sender == exchange:
            units -= transfer.amount_units
            outs[(transfer.receiver, transfer.amount_units)] += 1
    problems: list[Problem] = []
    escrow_moves: dict[bytes, tuple[Counter[tuple[str, int]], Counter[tuple[str, int]], int]] = {}
    for logged in history.exchange_events:
        event = logged.event
        if isinstance(event, ExchangeDeposited | ExchangeWithdrawn):
            ins, outs, _ = escrow_moves.setdefault(
                logged.tx_hash, (Counter(), Counter(), logged.block_number)
            )
            target = ins if isinstance(event, ExchangeDeposited) else outs
            target[(event.household, event.amount_units)] += 1
    for tx_hash in sorted(
        set(moved) | set(escrow_moves), key=lambda h: _block(h, moved, escrow_moves)
    ):
        token_in, token_out, block = moved.get(tx_hash, (Counter(), Counter(), 0))
        deposits, withdrawals, escrow_block = escrow_moves.get(tx_hash, (Counter(), Counter(), 0))
        block = block or escrow_block
        unpaid = deposits - token_in
        if unpaid:
            problems.append(
                Problem(
                    Kind.TOKEN_TRANSFER_MISMATCH,
                    f"deposits {sorted(unpaid.elements())} without the token transfer",
                    block_number=block,
                )
            )
        if token_out != withdrawals:
            problems.append(
                Problem(
                    Kind.TOKEN_TRANSFER_MISMATCH,
                    f"tokens out {sorted(token_out.elements())} but withdrawals "
                    f"{sorted(withdrawals.elements())}",
                    block_number=block,
                )
            )
    return problems, units


def _block(tx_hash: bytes, *maps: dict[bytes, tuple[Any, Any, int]]) -> int:
    return min(m[tx_hash][2] for m in maps if tx_hash in m)


def check_end(history: History, escrow: Escrow) -> list[Problem]:
    """The replayed money against the views at the last block."""
    problems, replayed_units = _transfer_problems(history)
    state = history.state
    replayed = escrow.escrow()
    for household in sorted(set(replayed) | set(state.escrow)):
        mine = replayed.get(household, (0, 0))
        theirs = state.escrow.get(household)
        if theirs is not None and mine != theirs:
            problems.append(
                Problem(
                    Kind.ESCROW_MISMATCH,
                    f"{household} holds {theirs[0]} free / {theirs[1]} locked units, "
                    f"the events give {mine[0]} / {mine[1]}",
                )
            )
    total = sum(free + locked for free, locked in replayed.values())
    if total != state.exchange_token_units:
        problems.append(
            Problem(
                Kind.ESCROW_CONSERVATION,
                f"the exchange holds {state.exchange_token_units} token units, its escrow "
                f"accounts sum to {total}",
            )
        )
    if replayed_units != state.exchange_token_units:
        problems.append(
            Problem(
                Kind.TOKEN_BALANCE_MISMATCH,
                f"the exchange's token balance is {state.exchange_token_units}, its transfers "
                f"give {replayed_units}",
            )
        )
    return problems
