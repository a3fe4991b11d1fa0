"""A slow, literal transcription of IQuartierExchange's settlement text, for the tests.

It shares nothing with `api.settlement` but the input value types: entries are read byte by
byte, the walk moves one Wh at a time, rankings are sorts by tuple keys, windows are the
IQuartierCommunity sentence. Use it on small books only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from api.settlement import HouseholdInput, Mechanism, Posting, Rules, TimeGrid, Window

SELL, BUY = 1, 2


@dataclass
class RefInterval:
    price: int
    traded: int
    delivered: int
    sells: list[int]
    buys: list[int]
    # The (ask', bid') of the last Wh matched (None: nothing matched or CommunityPrice).
    marginal: tuple[int, int] | None = None
    t: dict[int, int] = field(default_factory=dict)
    d: dict[int, int] = field(default_factory=dict)
    money: dict[int, int] = field(default_factory=dict)


@dataclass
class RefPeriod:
    addresses: list[str]
    intervals: list[RefInterval]
    change: list[int]
    delivered: list[int]
    received: list[int]
    released: list[int]
    rounding: int


def counts(window: Window, start: int, end: int) -> bool:
    return window.admitted_at <= start and (window.removed_at == 0 or window.removed_at >= end)


def entry(postings: Sequence[Posting], k: int) -> tuple[int, int, int]:
    """(side, energy, price) of the last posting with firstIntervalId <= k."""
    found = (0, 0, 0)
    for posting in postings:
        if posting.first_interval_id <= k:
            at = 8 * (k - posting.first_interval_id)
            raw = posting.entries[at : at + 8]
            if len(raw) == 8:
                found = (raw[0], int.from_bytes(raw[1:4], "big"), int.from_bytes(raw[4:8], "big"))
            else:
                found = (0, 0, 0)
    return found


def lock(posting: Posting) -> int:
    milli = 0
    for at in range(0, len(posting.entries), 8):
        raw = posting.entries[at : at + 8]
        if raw[0] == BUY:
            milli += int.from_bytes(raw[1:4], "big") * int.from_bytes(raw[4:8], "big")
    return (milli + 999) // 1000


def reference_settle(
    rules: Rules, grid: TimeGrid, period_id: int, households: Sequence[HouseholdInput]
) -> RefPeriod:
    hs = sorted(households, key=lambda hh: int(hh.address, 16))
    n = len(hs)
    floor, ceiling = rules.price_floor_per_kwh, rules.price_ceiling_per_kwh
    intervals = []
    net = [0] * n
    delivered = [0] * n
    received = [0] * n
    first = period_id * grid.period_intervals
    for k in range(first, first + grid.period_intervals):
        start, end = k * grid.interval_seconds, (k + 1) * grid.interval_seconds
        book: dict[int, tuple[int, int, int]] = {}
        for h, hh in enumerate(hs):
            side, energy, price = entry(hh.postings, k)
            if side and counts(hh.membership, start, end):
                limit = max(price, floor) if side == SELL else min(price, ceiling)
                book[h] = (side, energy, limit)
        t = dict.fromkeys(book, 0)
        sells = sorted(
            (h for h in book if book[h][0] == SELL), key=lambda h: (book[h][2], (h + k) % n)
        )
        buys = sorted(
            (h for h in book if book[h][0] == BUY), key=lambda h: (-book[h][2], (h + k) % n)
        )
        price = 0
        if rules.mechanism is Mechanism.COMMUNITY_PRICE:
            c = rules.community_price_per_kwh
            for h, (side, energy, limit) in book.items():
                if (side == SELL and limit <= c) or (side == BUY and limit >= c):
                    t[h] = energy
            price = c
            sells = buys = []
            last: tuple[int, int] | None = None
        else:
            i = j = 0
            last = None
            while i < len(sells) and j < len(buys) and book[sells[i]][2] <= book[buys[j]][2]:
                t[sells[i]] += 1
                t[buys[j]] += 1
                last = (book[sells[i]][2], book[buys[j]][2])
                if t[sells[i]] == book[sells[i]][1]:
                    i += 1
                if t[buys[j]] == book[buys[j]][1]:
                    j += 1
            if rules.mechanism is Mechanism.PAY_AS_CLEAR and last is not None:
                price = (last[0] + last[1]) // 2
        traded = min(
            sum(t[h] for h in book if book[h][0] == SELL),
            sum(t[h] for h in book if book[h][0] == BUY),
        )
        offer = {}
        for h, (side, _, _) in book.items():
            m = 0
            for meter in hs[h].meters:
                if meter.deltas is not None and counts(meter.window, start, end):
                    at = 8 * (k - first)
                    m += int.from_bytes(meter.deltas[at + (4 if side == SELL else 0) :][:4], "big")
            offer[h] = min(t[h], m)
        s_total = sum(o for h, o in offer.items() if book[h][0] == SELL)
        b_total = sum(o for h, o in offer.items() if book[h][0] == BUY)
        d_total = min(s_total, b_total)
        short, long_side = (SELL, BUY) if s_total <= b_total else (BUY, SELL)
        big = max(s_total, b_total)
        d = {}
        for h, o in offer.items():
            if book[h][0] == short:
                d[h] = o
            else:
                d[h] = o * d_total // big if big else 0
        left = d_total - sum(d[h] for h in d if book[h][0] == long_side)
        for h in sorted(d):
            if left and book[h][0] == long_side and offer[h] > 0:
                d[h] += 1
                left -= 1
        assert left == 0
        money = dict.fromkeys(book, 0)
        if rules.mechanism is Mechanism.PAY_AS_BID:
            pot = 0
            for h in book:
                if book[h][0] == BUY:
                    money[h] = -d[h] * book[h][2]
                    pot -= money[h]
            if d_total:
                for h in book:
                    if book[h][0] == SELL:
                        money[h] = pot * d[h] // d_total
                first_seller = min(h for h in book if book[h][0] == SELL and d[h] > 0)
                money[first_seller] += pot - sum(money[h] for h in book if book[h][0] == SELL)
        else:
            for h in book:
                money[h] = d[h] * price if book[h][0] == SELL else -d[h] * price
        for h in book:
            net[h] += money[h]
            if book[h][0] == SELL:
                delivered[h] += d[h]
            else:
                received[h] += d[h]
        intervals.append(RefInterval(price, traded, d_total, sells, buys, last, t, d, money))
    change = [x // 1000 for x in net]
    return RefPeriod(
        [hh.address for hh in hs],
        intervals,
        change,
        delivered,
        received,
        [sum(lock(p) for p in hh.postings) for hh in hs],
        -sum(change),
    )
