"""Households: admission with a profile, erasure, sign-in, and a household's own data."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from sqlmodel import Session, col, select, update
from web3 import Web3
from web3.types import FilterParams, LogReceipt

from api.auth import issue_token, recover_personal
from api.errors import AuthenticationError, ConflictError, ForbiddenError, NotFoundError
from api.households.models import ChallengeRow, HouseholdRow
from api.households.schemas import AdmitIn
from api.readings.models import MeterIndexRow, ReadingRow
from api.relayer.context import V2Chain
from api.schedules.models import ScheduleRow, ScheduleStatus
from api.settings import Settings
from ledger.events_v2 import HouseholdSettled, decode_log_v2


def _is_member_now(chain: V2Chain, address: str) -> bool:
    window = chain.community.membership(address)  # uncached: an admission is acted on at once
    return window.admitted_at != 0 and window.removed_at == 0


def admit(session: Session, chain: V2Chain, body: AdmitIn, now: int) -> HouseholdRow:
    """Admit on-chain (when the service holds the manager key) and store the profile.

    Without the manager key the manager admits the address from its own wallet first; the
    profile is accepted only once QuartierCommunity lists the household as a member.
    """
    address = Web3.to_checksum_address(body.address)
    if not _is_member_now(chain, address):
        community = chain.manager_community
        if community is None:
            raise ConflictError(
                f"{address} is not a member on-chain: admit it from the manager's wallet"
                " (admitHousehold) first, or configure QUARTIER_MANAGER_KEY",
                "not-member-on-chain",
            )
        community.admit_household(address)
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
    session: Session, chain: V2Chain, settings: Settings, address: str, now: int
) -> ChallengeRow:
    """A one-time message (EIP-4361 layout) the household signs to get a token."""
    address = Web3.to_checksum_address(address)
    nonce = secrets.token_hex(12)
    expires_at = now + settings.challenge_seconds
    message = (
        f"quartier wants you to sign in with your Ethereum account:\n{address}\n\n"
        "Sign in to read your own Quartier data.\n\n"
        f"URI: quartier:api\nVersion: 1\nChain ID: {chain.domain.chain_id}\n"
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


def own_schedules(session: Session, address: str) -> list[ScheduleRow]:
    """Every schedule the household signed and this service accepted, newest period and
    version first (with where each is: pending, posted, refused)."""
    rows = session.exec(
        select(ScheduleRow)
        .where(ScheduleRow.household == address)
        .order_by(col(ScheduleRow.period_id).desc(), col(ScheduleRow.version).desc())
    ).all()
    return list(rows)


def own_schedules_settled(
    session: Session, chain: V2Chain, address: str
) -> list[tuple[ScheduleRow, HouseholdSettled | None]]:
    """`own_schedules`, each with its period's HouseholdSettled event for the household once
    the chain settled it (a posted schedule then ends as settled)."""
    rows = own_schedules(session, address)
    if not any(row.status == ScheduleStatus.POSTED for row in rows):
        return [(row, None) for row in rows]  # nothing can be settled: no chain read
    settled = {event.period_id: event for event in own_settlements(chain, address)}
    return [(row, settled.get(row.period_id)) for row in rows]


def own_settlements(chain: V2Chain, address: str) -> list[HouseholdSettled]:
    """The household's HouseholdSettled events (one per settled period it took part in),
    from the exchange's deployment block on, oldest first: the chain is the truth."""
    exchange = chain.exchange
    topic = next(
        event_abi_to_log_topic(item)
        for item in exchange.contract.abi
        if item["type"] == "event" and item["name"] == "HouseholdSettled"
    )
    params: FilterParams = {
        "address": exchange.contract.address,
        "fromBlock": chain.deployment.deploy_block,
        "toBlock": "latest",
        "topics": [HexBytes(topic), None, HexBytes(abi_encode(["address"], [address]))],
    }
    logs: list[LogReceipt] = sorted(
        chain.sender.w3.eth.get_logs(params),
        key=lambda log: (log["blockNumber"], log["logIndex"]),
    )
    events = (decode_log_v2(exchange.contract, log) for log in logs)
    return [event for event in events if isinstance(event, HouseholdSettled)]
