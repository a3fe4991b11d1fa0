"""The household's signed Schedule (protocol v2): the entry codec, EIP-712 digest, signing.

A household signs one EIP-712

    Schedule(address household,uint64 periodId,uint32 version,uint64 firstIntervalId,
             bytes entries)

under the domain ("Quartier", "2", chain id, QuartierExchange address) shared with the
meters' period batches (`metering.period.domain_separator_v2`), with its secp256k1 key:
65 bytes r || s || v, v in {27, 28}, low s (what eth-account produces and OpenZeppelin's
ECDSA requires). `entries` packs 8 bytes per interval from `firstIntervalId` on: byte 0 the
side (0 none, 1 sell, 2 buy), bytes 1-3 energy Wh (uint24), bytes 4-7 price per kWh (uint32),
big-endian; their codec is `ledger.entries` (re-exported here), which has no chain
dependency so the pure rule in `api.settlement` can share it (DESIGN: api -> ledger). The
normative text is IQuartierExchange, "Schedules (the book)".

Money rule mirrored here: a posting locks ceil(Σ over its buy entries energy_wh *
price_per_kwh / 1000) units of the household's free escrow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import is_address, to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from ledger.entries import (
    ENERGY_WH_MAX,
    ENTRY_BYTES,
    NO_ENTRY,
    PRICE_PER_KWH_MAX,
    EntriesFormatError,
    Entry,
    EntrySide,
    ScheduleFormatError,
    check_uint,
    decode_entries,
    encode_entries,
    first_small_entry,
    lock_units,
)
from ledger.signatures import SignatureRuleError, check_signature, recover_address
from metering.period import DOMAIN_VERSION_V2, domain_separator_v2
from metering.reading import DOMAIN_NAME

SCHEDULE_TYPE = (
    "Schedule(address household,uint64 periodId,uint32 version,uint64 firstIntervalId,"
    "bytes entries)"
)
SCHEDULE_TYPEHASH = keccak(text=SCHEDULE_TYPE)
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1

__all__ = [
    "ENERGY_WH_MAX",
    "ENTRY_BYTES",
    "NO_ENTRY",
    "PRICE_PER_KWH_MAX",
    "SCHEDULE_TYPE",
    "SCHEDULE_TYPEHASH",
    "EntriesFormatError",
    "Entry",
    "EntrySide",
    "Schedule",
    "ScheduleFormatError",
    "SignedSchedule",
    "decode_entries",
    "encode_entries",
    "first_small_entry",
    "lock_units",
    "posting_chain_head",
    "schedule_body",
    "schedule_digest",
    "schedule_signer",
    "schedule_struct_hash",
    "schedule_typed_data",
    "sign_schedule",
    "struct_hash_of",
    "verify_schedule",
]


@dataclass(frozen=True)
class Schedule:
    """A household's plan for (part of) period `period_id`, from `first_interval_id` on."""

    household: str
    period_id: int
    version: int
    first_interval_id: int
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.household, str) or not is_address(self.household):
            raise ScheduleFormatError(f"household is not an address: {self.household!r}")
        object.__setattr__(self, "household", to_checksum_address(self.household))
        check_uint("period_id", self.period_id, _UINT64_MAX)
        check_uint("version", self.version, _UINT32_MAX)
        check_uint("first_interval_id", self.first_interval_id, _UINT64_MAX)
        object.__setattr__(self, "entries", tuple(self.entries))
        if not all(isinstance(entry, Entry) for entry in self.entries):
            raise ScheduleFormatError("entries must be Entry values")

    @classmethod
    def from_entries_bytes(
        cls, household: str, period_id: int, version: int, first_interval_id: int, data: bytes
    ) -> Schedule:
        """Rebuild a schedule from its wire fields (as posted or read back from calldata)."""
        return cls(household, period_id, version, first_interval_id, decode_entries(data))

    @property
    def entries_bytes(self) -> bytes:
        return encode_entries(self.entries)

    @property
    def lock_units(self) -> int:
        """The free escrow a posting of this schedule locks."""
        return lock_units(self.entries)

    def interval_ids(self) -> range:
        """The intervals this schedule has entries for."""
        return range(self.first_interval_id, self.first_interval_id + len(self.entries))

    def as_abi(self) -> tuple[str, int, int, int, bytes]:
        """The IQuartierExchange.Schedule tuple."""
        return (
            self.household,
            self.period_id,
            self.version,
            self.first_interval_id,
            self.entries_bytes,
        )

    def as_posting(self) -> tuple[int, int, bytes]:
        """The IQuartierExchange.Posting tuple settlement re-supplies (no signature)."""
        return (self.version, self.first_interval_id, self.entries_bytes)


def schedule_struct_hash(schedule: Schedule) -> bytes:
    """The EIP-712 hashStruct of a schedule (`entries` enters as its keccak256)."""
    return struct_hash_of(
        to_canonical_address(schedule.household),
        schedule.period_id,
        schedule.version,
        schedule.first_interval_id,
        schedule.entries_bytes,
    )


