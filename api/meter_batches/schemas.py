"""Request and response bodies of v2 meter batches (strict integers, hex keys)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.meter_batches.models import MeterBatchRow
from metering.period import decode_deltas

_STRICT = ConfigDict(extra="forbid", strict=True)
#: The DB stores integers as signed 64-bit values.
_INT64_MAX = 2**63 - 1
_UINT32_MAX = 2**32 - 1
#: Bodies never carry more intervals than this (the service holds them to the period).
MAX_INTERVALS = 10_000
_HEX32 = r"^0x[0-9a-fA-F]{64}$"


class DeltaIn(BaseModel):
    """Energy of one interval of the period, Wh."""

    model_config = _STRICT
    import_wh: int = Field(ge=0, le=_UINT32_MAX)
    export_wh: int = Field(ge=0, le=_UINT32_MAX)


class PublicKeyIn(BaseModel):
    model_config = _STRICT
    x: str = Field(pattern=_HEX32)
    y: str = Field(pattern=_HEX32)


class P256SignatureIn(BaseModel):
    model_config = _STRICT
    r: str = Field(pattern=_HEX32)
    s: str = Field(pattern=_HEX32)


class MeterBatchIn(BaseModel):
    """A meter's signed period batch (EIP-712 MeterPeriod, domain ("Quartier", "2"))."""

    model_config = _STRICT
    meter_id: str = Field(pattern=_HEX32)
    period_id: int = Field(ge=0, le=_INT64_MAX)
    start_import_wh: int = Field(ge=0, le=_INT64_MAX)
    start_export_wh: int = Field(ge=0, le=_INT64_MAX)
    deltas: list[DeltaIn] = Field(min_length=1, max_length=MAX_INTERVALS)
    public_key: PublicKeyIn
    signature: P256SignatureIn


class DeltaOut(BaseModel):
    import_wh: int
    export_wh: int


class MeterBatchOut(BaseModel):
    """A stored batch (with its signature: anyone can re-verify it)."""

    meter_id: str
    period_id: int
    household: str
    start_import_wh: int
    start_export_wh: int
    end_import_wh: int
    end_export_wh: int
    deltas: list[DeltaOut]
    signature: P256SignatureIn
    batch_hash: str

    @classmethod
    def of(cls, row: MeterBatchRow) -> MeterBatchOut:
        return cls(
            meter_id=row.meter_id,
            period_id=row.period_id,
            household=row.household,
            start_import_wh=row.start_import_wh,
            start_export_wh=row.start_export_wh,
            end_import_wh=row.end_import_wh,
            end_export_wh=row.end_export_wh,
            deltas=[
                DeltaOut(import_wh=i, export_wh=e)
                for i, e in decode_deltas(bytes.fromhex(row.deltas[2:]))
            ],
            signature=P256SignatureIn(r=row.signature_r, s=row.signature_s),
            batch_hash=row.batch_hash,
        )
