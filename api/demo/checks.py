"""What the demo expects of its day beyond what `ledger.audit` verifies.

The audit checks every trade, delivery, payment and escrow movement against the rules, for
any chain. Only the demo knows what its day should have looked like; each check returns a
sentence naming what is wrong (an empty list means the day went as planned):
- every committed interval was settled, and every meter's reading of every interval is
  on-chain (an audit cannot know which readings should exist);
- nobody deposited or withdrew during the day, so the token supply, the market's balance and
  the households' wallets are unchanged, and nothing stays locked after the last settlement.
"""

from __future__ import annotations

from api.demo.chain_facts import ChainFacts
from api.demo.neighbourhood import Household


def _token_checks(facts: ChainFacts) -> list[str]:
    problems = []
    before, after = facts.tokens_before, facts.tokens_after
    if before.total_supply_units != after.total_supply_units:
        problems.append(
            f"token supply changed: {before.total_supply_units} -> {after.total_supply_units}"
        )
    if before.market_units != after.market_units:
        problems.append(f"market balance changed: {before.market_units} -> {after.market_units}")
    if any(after.locked_units):
        problems.append(f"{sum(after.locked_units)} units still locked after settlement")
    if before.wallet_units != after.wallet_units:
        problems.append("household wallets changed although nobody deposited or withdrew")
    return problems


def settlement_problems(
    facts: ChainFacts, households: tuple[Household, ...], interval_ids: range
) -> list[str]:
    """Everything wrong with the day's money and energy (empty when all checks pass)."""
    problems = []
    unsettled = sorted(set(facts.committed_intervals) - set(facts.settled_intervals))
    if unsettled:
        problems.append(f"committed but not settled: intervals {unsettled}")
    on_chain = {(r.meter_id, r.interval_id) for r in facts.readings}
    wanted = range(interval_ids.start - 1, interval_ids.stop)
    missing = [
        (h.name, k) for h in households for k in wanted if (h.meter.meter_id, k) not in on_chain
    ]
    if missing:
        problems.append(f"{len(missing)} readings missing on-chain, first {missing[0]}")
    return problems + _token_checks(facts)
