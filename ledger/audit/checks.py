"""Per-interval checks: signatures, commitment, re-clearing, readings, settlement.

Each check returns the problems it found; nothing here talks to the chain.

Known limit of the re-clearing: the chain holds only the committed orders (the matcher
commits the orders that traded), so the rule is re-run on those. Orders that cleared to no
trade only change the result when self-trade avoidance left an eligible order unpaired (a
household on both sides of the book); such a commit is reported as a clearing_mismatch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_keys.exceptions import BadSignature

from ledger.audit.model import ClearingRule, Problem
from ledger.audit.rules import (
    Settled,
    book_of,
    commitment_of,
    locks,
    reclear,
    same_trades,
    settle,
)
from ledger.audit.source import CommitRecord, ReadingRecord, SettleRecord
from ledger.meter_chain import ChainValues
from ledger.orders import Order, Side, SignedOrder, recover_signer
from metering.reading import verify_signed_reading

#: secp256k1 n / 2: the market refuses the malleable high-s twin of a signature.
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@dataclass
class Readings:
    """Accepted readings per (meter id, interval id), rebuilt from verified calldata."""

    values: dict[tuple[bytes, int], ChainValues] = field(default_factory=dict)


def order_signature_ok(signed: SignedOrder, chain_id: int, market: str) -> bool:
    """The EIP-712 signature recovers to the household, with the market's malleability rules."""
    if signed.s > _SECP256K1_HALF_N or signed.v not in (27, 28):
        return False
    try:
        return recover_signer(signed, chain_id, market) == signed.order.household
    except (BadSignature, ValueError):
        return False


def check_commit(
    commit: CommitRecord, rule: ClearingRule, chain_id: int, market: str
) -> tuple[list[Problem], int]:
    """Problems of one commit, and how many order signatures were checked."""
    k = commit.interval_id
    problems: list[Problem] = []
    orders = [signed.order for signed in commit.orders]
    for index, signed in enumerate(commit.orders):
        if not order_signature_ok(signed, chain_id, market):
            problems.append(
                Problem(
                    k,
                    "order_signature",
                    f"order {index} of {signed.order.household} "
                    "does not carry the household's EIP-712 signature",
                )
            )
    computed = commitment_of(k, orders, commit.trades)
    if computed != commit.committed.commitment:
        problems.append(
            Problem(
                k,
                "commitment_mismatch",
                f"event commitment 0x{commit.committed.commitment.hex()}"
                f" but the calldata hashes to 0x{computed.hex()}",
            )
        )
    expected_events = [
        (
            orders[t.sell_order_index].household,
            orders[t.buy_order_index].household,
            t.energy_wh,
            t.price_per_kwh,
        )
        for t in commit.trades
    ]
    emitted = [(e.seller, e.buyer, e.energy_wh, e.price_per_kwh) for e in commit.trade_events]
    if expected_events != emitted:
        problems.append(
            Problem(
                k, "commit_event_mismatch", "TradeCommitted events differ from the calldata trades"
            )
        )
    expected_locks = [
        (orders[i].household, units) for i, units in locks(orders, commit.trades).items()
    ]
    emitted_locks = [(lock.household, lock.amount_units) for lock in commit.locks]
    if sorted(expected_locks) != sorted(emitted_locks):
        problems.append(
            Problem(
                k, "lock_mismatch", f"escrow locked {emitted_locks}, rule gives {expected_locks}"
            )
        )
    problems.extend(_check_fills(k, commit))
    problems.extend(_check_clearing(k, commit, rule, chain_id, market))
    return problems, len(commit.orders)


def _check_fills(k: int, commit: CommitRecord) -> list[Problem]:
    filled: Counter[int] = Counter()
    for trade in commit.trades:
        filled[trade.sell_order_index] += trade.energy_wh
        filled[trade.buy_order_index] += trade.energy_wh
    problems = []
    for index, energy_wh in sorted(filled.items()):
        order = commit.orders[index].order
        if energy_wh > order.energy_wh:
            problems.append(
                Problem(
                    k,
                    "energy_conservation",
                    f"order {index} trades {energy_wh} Wh of its {order.energy_wh} Wh",
                )
            )
    return problems


