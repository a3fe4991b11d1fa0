"""Tables of the readings domain: the local meter index and the accepted readings."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class MeterIndexRow(SQLModel, table=True):
    """What QuartierCommunity said about a meter, last time we asked (a cache, rebuildable)."""

    __tablename__ = "meter"

    meter_id: str = Field(primary_key=True)  # 0x + 64 hex
    household: str = Field(index=True)  # checksum address
    status: int  # api.readings.meters.MeterStatus
    public_key_x: str
    public_key_y: str
    checked_at: int  # unix seconds of the community lookup


class ReadingRow(SQLModel, table=True):
    """An accepted signed reading (the households' live view; settlement uses the meters'
    period batches)."""

    __tablename__ = "reading"
    __table_args__ = (
        UniqueConstraint("meter_id", "seq", name="uq_reading_meter_seq"),
        Index("ix_reading_meter_interval", "meter_id", "interval_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    meter_id: str
    interval_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    import_wh_total: int = Field(sa_column=Column(BigInteger, nullable=False))
    export_wh_total: int = Field(sa_column=Column(BigInteger, nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    signature_r: str
    signature_s: str
    received_at: int
