"""The households' and meters' agents: what they sign and POST each interval.

Household policy (one order per household per interval, the interval id as its nonce):
- forecast export >= MIN_ORDER_WH: sell it, at a seeded reserve price a little above feed-in
  (anything above feed-in beats the grid);
- forecast import >= MIN_ORDER_WH while the sun is up: bid for it, at a seeded limit a little
  below retail (anything below retail beats the grid). At night no neighbour has PV to sell,
  so buyers do not post orders nobody can fill.
Meter agent: sign the cumulative registers at the end of the interval (seq = interval id, so
it always increases) and POST them in the fixed JSON shape.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from api.demo.neighbourhood import Household
from api.demo.simulation import DaySimulation, sun_is_up
from ledger.orders import Order, Side, sign_order
from metering.reading import Reading, sign_reading

#: Orders smaller than this are not worth a signature.
MIN_ORDER_WH = 10


@dataclass(frozen=True)
class Prices:
    """The community's fallback prices (token base units per kWh)."""

    feed_in_per_kwh: int
    retail_per_kwh: int


@dataclass(frozen=True)
class Limits:
    """One household's limit prices: sell at or above `ask`, buy at or below `bid`."""

    ask_per_kwh: int
    bid_per_kwh: int


def draw_limits(count: int, prices: Prices, seed: int) -> list[Limits]:
    """Seeded limit prices: asks in the lower quarter of the band, bids in the upper quarter."""
    rng = random.Random(f"limits:{seed}")
    band = prices.retail_per_kwh - prices.feed_in_per_kwh
    return [
        Limits(
            ask_per_kwh=prices.feed_in_per_kwh + rng.randint(band // 20, band // 4),
            bid_per_kwh=prices.retail_per_kwh - rng.randint(band // 20, band // 4),
        )
        for _ in range(count)
    ]


def order_json(household: Household, order: Order, chain_id: int, market: str) -> dict[str, Any]:
    """Sign `order` with the household's key and shape it as `POST /orders` takes it."""
    signed = sign_order(household.account.key, order, chain_id, market)
    return {
        "household": order.household,
        "side": "sell" if order.side is Side.SELL else "buy",
        "interval_id": order.interval_id,
        "energy_wh": order.energy_wh,
        "price_per_kwh": order.price_per_kwh,
        "nonce": order.nonce,
        "signature": {"v": signed.v, "r": hex(signed.r), "s": hex(signed.s)},
    }


def household_orders(
    households: list[Household],
    limits: list[Limits],
    day: DaySimulation,
    interval_id: int,
    chain_id: int,
    market: str,
) -> list[dict[str, Any]]:
    """Every household's signed order for `interval_id`, from its own forecast."""
    bodies = []
    daylight = sun_is_up(interval_id)
    for index, household in enumerate(households):
        forecast = day.forecast(index, interval_id)
        address = household.account.address
        if forecast.export_wh >= MIN_ORDER_WH:
            order = Order(
                address,
                Side.SELL,
                interval_id,
                forecast.export_wh,
                limits[index].ask_per_kwh,
                interval_id,
            )
        elif daylight and forecast.import_wh >= MIN_ORDER_WH:
            order = Order(
                address,
                Side.BUY,
                interval_id,
                forecast.import_wh,
                limits[index].bid_per_kwh,
                interval_id,
            )
        else:
            continue
        bodies.append(order_json(household, order, chain_id, market))
    return bodies


def meter_readings(
    households: list[Household], day: DaySimulation, interval_id: int, chain_id: int, market: str
) -> list[dict[str, Any]]:
    """Every meter's signed reading of `interval_id` (its registers at the interval's end)."""
    bodies = []
    for index, household in enumerate(households):
        import_wh, export_wh = day.registers(index, interval_id)
        reading = Reading(household.meter.meter_id, interval_id, import_wh, export_wh, interval_id)
        bodies.append(sign_reading(household.meter_key, reading, chain_id, market).to_json())
    return bodies
