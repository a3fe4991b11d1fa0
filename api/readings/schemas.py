"""Response bodies of the readings domain."""

from __future__ import annotations

from pydantic import BaseModel

from api.readings.models import ReadingRow


class ReadingOut(BaseModel):
    """A stored reading as the API returns it."""

    meter_id: str
    interval_id: int
    import_wh_total: int
    export_wh_total: int
    seq: int

    @classmethod
    def of(cls, row: ReadingRow) -> ReadingOut:
        """From a stored row."""
        return cls(
            meter_id=row.meter_id,
            interval_id=row.interval_id,
            import_wh_total=row.import_wh_total,
            export_wh_total=row.export_wh_total,
            seq=row.seq,
        )