def _check_clearing(
    k: int, commit: CommitRecord, rule: ClearingRule, chain_id: int, market: str
) -> list[Problem]:
    orders = [signed.order for signed in commit.orders]
    expected, raw = reclear(rule, book_of(orders, chain_id, market))
    if expected is not None and same_trades(expected, commit.trades):
        return []
    show = sorted(t.as_abi() for t in commit.trades)
    if expected is None:
        return [
            Problem(
                k,
                "clearing_mismatch",
                f"the engine's trades {raw} name orders outside the committed book",
            )
        ]
    return [
        Problem(
            k,
            "clearing_mismatch",
            "committed trades (sell, buy, Wh, price) "
            f"{show} are not the engine's {sorted(t.as_abi() for t in expected)}",
        )
    ]


def check_readings(
    records: Sequence[ReadingRecord], chain_id: int, market: str
) -> tuple[list[Problem], Readings, int]:
    """Verify every relayed reading (P-256) and its event; index the accepted values."""
    problems: list[Problem] = []
    readings = Readings()
    for record in records:
        reading = record.signed.reading
        meter = "0x" + reading.meter_id.hex()
        if not verify_signed_reading(record.signed, chain_id, market):
            problems.append(
                Problem(
                    reading.interval_id,
                    "reading_signature",
                    f"reading seq {reading.seq} of meter {meter} has no valid P-256 signature",
                )
            )
        values = ChainValues.of(reading)
        event = record.accepted
        if (
            event.meter_id,
            ChainValues(event.interval_id, event.import_wh_total, event.export_wh_total, event.seq),
        ) != (reading.meter_id, values):
            problems.append(
                Problem(
                    reading.interval_id,
                    "reading_event_mismatch",
                    f"ReadingAccepted of meter {meter} differs from the signed calldata",
                )
            )
        readings.values.setdefault((reading.meter_id, reading.interval_id), values)
    return problems, readings, len(records)


def _households(orders: Sequence[Order]) -> list[str]:
    """Distinct households in order of appearance (the contract's grouping of proofs)."""
    households: list[str] = []
    for order in orders:
        household = order.household
        if not households or households[-1] != household:
            households.append(household)
    return households


def check_settlement(
    settlement: SettleRecord,
    commit: CommitRecord | None,
    readings: Readings,
    meter_households: dict[bytes, str],
) -> tuple[list[Problem], list[int]]:
    """Problems of one settlement and the recomputed delivered Wh per trade."""
    k = settlement.interval_id
    problems: list[Problem] = []
    if commit is None:
        problems.append(Problem(k, "commit_not_in_range", "settled, but no commit of it was read"))
    else:
        given = commitment_of(k, settlement.orders, settlement.trades)
        if given != commit.committed.commitment:
            problems.append(
                Problem(
                    k, "commitment_mismatch", "settled orders and trades are not the committed ones"
                )
            )
    households = _households(settlement.orders)
    exported: Counter[str] = Counter()
    imported: Counter[str] = Counter()
    for h, household in enumerate(households):
        proofs = settlement.proofs[h] if h < len(settlement.proofs) else ()
        if not proofs:
            problems.append(
                Problem(k, "missing_boundary_reading", f"{household} settled without any meter")
            )
        for proof in proofs:
            meter = "0x" + proof.meter_id.hex()
            owner = meter_households.get(proof.meter_id)
            if owner is not None and owner != household:
                problems.append(
                    Problem(
                        k, "meter_mismatch", f"meter {meter} belongs to {owner}, not {household}"
                    )
                )
            before = readings.values.get((proof.meter_id, k - 1))
            after = readings.values.get((proof.meter_id, k))
            if before is None or after is None:
                missing = k - 1 if before is None else k
                problems.append(
                    Problem(
                        k,
                        "missing_boundary_reading",
                        f"meter {meter} of {household} has no signed reading for interval "
                        f"{missing}",
                    )
                )
                continue
            if tuple(proof.readings[:2]) != (before, after):
                problems.append(
                    Problem(
                        k,
                        "proof_mismatch",
                        f"the settlement proof of meter {meter} differs from its signed readings",
                    )
                )
            exported[household] += after.export_wh_total - before.export_wh_total
            imported[household] += after.import_wh_total - before.import_wh_total
    expected = settle(settlement.orders, settlement.trades, exported, imported)
    problems.extend(_compare_settled(settlement, expected))
    problems.extend(
        _conservation(settlement, [e.delivered_wh for e in expected], exported, imported)
    )
    return problems, [e.delivered_wh for e in expected]


