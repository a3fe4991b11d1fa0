"""The table of the v2 meter batches domain: one signed period batch per (meter, period)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class MeterBatchRow(SQLModel, table=True):
    """A meter's signed batch of one period, as accepted (chained to the meter's previous
    accepted batch). `batch_hash` is its EIP-712 struct hash (`postedBatchHash` on chain)."""

    __tablename__ = "v2_meter_batch"

    meter_id: str = Field(primary_key=True)
    period_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    household: str = Field(index=True)
    start_import_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    start_export_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_import_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_export_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: 8 bytes per interval (uint32 import Wh, uint32 export Wh), 0x-hex.
    deltas: str
    signature_r: str
    signature_s: str
    batch_hash: str
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
