"""Households (manager-signed admission and erasure), sign-in, and a household's own data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import ChainDep, ClockDep, SessionDep, SettingsDep
from api.errors import NotFoundError
from api.households import service
from api.households.models import HouseholdRow
from api.households.schemas import (
    AdmitIn,
    ChallengeIn,
    ChallengeOut,
    EscrowOut,
    HouseholdOut,
    HouseholdScheduleOut,
    SettlementOut,
    TokenIn,
    TokenOut,
)
from api.params import AddressPath
from api.readings.schemas import ReadingOut
from api.security import HouseholdAuthDep, ManagerDep
from ledger.events_v2 import HouseholdSettled

router = APIRouter(tags=["households"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_AUTH: dict[int | str, dict[str, Any]] = {401: _PROBLEM, 403: _PROBLEM}


@router.post("/households", status_code=status.HTTP_201_CREATED, responses={**_AUTH, 409: _PROBLEM})
def admit_household(
    body: AdmitIn, manager: ManagerDep, session: SessionDep, chain: ChainDep, clock: ClockDep
) -> HouseholdOut:
    """Admit a member (manager-signed request) with its off-chain profile."""
    return HouseholdOut.of(service.admit(session, chain, body, clock()))


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
    chain: ChainDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ChallengeOut:
    """A one-time sign-in message for `address` to personal_sign."""
    row = service.challenge(session, chain, settings, body.address, clock())
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


@router.get("/households/{address}/escrow", responses={**_AUTH, 503: _PROBLEM})
def get_own_escrow(address: AddressPath, me: HouseholdAuthDep, chain: ChainDep) -> EscrowOut:
    """The signed-in household's escrow in the exchange (free and locked), read now."""
    household = service.check_own(me, address)
    escrow = chain.exchange.escrow_of(household)
    return EscrowOut(
        household=household, free_units=escrow.free_units, locked_units=escrow.locked_units
    )


@router.get("/households/{address}/schedules", responses=_AUTH)
def get_own_schedules(
    address: AddressPath, me: HouseholdAuthDep, session: SessionDep, chain: ChainDep
) -> list[HouseholdScheduleOut]:
    """The signed-in household's schedules with their status (pending, posted, refused, and
    settled with the period's delivered and received Wh and money once the chain settled it)."""
    found = service.own_schedules_settled(session, chain, service.check_own(me, address))
    return [
        HouseholdScheduleOut.settled_of(row, None if event is None else _settlement(event))
        for row, event in found
    ]


@router.get("/households/{address}/settlements", responses={**_AUTH, 503: _PROBLEM})
def get_own_settlements(
    address: AddressPath, me: HouseholdAuthDep, chain: ChainDep
) -> list[SettlementOut]:
    """The signed-in household's period settlements, from the exchange's events."""
    events = service.own_settlements(chain, service.check_own(me, address))
    return [_settlement(e) for e in events]


def _settlement(event: HouseholdSettled) -> SettlementOut:
    return SettlementOut(
        period_id=event.period_id,
        delivered_wh=event.delivered_wh,
        received_wh=event.received_wh,
        change_units=event.change_units,
        released_units=event.released_units,
    )
