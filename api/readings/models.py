"""Tables of the readings domain: the local meter index and the accepted readings."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel


class MeterIndexRow(SQLModel, table=True):
    """What QuartierCommunity said about a meter, last time we asked (a cache, rebuildable)."""

    __tablename__ = "meter"

    meter_id: str = Field(primary_key=True)  # 0x + 64 hex
    household: str = Field(index=True)  # checksum address
    status: int  # api.readings.meters.MeterStatus
    public_key_x: str
    public_key_y: str
    #: Unix seconds of the community lookup (BIGINT: PostgreSQL's INTEGER ends in 2038).
    checked_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ReadingRow(SQLModel, table=True):
    """An accepted signed reading (the households' live view; settlement uses the meters'
    period batches)."""

    __tablename__ = "reading"
    __table_args__ = (
        UniqueConstraint("meter_id", "seq", name="uq_reading_meter_seq"),
        Index("ix_reading_meter_interval", "meter_id", "interval_id"),
    )

    #: BIGINT on PostgreSQL; SQLite's autoincrementing key must be declared INTEGER.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    meter_id: str
    interval_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    import_wh_total: int = Field(sa_column=Column(BigInteger, nullable=False))
    export_wh_total: int = Field(sa_column=Column(BigInteger, nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    signature_r: str
    signature_s: str
    received_at: int = Field(sa_column=Column(BigInteger, nullable=False))
