"""The relayer's bookkeeping table: what happened to each period it tried to settle."""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class PeriodStatus(enum.StrEnum):
    #: Settled on chain (by this relayer or anyone else).
    SETTLED = "settled"
    #: The last attempt failed (`last_error`); retried at every pass.
    FAILING = "failing"


class PeriodRow(SQLModel, table=True):
    """One period the relayer has handled; the chain stays the truth (`isSettled`)."""

    __tablename__ = "v2_period"

    period_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    status: str
    attempts: int = 0
    last_error: str | None = None
    delivered_wh: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    gas_used: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))
