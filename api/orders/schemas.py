"""Request and response bodies of the orders domain (integers for energy and money)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.orders.models import OrderRow

Hex32 = Field(pattern=r"^0x[0-9a-fA-F]{1,64}$")
SideName = Literal["sell", "buy"]
SIDE_VALUE: dict[str, int] = {"sell": 0, "buy": 1}
SIDE_NAME: dict[int, SideName] = {0: "sell", 1: "buy"}


class SignatureIn(BaseModel):
    """secp256k1 signature parts of an EIP-712 order."""

    model_config = ConfigDict(extra="forbid")
    v: int = Field(ge=0, le=255)
    r: str = Hex32
    s: str = Hex32


class OrderIn(BaseModel):
    """A signed `Order` (see the fixed EIP-712 format)."""

    model_config = ConfigDict(extra="forbid")
    household: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    side: SideName
    interval_id: int = Field(ge=0, lt=2**63)
    energy_wh: int = Field(gt=0, lt=2**63)
    price_per_kwh: int = Field(ge=0, lt=2**63)
    nonce: int = Field(ge=0, lt=2**63)
    signature: SignatureIn


class OrderOut(BaseModel):
    """An order of the public book, with its signature so anyone can re-verify it."""

    order_hash: str
    household: str
    side: SideName
    interval_id: int
    energy_wh: int
    price_per_kwh: int
    nonce: int
    status: str
    signature: SignatureIn

    @classmethod
    def of(cls, row: OrderRow) -> OrderOut:
        """From a stored row."""
        return cls(
            order_hash=row.order_hash,
            household=row.household,
            side=SIDE_NAME[row.side],
            interval_id=row.interval_id,
            energy_wh=row.energy_wh,
            price_per_kwh=row.price_per_kwh,
            nonce=row.nonce,
            status=row.status,
            signature=SignatureIn(v=row.v, r=row.r, s=row.s),
        )


class OrderBookOut(BaseModel):
    """The public book of one interval."""

    interval_id: int
    gate_closes_at: int
    orders: list[OrderOut]


class CancelIn(BaseModel):
    """personal_sign of `Quartier: cancel order <order_hash>` by the order's household."""

    model_config = ConfigDict(extra="forbid")
    signature: str


class StandingOrderIn(BaseModel):
    """A standing order: the template and the household's pre-signed orders, one per interval."""

    model_config = ConfigDict(extra="forbid")
    household: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    side: SideName
    energy_wh: int = Field(gt=0, lt=2**63)
    price_per_kwh: int = Field(ge=0, lt=2**63)
    orders: list[OrderIn]


class StandingOrderOut(BaseModel):
    id: int
    household: str
    side: SideName
    energy_wh: int
    price_per_kwh: int
    first_interval_id: int
    last_interval_id: int
    active: bool
