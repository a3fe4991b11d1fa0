"""The meter's period batch (protocol v2): one P-256 signature over a whole settlement period.

A `MeterPeriod` holds a meter's cumulative registers at the start of period P and, per
interval of P, the energy imported and exported during it; the registers at every boundary
of the period follow from them. It is hashed as the EIP-712 struct

    MeterPeriod(bytes32 meterId,uint64 periodId,uint64 startImportWh,uint64 startExportWh,
                bytes deltas)

(`deltas`: 8 bytes per interval, uint32 import Wh then uint32 export Wh, big-endian; as a
`bytes` member it enters the struct hash as its keccak256) under the domain ("Quartier", "2",
chain id, QuartierExchange address), and the digest is signed with the meter's P-256 key as a
prehashed message under the one P-256 rule of `metering.signing` (low s: s <= n/2, the signer
normalises, the verifier refuses the high-s twin, as OpenZeppelin's `P256.verify` in the
exchange does). The normative text is IQuartierExchange, "Meter batches".

Like `metering.reading`, this module is a value type that `ledger` imports: keep it light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from metering.errors import (
    BoundaryCountError,
    PeriodFormatError,
    RegistersDecreasedError,
)
from metering.reading import PublicKey, meter_id_of
from metering.signing import DOMAIN_VERSION, domain_separator, is_valid_signature, sign_digest
from metering.signing import P256_HALF_ORDER as P256_HALF_ORDER  # re-exported
from metering.signing import low_s as low_s  # re-exported

#: Protocol v2's EIP-712 domain version (the one domain of `metering.signing`).
DOMAIN_VERSION_V2 = DOMAIN_VERSION
#: The v2 domain separator (`metering.signing.domain_separator`), under its historical name.
domain_separator_v2 = domain_separator
METER_PERIOD_TYPE = (
    "MeterPeriod(bytes32 meterId,uint64 periodId,uint64 startImportWh,uint64 startExportWh,"
    "bytes deltas)"
)
METER_PERIOD_TYPEHASH = keccak(text=METER_PERIOD_TYPE)
#: Bytes of one interval in `deltas`: uint32 import Wh, uint32 export Wh.
DELTA_BYTES = 8
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1

#: Energy (import Wh, export Wh) of one interval, or registers (import, export) at a boundary.
WhPair = tuple[int, int]


def _uint(name: str, value: object, maximum: int) -> int:
    # bool is an int subclass; True as a register is always a bug upstream.
    if not isinstance(value, int) or isinstance(value, bool):
        raise PeriodFormatError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise PeriodFormatError(f"{name} must lie in [0, {maximum}], got {value}")
    return value


def encode_deltas(deltas: Sequence[WhPair]) -> bytes:
    """The `deltas` bytes: per interval uint32 import Wh then uint32 export Wh, big-endian."""
    out = bytearray()
    for index, (import_wh, export_wh) in enumerate(deltas):
        _uint(f"deltas[{index}] import_wh", import_wh, _UINT32_MAX)
        _uint(f"deltas[{index}] export_wh", export_wh, _UINT32_MAX)
        out += import_wh.to_bytes(4, "big") + export_wh.to_bytes(4, "big")
    return bytes(out)


def decode_deltas(data: bytes) -> tuple[WhPair, ...]:
    """The per-interval (import Wh, export Wh) of a `deltas` byte string."""
    if len(data) % DELTA_BYTES:
        raise PeriodFormatError(f"deltas must be 8 bytes per interval, got {len(data)} bytes")
    return tuple(
        (
            int.from_bytes(data[at : at + 4], "big"),
            int.from_bytes(data[at + 4 : at + 8], "big"),
        )
        for at in range(0, len(data), DELTA_BYTES)
    )


@dataclass(frozen=True)
class MeterPeriod:
    """One meter's registers over period `period_id`: the start and one delta per interval."""

    meter_id: bytes
    period_id: int
    start_import_wh: int
    start_export_wh: int
    deltas: tuple[WhPair, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.meter_id, bytes) or len(self.meter_id) != 32:
            raise PeriodFormatError("meter_id must be exactly 32 bytes")
        _uint("period_id", self.period_id, _UINT64_MAX)
        _uint("start_import_wh", self.start_import_wh, _UINT64_MAX)
        _uint("start_export_wh", self.start_export_wh, _UINT64_MAX)
        object.__setattr__(self, "deltas", tuple(tuple(pair) for pair in self.deltas))
        if not self.deltas:
            raise PeriodFormatError("a period batch covers at least one interval")
        # Validates every delta as uint32 once; the bytes are what is hashed and sent.
        object.__setattr__(self, "_deltas_bytes", encode_deltas(self.deltas))
        # The contract adds the deltas to the uint64 registers: the end must fit too.
        _uint("end_import_wh", self.end_import_wh, _UINT64_MAX)
        _uint("end_export_wh", self.end_export_wh, _UINT64_MAX)

    @classmethod
    def from_deltas_bytes(
        cls,
        meter_id: bytes,
        period_id: int,
        start_import_wh: int,
        start_export_wh: int,
        deltas: bytes,
    ) -> MeterPeriod:
        """Rebuild a batch from its wire fields (as posted or as read back from calldata)."""
        return cls(meter_id, period_id, start_import_wh, start_export_wh, decode_deltas(deltas))

    @property
    def deltas_bytes(self) -> bytes:
        """The `deltas` field as signed and sent."""
        encoded: bytes = self.__dict__["_deltas_bytes"]
        return encoded

    @property
    def interval_count(self) -> int:
        return len(self.deltas)

    @cached_property
    def end_import_wh(self) -> int:
        return self.start_import_wh + sum(import_wh for import_wh, _ in self.deltas)

    @cached_property
    def end_export_wh(self) -> int:
        return self.start_export_wh + sum(export_wh for _, export_wh in self.deltas)

    def boundaries(self) -> list[WhPair]:
        """The cumulative (import, export) registers at the interval_count + 1 boundaries."""
        import_wh, export_wh = self.start_import_wh, self.start_export_wh
        registers = [(import_wh, export_wh)]
        for delta_import, delta_export in self.deltas:
            import_wh += delta_import
            export_wh += delta_export
            registers.append((import_wh, export_wh))
        return registers


