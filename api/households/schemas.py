"""Request and response bodies of the households domain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.households.models import HouseholdRow
from api.schedules.models import ScheduleRow
from api.schedules.schemas import ScheduleOut

Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$")


def ean_check_digit_ok(ean: str) -> bool:
    """GS1 mod-10 check of an 18-digit EAN (GSRN), as printed on Belgian meters' contracts."""
    digits = [int(c) for c in ean]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


class AdmitIn(BaseModel):
    """Admit a household: its address and its (erasable) profile."""

    model_config = ConfigDict(extra="forbid")
    address: str = Address
    name: str = Field(min_length=1, max_length=200)
    ean: str = Field(pattern=r"^[0-9]{18}$")
    contact: str = Field(min_length=1, max_length=200)

    @field_validator("ean")
    @classmethod
    def _check_digit(cls, value: str) -> str:
        if not ean_check_digit_ok(value):
            raise ValueError("EAN check digit does not match")
        return value


class HouseholdOut(BaseModel):
    """A household's profile (personal fields null once erased)."""

    address: str
    name: str | None
    ean: str | None
    contact: str | None
    admitted_at: int
    erased_at: int | None

    @classmethod
    def of(cls, row: HouseholdRow) -> HouseholdOut:
        """From a stored row."""
        return cls.model_validate(row, from_attributes=True)


class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Address


class ChallengeOut(BaseModel):
    """The message to personal_sign, and until when it may be used."""

    message: str
    nonce: str
    expires_at: int


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nonce: str
    signature: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: int


class EscrowOut(BaseModel):
    """A household's escrow in the exchange now (token base units)."""

    household: str
    free_units: int
    locked_units: int


class SettlementOut(BaseModel):
    """One period's settlement of a household, from its HouseholdSettled event."""

    period_id: int
    delivered_wh: int
    received_wh: int
    #: Signed: what the period paid the household (positive) or charged it (negative).
    change_units: int
    released_units: int


class HouseholdScheduleOut(ScheduleOut):
    """One of the household's schedules, with where it ended: `status` is `settled` once its
    period is settled on chain (it was posted, and settlement re-supplied every posting of
    the period), and `settlement` then holds the period's outcome for the household from its
    HouseholdSettled event; before that, `settlement` is null."""

    settlement: SettlementOut | None = None

    @classmethod
    def settled_of(cls, row: ScheduleRow, outcome: SettlementOut | None) -> HouseholdScheduleOut:
        """From a stored row and its period's settlement (None: not settled yet)."""
        base = ScheduleOut.of(row).model_dump()
        if outcome is not None and row.status == "posted":
            return cls(**{**base, "status": "settled"}, settlement=outcome)
        return cls(**base)