def struct_hash_of(
    household: bytes, period_id: int, version: int, first_interval_id: int, entries: bytes
) -> bytes:
    """`schedule_struct_hash` from the wire fields (`household` its 20 bytes), for callers
    that hold them already checked (the intake). The ABI encoding of these static fields is
    each one's 32-byte big-endian word (eth_abi's `encode` gives the same bytes, ~10x
    slower: tests/unit/ledger checks both); a value out of its width is ScheduleFormatError.
    """
    if len(household) != 20:
        raise ScheduleFormatError("a household address is 20 bytes")
    check_uint("period_id", period_id, _UINT64_MAX)
    check_uint("version", version, _UINT32_MAX)
    check_uint("first_interval_id", first_interval_id, _UINT64_MAX)
    return keccak(
        SCHEDULE_TYPEHASH
        + bytes(12)
        + household
        + period_id.to_bytes(32, "big")
        + version.to_bytes(32, "big")
        + first_interval_id.to_bytes(32, "big")
        + keccak(entries)
    )


def schedule_digest(schedule: Schedule, chain_id: int, exchange_address: str) -> bytes:
    """The digest the household signs: keccak256(0x1901 || domain || structHash)."""
    domain = domain_separator_v2(chain_id, exchange_address)
    return keccak(b"\x19\x01" + domain + schedule_struct_hash(schedule))


#: Bytes of the posting chain's head the exchange keeps (192 bits, so the record fits a slot).
CHAIN_HEAD_BYTES = 24


def posting_chain_head(schedules: Iterable[Schedule], head: bytes = bytes(32)) -> bytes:
    """The exchange's hash chain over postings, as `scheduleRecord` returns it:
    head' = high 24 bytes of keccak256(abi.encode(head, structHash)), then 8 zero bytes."""
    for schedule in schedules:
        digest = keccak(abi_encode(["bytes32", "bytes32"], [head, schedule_struct_hash(schedule)]))
        head = digest[:CHAIN_HEAD_BYTES] + bytes(32 - CHAIN_HEAD_BYTES)
    return head


@dataclass(frozen=True)
class SignedSchedule:
    """A schedule with the household's 65-byte r || s || v signature."""

    schedule: Schedule
    signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.signature, bytes) or len(self.signature) != 65:
            raise ScheduleFormatError("a schedule signature is 65 bytes r || s || v")

    def as_abi(self) -> tuple[tuple[str, int, int, int, bytes], bytes]:
        """The IQuartierExchange.SignedSchedule tuple (for postSchedules)."""
        return (self.schedule.as_abi(), self.signature)


def sign_schedule(
    private_key: bytes | str, schedule: Schedule, chain_id: int, exchange_address: str
) -> SignedSchedule:
    """Sign with the household's key, which must be the schedule's household.

    Signs the digest computed here (eth-account's typed-data encoder gives the same bytes:
    tests/unit/ledger checks it) — ~10x faster than `sign_typed_data` for a relayer's tests.
    """
    account = Account.from_key(private_key)
    if account.address != schedule.household:
        raise ScheduleFormatError(
            f"the key of {account.address} cannot sign {schedule.household}'s schedule"
        )
    signed = Account.unsafe_sign_hash(
        schedule_digest(schedule, chain_id, exchange_address), account.key
    )
    return SignedSchedule(schedule, bytes(signed.signature))


def schedule_signer(signed: SignedSchedule, chain_id: int, exchange_address: str) -> str:
    """The address that signed the schedule, if its signature has the form the exchange
    accepts (`ledger.signatures`: v in {27, 28}, low s); otherwise SignatureRuleError.
    ValueError when no key recovers (ecrecover would answer address(0))."""
    form = check_signature(signed.signature)
    digest = schedule_digest(signed.schedule, chain_id, exchange_address)
    signer = recover_address(digest, form)
    if signer is None:
        raise ValueError("no key recovers from this signature")
    return to_checksum_address(signer)


def verify_schedule(signed: SignedSchedule, chain_id: int, exchange_address: str) -> bool:
    """True iff the exchange would take the signature: canonical and by the household."""
    try:
        return schedule_signer(signed, chain_id, exchange_address) == signed.schedule.household
    except (SignatureRuleError, ValueError):  # ValueError: no key to recover
        return False


def schedule_typed_data(schedule: Schedule, chain_id: int, exchange_address: str) -> dict[str, Any]:
    """The full EIP-712 typed data (eth_signTypedData_v4 shape) a wallet is asked to sign."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Schedule": [
                {"name": "household", "type": "address"},
                {"name": "periodId", "type": "uint64"},
                {"name": "version", "type": "uint32"},
                {"name": "firstIntervalId", "type": "uint64"},
                {"name": "entries", "type": "bytes"},
            ],
        },
        "primaryType": "Schedule",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION_V2,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(exchange_address),
        },
        "message": {
            "household": schedule.household,
            "periodId": schedule.period_id,
            "version": schedule.version,
            "firstIntervalId": schedule.first_interval_id,
            "entries": "0x" + schedule.entries_bytes.hex(),
        },
    }


_SIDE_NAMES = {EntrySide.NONE: "none", EntrySide.SELL: "sell", EntrySide.BUY: "buy"}


def schedule_body(schedule: Schedule, signature: bytes | None = None) -> dict[str, Any]:
    """`schedule` as the body of POST /schedules; without `signature` (a page whose wallet
    signs it next), the body lacks only its "signature" field."""
    body: dict[str, Any] = {
        "household": schedule.household,
        "period_id": schedule.period_id,
        "version": schedule.version,
        "first_interval_id": schedule.first_interval_id,
        "entries": [
            {
                "side": _SIDE_NAMES[e.side],
                "energy_wh": e.energy_wh,
                "price_per_kwh": e.price_per_kwh,
            }
            for e in schedule.entries
        ],
    }
    if signature is not None:
        body["signature"] = "0x" + signature.hex()
    return body