def build_meter_period(
    meter_id: bytes, period_id: int, boundaries: Sequence[WhPair], period_intervals: int
) -> MeterPeriod:
    """The batch of period `period_id` from the cumulative registers at its every boundary.

    `boundaries[i]` holds the (import Wh, export Wh) registers at start(first interval + i),
    so a period of `period_intervals` intervals needs period_intervals + 1 of them (what a
    meter agent has read). Registers never decrease: a drop raises RegistersDecreasedError
    naming the boundary, a wrong count BoundaryCountError.
    """
    _uint("period_intervals", period_intervals, _UINT32_MAX)
    if len(boundaries) != period_intervals + 1:
        raise BoundaryCountError(
            f"a period of {period_intervals} intervals has {period_intervals + 1} boundaries, "
            f"got {len(boundaries)} register readings"
        )
    deltas: list[WhPair] = []
    for index in range(1, len(boundaries)):
        (import_before, export_before), (import_after, export_after) = (
            boundaries[index - 1],
            boundaries[index],
        )
        if import_after < import_before or export_after < export_before:
            raise RegistersDecreasedError(
                f"registers decrease at boundary {index} of period {period_id}: "
                f"({import_before}, {export_before}) -> ({import_after}, {export_after})"
            )
        deltas.append((import_after - import_before, export_after - export_before))
    start_import_wh, start_export_wh = boundaries[0]
    return MeterPeriod(meter_id, period_id, start_import_wh, start_export_wh, tuple(deltas))


