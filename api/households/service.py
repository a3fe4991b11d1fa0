"""Households: admission with a profile, erasure, sign-in, and a household's own data."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlmodel import Session, col, select, update
from web3 import Web3

from api.auth import issue_token, recover_personal
from api.errors import AuthenticationError, ConflictError, ForbiddenError, NotFoundError
from api.households.models import ChallengeRow, HouseholdRow
from api.households.schemas import AdmitIn
from api.ledger_gateway import LedgerGateway
from api.orders.models import OrderRow
from api.readings.models import MeterIndexRow, ReadingRow
from api.settings import Settings


def admit(session: Session, ledger: LedgerGateway, body: AdmitIn, now: int) -> HouseholdRow:
    """Admit on-chain (when the service holds the manager key) and store the profile.

    Without the manager key the manager admits the address from its own wallet first; the
    profile is accepted only once the registry lists the household as a member.
    """
    address = Web3.to_checksum_address(body.address)
    if not ledger.is_member(address):
        registry = ledger.manager_registry
        if registry is None:
            raise ConflictError(
                f"{address} is not a member on-chain: admit it from the manager's wallet"
                " (admitHousehold) first, or configure QUARTIER_MANAGER_KEY",
                "not-member-on-chain",
            )
        registry.admit_household(address)
    row = session.get(HouseholdRow, address) or HouseholdRow(address=address, admitted_at=now)
    row.name, row.ean, row.contact, row.erased_at = body.name, body.ean, body.contact, None
    session.add(row)
    session.commit()
    return row


def erase(session: Session, address: str, now: int) -> HouseholdRow:
    """Erase a household's personal data; its pseudonymous on-chain records stay."""
    row = session.get(HouseholdRow, Web3.to_checksum_address(address))
    if row is None:
        raise NotFoundError(f"no household profile for {address}", "unknown-household")
    row.name = row.ean = row.contact = None
    row.erased_at = row.erased_at or now
    session.add(row)
    session.commit()
    return row


def _iso(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def challenge(
    session: Session, ledger: LedgerGateway, settings: Settings, address: str, now: int
) -> ChallengeRow:
    """A one-time message (EIP-4361 layout) the household signs to get a token."""
    address = Web3.to_checksum_address(address)
    nonce = secrets.token_hex(12)
    expires_at = now + settings.challenge_seconds
    message = (
        f"quartier wants you to sign in with your Ethereum account:\n{address}\n\n"
        "Sign in to read your own Quartier data.\n\n"
        f"URI: quartier:api\nVersion: 1\nChain ID: {ledger.domain.chain_id}\n"
        f"Nonce: {nonce}\nIssued At: {_iso(now)}\nExpiration Time: {_iso(expires_at)}"
    )
    row = ChallengeRow(nonce=nonce, address=address, message=message, expires_at=expires_at)
    session.add(row)
    session.commit()
    return row


def token(
    session: Session, settings: Settings, nonce: str, signature: str, now: int
) -> tuple[str, int]:
    """Exchange a signed challenge for a bearer token (each challenge works once)."""
    row = session.get(ChallengeRow, nonce)
    if row is None or row.used or row.expires_at <= now:
        raise AuthenticationError("unknown, used or expired challenge", "invalid-challenge")
    signer = recover_personal(row.message, signature)
    if signer != row.address:
        raise AuthenticationError(f"the challenge was signed by {signer}, not {row.address}")
    # Claimed by one conditional UPDATE: of concurrent requests with the same signed
    # challenge, the database lets exactly one change `used` (a read-then-write let several).
    claimed = session.exec(
        update(ChallengeRow)
        .where(col(ChallengeRow.nonce) == nonce, col(ChallengeRow.used).is_(False))
        .values(used=True)
    )
    session.commit()
    if claimed.rowcount != 1:
        raise AuthenticationError("unknown, used or expired challenge", "invalid-challenge")
    expires_at = now + settings.token_seconds
    return issue_token(settings.auth_secret, row.address, expires_at), expires_at


def check_own(authenticated: str, address: str) -> str:
    """A household may read only its own data."""
    address = Web3.to_checksum_address(address)
    if authenticated != address:
        raise ForbiddenError("a household can only read its own data", "not-your-data")
    return address


def own_readings(
    session: Session, address: str, from_interval: int, to_interval: int
) -> list[ReadingRow]:
    """The readings of the household's meters in [from_interval, to_interval]."""
    meters = select(MeterIndexRow.meter_id).where(MeterIndexRow.household == address)
    rows = session.exec(
        select(ReadingRow)
        .where(
            col(ReadingRow.meter_id).in_(meters),
            ReadingRow.interval_id >= from_interval,
            ReadingRow.interval_id <= to_interval,
        )
        .order_by(col(ReadingRow.meter_id), col(ReadingRow.seq))
    ).all()
    return list(rows)


def own_orders(session: Session, address: str) -> list[OrderRow]:
    """Every order of the household, newest interval first."""
    rows = session.exec(
        select(OrderRow)
        .where(OrderRow.household == address)
        .order_by(col(OrderRow.interval_id).desc(), col(OrderRow.nonce))
    ).all()
    return list(rows)
