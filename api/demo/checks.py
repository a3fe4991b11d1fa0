"""What the demo expects of its day beyond what the audit verifies.

The audit checks every posting, batch, clearing, netting and escrow movement against the
rules, for any chain. Only the demo knows what its day should have looked like; each check
returns a sentence naming what is wrong (an empty list means the day went as planned):
- every period the window traded in was settled, with every household's meter batch;
- nobody deposited or withdrew during the day, so the token supply, the exchange's balance
  and the households' wallets are unchanged, escrow still adds up to the exchange's
  balance, and nothing stays locked once the periods are settled.
"""

from __future__ import annotations

from api.demo.chain_facts import ChainFacts


def _token_checks(facts: ChainFacts) -> list[str]:
    problems = []
    before, after = facts.tokens_before, facts.tokens_after
    if before.total_supply_units != after.total_supply_units:
        problems.append(
            f"token supply changed: {before.total_supply_units} -> {after.total_supply_units}"
        )
    if before.exchange_units != after.exchange_units:
        problems.append(
            f"exchange balance changed: {before.exchange_units} -> {after.exchange_units}"
        )
    if any(after.locked_units):
        problems.append(f"{sum(after.locked_units)} units still locked after settlement")
    if before.wallet_units != after.wallet_units:
        problems.append("household wallets changed although nobody deposited or withdrew")
    escrow = sum(after.free_units) + sum(after.locked_units) + after.relayer_free_units
    if escrow != after.exchange_units:
        problems.append(f"escrow {escrow} units != the exchange's {after.exchange_units} units")
    return problems


def settlement_problems(facts: ChainFacts, periods: tuple[int, ...]) -> list[str]:
    """Everything wrong with the day's money and energy (empty when all checks pass)."""
    problems = []
    posted = {event.period_id for event in facts.postings}
    settled = {event.period_id for event in facts.settled_periods}
    unsettled = sorted(posted - settled)
    if unsettled:
        problems.append(f"posted but not settled: periods {unsettled}")
    for period_id in sorted(posted & set(periods)):
        batches = sum(1 for b in facts.batches if b.period_id == period_id)
        posting = len({e.household for e in facts.postings if e.period_id == period_id})
        if batches < posting:
            problems.append(
                f"period {period_id}: {batches} meter batches for {posting} posting households"
            )
    return problems + _token_checks(facts)