def _compare_settled(settlement: SettleRecord, expected: Sequence[Settled]) -> list[Problem]:
    k = settlement.interval_id
    problems = []
    events = settlement.trade_events
    if len(events) != len(expected):
        return [
            Problem(
                k,
                "settlement_event_mismatch",
                f"{len(events)} TradeSettled events for {len(expected)} trades",
            )
        ]
    paid_per_order: Counter[int] = Counter()
    for j, (event, mine) in enumerate(zip(events, expected, strict=True)):
        trade = settlement.trades[j]
        delivered_wh, payment = mine.delivered_wh, mine.payment_units
        paid_per_order[trade.buy_order_index] += payment
        if event.delivered_wh != delivered_wh:
            problems.append(
                Problem(
                    k,
                    "delivery_mismatch",
                    f"trade {j}: settled {event.delivered_wh} Wh, "
                    f"the readings give {delivered_wh} Wh",
                )
            )
        if event.payment_units != payment:
            problems.append(
                Problem(
                    k,
                    "payment_mismatch",
                    f"trade {j}: paid {event.payment_units} units, "
                    f"floor({delivered_wh} Wh x {trade.price_per_kwh} / 1000) = {payment}",
                )
            )
    total_wh = sum(e.delivered_wh for e in expected)
    total_units = sum(paid_per_order.values())
    settled = settlement.settled
    if (settled.delivered_wh, settled.paid_units) != (total_wh, total_units):
        problems.append(
            Problem(
                k,
                "settlement_total_mismatch",
                f"IntervalSettled says {settled.delivered_wh} Wh / "
                f"{settled.paid_units} units, recomputed {total_wh} Wh / {total_units} units",
            )
        )
    lock_of = locks(settlement.orders, settlement.trades)
    releases = [
        (settlement.orders[i].household, lock - paid_per_order[i]) for i, lock in lock_of.items()
    ]
    emitted = [(r.household, r.amount_units) for r in settlement.releases]
    if sorted(releases) != sorted(emitted):
        problems.append(
            Problem(k, "release_mismatch", f"escrow released {emitted}, expected {releases}")
        )
    return problems


def _conservation(
    settlement: SettleRecord,
    delivered: Sequence[int],
    exported: Counter[str],
    imported: Counter[str],
) -> list[Problem]:
    k = settlement.interval_id
    orders = settlement.orders
    problems = []
    by_seller: Counter[str] = Counter()
    by_buyer: Counter[str] = Counter()
    for trade, delivered_wh, event in zip(
        settlement.trades, delivered, settlement.trade_events, strict=False
    ):
        by_seller[orders[trade.sell_order_index].household] += event.delivered_wh
        by_buyer[orders[trade.buy_order_index].household] += event.delivered_wh
        if event.delivered_wh > trade.energy_wh or delivered_wh > trade.energy_wh:
            problems.append(
                Problem(
                    k,
                    "energy_conservation",
                    f"a trade delivered {event.delivered_wh} Wh of the {trade.energy_wh} Wh traded",
                )
            )
    offered = sum(o.energy_wh for o in orders if o.side is Side.SELL)
    traded = sum(t.energy_wh for t in settlement.trades)
    if traded > offered:
        problems.append(
            Problem(k, "energy_conservation", f"{traded} Wh traded of {offered} Wh offered")
        )
    for household, wh in by_seller.items():
        if wh > exported[household]:
            problems.append(
                Problem(
                    k,
                    "energy_conservation",
                    f"{household} delivered {wh} Wh but exported {exported[household]} Wh",
                )
            )
    for household, wh in by_buyer.items():
        if wh > imported[household]:
            problems.append(
                Problem(
                    k,
                    "energy_conservation",
                    f"{household} received {wh} Wh but imported {imported[household]} Wh",
                )
            )
    return problems
