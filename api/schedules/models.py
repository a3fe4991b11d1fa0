"""Tables of the v2 schedules domain: signed schedules as accepted, and their posting."""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class ScheduleStatus(enum.StrEnum):
    """Where an accepted schedule is in its life."""

    #: Accepted by the service, not yet on chain (its lock is promised in free escrow).
    PENDING = "pending"
    #: In a mined postSchedules transaction (`tx_hash`, `posted_block`).
    POSTED = "posted"
    #: The contract would not take it (`reason`: the custom error's name).
    REFUSED = "refused"


class ScheduleRow(SQLModel, table=True):
    """A household's signed schedule; `schedule_hash` is its EIP-712 struct hash, the
    `scheduleHash` of the SchedulePosted event once posted.

    A version, once stored, is taken for good (even if refused later): a household that needs
    another plan signs a higher version.
    """

    __tablename__ = "v2_schedule"
    __table_args__ = (
        UniqueConstraint("household", "period_id", "version", name="uq_v2_schedule_version"),
        Index("ix_v2_schedule_status", "status", "period_id"),
        Index("ix_v2_schedule_household_status", "household", "status"),
    )

    schedule_hash: str = Field(primary_key=True)
    household: str
    period_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    first_interval_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: The signed `entries` bytes, 0x-hex (8 bytes per interval).
    entries: str
    #: 65-byte r || s || v, 0x-hex.
    signature: str
    lock_units: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = ScheduleStatus.PENDING
    reason: str | None = None
    tx_hash: str | None = None
    posted_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