def struct_hash(period: MeterPeriod) -> bytes:
    """The EIP-712 hashStruct of a batch (`deltas` enters as its keccak256)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "uint64", "uint64", "uint64", "bytes32"],
            [
                METER_PERIOD_TYPEHASH,
                period.meter_id,
                period.period_id,
                period.start_import_wh,
                period.start_export_wh,
                keccak(period.deltas_bytes),
            ],
        )
    )


def meter_period_digest(period: MeterPeriod, chain_id: int, exchange_address: str | bytes) -> bytes:
    """The 32-byte digest the meter signs: keccak256(0x1901 || domain || structHash)."""
    return keccak(b"\x19\x01" + domain_separator(chain_id, exchange_address) + struct_hash(period))


@dataclass(frozen=True)
class SignedMeterPeriod:
    """A batch with the meter's P-256 signature (r, s), s in low form."""

    period: MeterPeriod
    r: int
    s: int

    def __post_init__(self) -> None:
        _uint("signature r", self.r, 2**256 - 1)
        _uint("signature s", self.s, 2**256 - 1)

    @property
    def signature(self) -> bytes:
        """r || s, 32 bytes each: the `signature` field of MeterBatch / MeterData."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big")

    def as_abi(self) -> tuple[bytes, int, int, int, bytes, bytes]:
        """The IQuartierExchange.MeterBatch tuple (for postMeterBatches)."""
        p = self.period
        return (
            p.meter_id,
            p.period_id,
            p.start_import_wh,
            p.start_export_wh,
            p.deltas_bytes,
            self.signature,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON shape for agents and relayers: hex for bytes, integers for Wh."""
        p = self.period
        return {
            "meter_id": "0x" + p.meter_id.hex(),
            "period_id": p.period_id,
            "start_import_wh": p.start_import_wh,
            "start_export_wh": p.start_export_wh,
            "deltas": "0x" + p.deltas_bytes.hex(),
            "signature": "0x" + self.signature.hex(),
        }


def sign_meter_period(
    private_key: ec.EllipticCurvePrivateKey,
    period: MeterPeriod,
    chain_id: int,
    exchange_address: str | bytes,
) -> SignedMeterPeriod:
    """Sign a batch with the meter's P-256 key (low s); its meter_id must be that key's id."""
    public_key = PublicKey.from_cryptography(private_key.public_key())
    if meter_id_of(public_key) != period.meter_id:
        raise PeriodFormatError("period.meter_id is not the id of the signing key")
    r, s = sign_digest(private_key, meter_period_digest(period, chain_id, exchange_address))
    return SignedMeterPeriod(period, r, s)


def verify_meter_period(
    signed: SignedMeterPeriod,
    public_key: PublicKey,
    chain_id: int,
    exchange_address: str | bytes,
) -> bool:
    """True when `public_key` is the batch's meter and signed it with a low-s signature.

    The exchange's rule (OpenZeppelin P256.verify): 0 < r < n and 0 < s <= n/2, so the
    high-s twin of a valid signature is refused. Never raises for a bad key or signature.
    """
    if meter_id_of(public_key) != signed.period.meter_id:
        return False
    digest = meter_period_digest(signed.period, chain_id, exchange_address)
    return is_valid_signature(public_key.x, public_key.y, digest, signed.r, signed.s)


def meter_batch_body(signed: SignedMeterPeriod, public_key: PublicKey) -> dict[str, Any]:
    """The body of the API's `POST /meter-batches`: integers for Wh, one object per delta,
    0x + 64 hex digits for the key and the signature."""
    period = signed.period
    return {
        "meter_id": "0x" + period.meter_id.hex(),
        "period_id": period.period_id,
        "start_import_wh": period.start_import_wh,
        "start_export_wh": period.start_export_wh,
        "deltas": [{"import_wh": i, "export_wh": e} for i, e in period.deltas],
        "public_key": {"x": f"0x{public_key.x:064x}", "y": f"0x{public_key.y:064x}"},
        "signature": {"r": f"0x{signed.r:064x}", "s": f"0x{signed.s:064x}"},
    }


def meter_batch_of_body(body: object) -> tuple[SignedMeterPeriod, PublicKey]:
    """Parse a `meter_batch_body` back (a spooled batch); PeriodFormatError when it is not one.

    Does not verify the signature: call `verify_meter_period` for that.
    """
    if not isinstance(body, dict):
        raise PeriodFormatError("a meter batch body is a JSON object")
    try:
        deltas = tuple((d["import_wh"], d["export_wh"]) for d in body["deltas"])
        period = MeterPeriod(
            bytes.fromhex(body["meter_id"][2:]),
            body["period_id"],
            body["start_import_wh"],
            body["start_export_wh"],
            deltas,
        )
        key = PublicKey(int(body["public_key"]["x"], 16), int(body["public_key"]["y"], 16))
        signed = SignedMeterPeriod(
            period, int(body["signature"]["r"], 16), int(body["signature"]["s"], 16)
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PeriodFormatError(f"not a meter batch body: {error!r}") from None
    return signed, key
