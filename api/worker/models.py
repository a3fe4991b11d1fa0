"""Tables of the worker: where each interval is in clear → commit → settle."""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class IntervalStatus(enum.StrEnum):
    """The worker's progress on one interval (each step re-checks the chain first)."""

    #: Trades computed and stored; not yet on-chain.
    CLEARED = "cleared"
    #: Nothing could trade: nothing to commit or settle.
    EMPTY = "empty"
    COMMITTED = "committed"
    SETTLED = "settled"


class IntervalRow(SQLModel, table=True):
    """One interval's clearing result and chain progress."""

    __tablename__ = "market_interval"

    interval_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str
    mechanism: str
    clearing_price_per_kwh: int | None = Field(default=None, sa_column=Column(BigInteger))
    #: JSON list of {"sell_id", "buy_id", "energy_wh", "price_per_kwh"} (ids = order hashes).
    trades_json: str = "[]"
    commitment: str | None = None
    delivered_wh: int | None = Field(default=None, sa_column=Column(BigInteger))
    paid_units: int | None = Field(default=None, sa_column=Column(BigInteger))
    updated_at: int
