"""Households (manager-signed admission and erasure), sign-in, and a household's own data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import ClockDep, LedgerDep, SessionDep, SettingsDep
from api.errors import NotFoundError
from api.households import service
from api.households.models import HouseholdRow
from api.households.schemas import (
    AdmitIn,
    ChallengeIn,
    ChallengeOut,
    HouseholdOut,
    TokenIn,
    TokenOut,
)
from api.orders.schemas import OrderOut
from api.params import AddressPath
from api.readings.schemas import ReadingOut
from api.security import HouseholdAuthDep, ManagerDep

router = APIRouter(tags=["households"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_AUTH: dict[int | str, dict[str, Any]] = {401: _PROBLEM, 403: _PROBLEM}


@router.post("/households", status_code=status.HTTP_201_CREATED, responses={**_AUTH, 409: _PROBLEM})
def admit_household(
    body: AdmitIn, manager: ManagerDep, session: SessionDep, ledger: LedgerDep, clock: ClockDep
) -> HouseholdOut:
    """Admit a member (manager-signed request) with its off-chain profile."""
    return HouseholdOut.of(service.admit(session, ledger, body, clock()))


@router.delete("/households/{address}/profile", responses={**_AUTH, 404: _PROBLEM})
def erase_household(
    address: AddressPath, manager: ManagerDep, session: SessionDep, clock: ClockDep
) -> HouseholdOut:
    """Erase the personal data of a household (GDPR); on-chain records stay pseudonymous."""
    return HouseholdOut.of(service.erase(session, address, clock()))


@router.post("/auth/challenge")
def post_challenge(
    body: ChallengeIn,
    session: SessionDep,
    ledger: LedgerDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ChallengeOut:
    """A one-time sign-in message for `address` to personal_sign."""
    row = service.challenge(session, ledger, settings, body.address, clock())
    return ChallengeOut(message=row.message, nonce=row.nonce, expires_at=row.expires_at)


@router.post("/auth/token", responses={401: _PROBLEM})
def post_token(
    body: TokenIn, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> TokenOut:
    """Exchange the signed challenge for a short-lived bearer token."""
    access_token, expires_at = service.token(session, settings, body.nonce, body.signature, clock())
    return TokenOut(access_token=access_token, expires_at=expires_at)


@router.get("/households/{address}", responses={**_AUTH, 404: _PROBLEM})
def get_household(address: AddressPath, me: HouseholdAuthDep, session: SessionDep) -> HouseholdOut:
    """The signed-in household's own profile."""
    row = session.get(HouseholdRow, service.check_own(me, address))
    if row is None:
        raise NotFoundError(f"no household profile for {address}", "unknown-household")
    return HouseholdOut.of(row)


@router.get("/households/{address}/readings", responses=_AUTH)
def get_own_readings(
    address: AddressPath,
    me: HouseholdAuthDep,
    session: SessionDep,
    from_interval: int = 0,
    to_interval: int = 2**63 - 1,
) -> list[ReadingOut]:
    """The signed-in household's own meter readings (never another household's)."""
    rows = service.own_readings(session, service.check_own(me, address), from_interval, to_interval)
    return [ReadingOut.of(row) for row in rows]


@router.get("/households/{address}/orders", responses=_AUTH)
def get_own_orders(
    address: AddressPath, me: HouseholdAuthDep, session: SessionDep
) -> list[OrderOut]:
    """The signed-in household's orders with their status."""
    return [OrderOut.of(row) for row in service.own_orders(session, service.check_own(me, address))]
