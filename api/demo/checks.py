"""Settlement checks from the chain's records alone: what an auditor verifies about money.

Each check returns a sentence naming what is wrong; an empty list means the day is sound:
- every committed interval was settled, and every meter's reading of every interval is
  on-chain;
- each settled trade is a committed trade, delivers at most what was traded and pays exactly
  floor(delivered_wh * price_per_kwh / 1000);
- per interval, no seller delivered more than its meter exported and no buyer received more
  than its meter imported (registers from the accepted readings);
- credits are conserved: token supply and the market's balance are unchanged by the day, the
  market holds exactly the households' escrow, nothing stays locked, and each household's
  escrow moved by exactly what it received minus what it paid.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from api.demo.chain_facts import ChainFacts
from api.demo.neighbourhood import Household
from ledger.orders import payment_units


def _metered(
    facts: ChainFacts, households: tuple[Household, ...]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(household, interval) -> (imported, exported) Wh from consecutive accepted readings."""
    owner = {h.meter.meter_id: h.account.address for h in households}
    by_meter: dict[bytes, list[tuple[int, int, int]]] = defaultdict(list)
    for reading in facts.readings:
        by_meter[reading.meter_id].append(
            (reading.interval_id, reading.import_wh_total, reading.export_wh_total)
        )
    flows: dict[tuple[str, int], tuple[int, int]] = {}
    for meter_id, rows in by_meter.items():
        rows.sort()
        for (k0, imp0, exp0), (k1, imp1, exp1) in itertools.pairwise(rows):
            if k1 == k0 + 1:
                flows[(owner[meter_id], k1)] = (imp1 - imp0, exp1 - exp0)
    return flows


def _trade_checks(facts: ChainFacts, households: tuple[Household, ...]) -> list[str]:
    problems = []
    committed = {(t.interval_id, t.seller, t.buyer): t for t in facts.committed}
    delivered_by: dict[tuple[str, int, str], int] = defaultdict(int)
    for trade in facts.settled:
        key = (trade.interval_id, trade.seller, trade.buyer)
        source = committed.get(key)
        if source is None:
            problems.append(f"settled trade {key} was never committed")
            continue
        if trade.delivered_wh > source.energy_wh:
            problems.append(f"trade {key} delivered {trade.delivered_wh} > {source.energy_wh} Wh")
        expected = payment_units(trade.delivered_wh, source.price_per_kwh)
        if trade.payment_units != expected:
            problems.append(f"trade {key} paid {trade.payment_units}, not {expected} units")
        delivered_by[("sell", trade.interval_id, trade.seller)] += trade.delivered_wh
        delivered_by[("buy", trade.interval_id, trade.buyer)] += trade.delivered_wh
    flows = _metered(facts, households)
    for (side, interval_id, household), delivered in delivered_by.items():
        imported, exported = flows.get((household, interval_id), (0, 0))
        limit = exported if side == "sell" else imported
        if delivered > limit:
            problems.append(
                f"{household} {'delivered' if side == 'sell' else 'received'} {delivered} Wh in"
                f" interval {interval_id} but its meter measured {limit} Wh"
            )
    return problems


def _token_checks(facts: ChainFacts, households: tuple[Household, ...]) -> list[str]:
    problems = []
    before, after = facts.tokens_before, facts.tokens_after
    if before.total_supply_units != after.total_supply_units:
        problems.append(
            f"token supply changed: {before.total_supply_units} -> {after.total_supply_units}"
        )
    if before.market_units != after.market_units:
        problems.append(f"market balance changed: {before.market_units} -> {after.market_units}")
    escrow_after = sum(after.free_units) + sum(after.locked_units)
    if after.market_units != escrow_after:
        problems.append(f"market holds {after.market_units} but escrow sums to {escrow_after}")
    if any(after.locked_units):
        problems.append(f"{sum(after.locked_units)} units still locked after settlement")
    if before.wallet_units != after.wallet_units:
        problems.append("household wallets changed although nobody deposited or withdrew")
    net: dict[str, int] = defaultdict(int)
    for trade in facts.settled:
        net[trade.seller] += trade.payment_units
        net[trade.buyer] -= trade.payment_units
    for index, household in enumerate(households):
        moved = (after.free_units[index] + after.locked_units[index]) - (
            before.free_units[index] + before.locked_units[index]
        )
        if moved != net[household.account.address]:
            problems.append(
                f"{household.name}'s escrow moved by {moved}, settlements say"
                f" {net[household.account.address]}"
            )
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
    if sum(t.delivered_wh for t in facts.settled) > sum(t.energy_wh for t in facts.committed):
        problems.append("more energy settled than traded")
    return problems + _trade_checks(facts, households) + _token_checks(facts, households)
