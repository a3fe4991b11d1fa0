"""Tables of the households domain: erasable profiles, login challenges, manager requests."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class HouseholdRow(SQLModel, table=True):
    """A member's off-chain profile: personal data, erased on request (row kept, fields null).

    The on-chain records (membership, schedules, settlements) are pseudonymous: the address stays.
    """

    __tablename__ = "household"

    address: str = Field(primary_key=True)  # checksum address
    name: str | None = None
    ean: str | None = None  # the connection point's EAN-18 (GSRN)
    contact: str | None = None
    #: Unix seconds are BIGINT: PostgreSQL's INTEGER is 32-bit and ends in 2038.
    admitted_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    erased_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ChallengeRow(SQLModel, table=True):
    """A one-time login challenge (Sign-In-with-Ethereum style)."""

    __tablename__ = "login_challenge"

    nonce: str = Field(primary_key=True)
    address: str
    message: str
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    used: bool = False


class ManagerRequestRow(SQLModel, table=True):
    """A manager-signed request already executed (a replayed signature is refused)."""

    __tablename__ = "manager_request"

    signature_hash: str = Field(primary_key=True)
    received_at: int = Field(sa_column=Column(BigInteger, nullable=False))
