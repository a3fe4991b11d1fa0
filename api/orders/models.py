"""Tables of the orders domain: signed orders as received, and their life in the book."""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class OrderStatus(enum.StrEnum):
    """Where an order is in its life."""

    #: Signed for a later interval by a standing order; enters the book at clearing time.
    SCHEDULED = "scheduled"
    OPEN = "open"
    CANCELLED = "cancelled"
    #: In a committed interval with at least one trade.
    COMMITTED = "committed"
    #: Cleared without a trade.
    UNMATCHED = "unmatched"
    #: Dropped at clearing (nonce cancelled on-chain, not a member, escrow short).
    DROPPED = "dropped"


class OrderRow(SQLModel, table=True):
    """A signed order; `order_hash` is its EIP-712 digest (also its id in the matcher)."""

    __tablename__ = "market_order"
    __table_args__ = (
        UniqueConstraint("household", "nonce", name="uq_order_household_nonce"),
        Index("ix_order_interval_status", "interval_id", "status"),
        Index("ix_order_household_status", "household", "status"),
    )

    order_hash: str = Field(primary_key=True)
    household: str
    side: int  # 0 sell, 1 buy (ledger.orders.Side)
    interval_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    energy_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    price_per_kwh: int = Field(sa_column=Column(BigInteger, nullable=False))
    nonce: int = Field(sa_column=Column(BigInteger, nullable=False))
    v: int
    r: str
    s: str
    status: str = OrderStatus.OPEN
    #: Escrow the order may lock when committed: ceil(energy_wh * price_per_kwh / 1000) (buys).
    lock_units: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    standing_order_id: int | None = Field(default=None, index=True)
    reason: str | None = None
    created_at: int


class StandingOrderRow(SQLModel, table=True):
    """'Sell (or buy) this much every interval at this limit', with its pre-signed orders."""

    __tablename__ = "standing_order"

    id: int | None = Field(default=None, primary_key=True)
    household: str = Field(index=True)
    side: int
    energy_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    price_per_kwh: int = Field(sa_column=Column(BigInteger, nullable=False))
    first_interval_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_interval_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = True
    created_at: int
