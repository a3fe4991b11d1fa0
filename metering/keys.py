"""P-256 meter keys: generated with `cryptography`, stored as PKCS#8 PEM, mode 0600.

A key file is encrypted with a passphrase unless the caller explicitly asks for none
(`quartier meter keygen --no-encryption`), e.g. for a test meter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from metering.errors import KeyFileError
from metering.reading import PublicKey, meter_id_of

KEY_FILE_MODE = 0o600


@dataclass(frozen=True)
class MeterIdentity:
    """What a meter key publishes: its public key and the derived meter id."""

    public_key: PublicKey
    meter_id: bytes

    @classmethod
    def of(cls, private_key: ec.EllipticCurvePrivateKey) -> MeterIdentity:
        """Derive the identity of a private key."""
        public_key = PublicKey.from_cryptography(private_key.public_key())
        return cls(public_key, meter_id_of(public_key))

    def to_json(self) -> dict[str, object]:
        """Return {"meter_id", "public_key": {"x", "y"}} as 0x-prefixed 32-byte hex."""
        return {
            "meter_id": "0x" + self.meter_id.hex(),
            "public_key": {
                "x": "0x" + self.public_key.x.to_bytes(32, "big").hex(),
                "y": "0x" + self.public_key.y.to_bytes(32, "big").hex(),
            },
        }


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    """Return a fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def read_passphrase_file(path: Path) -> bytes:
    """Read a passphrase from a file, dropping one trailing newline (as `echo` writes it)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read passphrase file {path}: {error.strerror}") from error
    for ending in (b"\r\n", b"\n"):
        if data.endswith(ending):
            data = data[: -len(ending)]
            break
    if not data:
        raise KeyFileError(f"passphrase file {path} is empty")
    return data


def save_private_key(
    private_key: ec.EllipticCurvePrivateKey, path: Path, passphrase: bytes | None
) -> None:
    """Write the key as PKCS#8 PEM with mode 0600; never overwrite an existing file.

    `passphrase=None` writes it unencrypted: callers must only do so on an explicit request.
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase is not None
        else serialization.NoEncryption()
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        # O_EXCL: a meter key is an identity; silently replacing one would orphan the meter.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError as error:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a meter key") from error
    except OSError as error:
        raise KeyFileError(f"cannot create key file {path}: {error.strerror}") from error
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(path, KEY_FILE_MODE)  # the umask may have removed bits, never added: be exact


def load_private_key(path: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    """Load a P-256 key from a PKCS#8 PEM file, with its passphrase if it is encrypted."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read key file {path}: {error.strerror}") from error
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError as error:
        # cryptography raises TypeError for "encrypted but no password" and the reverse.
        if passphrase is None:
            raise KeyFileError(f"{path} is encrypted: give --passphrase-file") from error
        raise KeyFileError(f"{path} is not encrypted: drop --passphrase-file") from error
    except ValueError as error:
        raise KeyFileError(
            f"cannot decrypt {path}: wrong passphrase or not a PEM private key"
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} does not hold a P-256 (secp256r1) key")
    return key
