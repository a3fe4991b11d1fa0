"""Request and response bodies of v2 schedules: strict integers (no floats, no numeric
strings, no booleans), bounded to the widths the exchange's entry codec carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, with_config
from typing_extensions import TypedDict

from api.schedules.models import ScheduleRow
from ledger.entries import unpack_entries
from ledger.schedules import ENERGY_WH_MAX, PRICE_PER_KWH_MAX, EntrySide, decode_entries

#: Bodies never carry more entries than this, whatever the community's period length; the
#: service then holds them to the period (`period_intervals` from the chain).
MAX_ENTRIES = 10_000
#: The DB stores integers as signed 64-bit values.
_INT64_MAX = 2**63 - 1
_UINT32_MAX = 2**32 - 1

SideName = Literal["sell", "buy", "none"]
SIDE_VALUE: dict[str, EntrySide] = {
    "none": EntrySide.NONE,
    "sell": EntrySide.SELL,
    "buy": EntrySide.BUY,
}
SIDE_NAME: dict[EntrySide, SideName] = {
    EntrySide.NONE: "none",
    EntrySide.SELL: "sell",
    EntrySide.BUY: "buy",
}
#: SIDE_NAME by the side's integer (entries decoded as plain ints).
_SIDE_NAMES: tuple[SideName, ...] = tuple(SIDE_NAME[side] for side in sorted(EntrySide))

_STRICT = ConfigDict(extra="forbid", strict=True)
_M = TypeVar("_M", bound=BaseModel)


# A TypedDict, not a model: a 96-entry body validates ~1.5x faster (no model instance per
# entry), and the validated dicts are the POST's answer as they are.
@with_config(_STRICT)
class EntryIn(TypedDict):
    """One interval's entry: sell at >= price_per_kwh, buy at <= it, or none (all zeros)."""

    side: SideName
    energy_wh: Annotated[int, Field(ge=0, le=ENERGY_WH_MAX)]
    price_per_kwh: Annotated[int, Field(ge=0, le=PRICE_PER_KWH_MAX)]


class ScheduleIn(BaseModel):
    """A signed v2 Schedule (EIP-712, domain ("Quartier", "2", chain, exchange))."""

    model_config = _STRICT
    household: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    period_id: int = Field(ge=0, le=_INT64_MAX)
    version: int = Field(ge=1, le=_UINT32_MAX)
    first_interval_id: int = Field(ge=0, le=_INT64_MAX)
    #: From `first_interval_id` on, one per interval; may be empty (no entry from there on).
    entries: list[EntryIn] = Field(max_length=MAX_ENTRIES)
    #: 65 bytes r || s || v, v in {27, 28}, low s.
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class EntryOut(BaseModel):
    side: SideName
    energy_wh: int
    price_per_kwh: int


class ScheduleOut(BaseModel):
    """A stored schedule, with its signature so anyone can re-verify it."""

    schedule_hash: str
    household: str
    period_id: int
    version: int
    first_interval_id: int
    entries: list[EntryOut]
    signature: str
    lock_units: int
    status: str
    reason: str | None
    tx_hash: str | None

    @classmethod
    def of(cls, row: ScheduleRow) -> ScheduleOut:
        """From a stored row."""
        entries = decode_entries(bytes.fromhex(row.entries[2:]))
        return cls(
            schedule_hash=row.schedule_hash,
            household=row.household,
            period_id=row.period_id,
            version=row.version,
            first_interval_id=row.first_interval_id,
            entries=[
                EntryOut(
                    side=SIDE_NAME[entry.side],
                    energy_wh=entry.energy_wh,
                    price_per_kwh=entry.price_per_kwh,
                )
                for entry in entries
            ],
            signature=row.signature,
            lock_units=row.lock_units,
            status=row.status,
            reason=row.reason,
            tx_hash=row.tx_hash,
        )


class PeriodBookOut(BaseModel):
    """Every schedule stored for a period (refused ones included, with their reason)."""

    period_id: int
    schedules: list[ScheduleOut]


def parse_body(model: type[_M], raw: bytes) -> _M:
    """A strict body parsed straight from its bytes (pydantic's JSON mode, no json.loads);
    an invalid one is the same 422 validation problem FastAPI's own parsing gives."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        ) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of an endpoint that parses `model` itself (definitions
    inlined: they are not registered as components)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


def schedule_json(
    fields: Mapping[str, Any], entries: Sequence[EntryIn] | None = None
) -> dict[str, Any]:
    """ScheduleOut as a plain dict from a stored row's columns (the POST hot path skips the
    model); `entries` as received, else decoded from the row."""
    if entries is None:
        # Plain ints (`unpack_entries`, the same checks as `decode_entries`): an Entry object
        # per interval was most of a GET's CPU.
        sides, energies, prices = unpack_entries(bytes.fromhex(fields["entries"][2:]))
        entries = [
            {"side": _SIDE_NAMES[side], "energy_wh": energy, "price_per_kwh": price}
            for side, energy, price in zip(sides, energies, prices, strict=True)
        ]
    return {
        "schedule_hash": fields["schedule_hash"],
        "household": fields["household"],
        "period_id": fields["period_id"],
        "version": fields["version"],
        "first_interval_id": fields["first_interval_id"],
        "entries": entries,
        "signature": fields["signature"],
        "lock_units": fields["lock_units"],
        "status": fields["status"],
        "reason": fields["reason"],
        "tx_hash": fields["tx_hash"],
    }
