"""Meter key files: PKCS#8 PEM, passphrase-protected, mode 0600, one clear error when wrong."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from metering.errors import KeyFileError
from metering.keys import (
    MeterIdentity,
    generate_private_key,
    load_private_key,
    read_passphrase_file,
    save_private_key,
)
from metering.reading import PublicKey, meter_id_of


def quartier(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `quartier` entry point (api.cli.main) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_saved_key_is_encrypted_0600_and_loads_back(tmp_path: Path) -> None:
    key = generate_private_key()
    path = tmp_path / "meter.pem"
    save_private_key(key, path, b"correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = load_private_key(path, b"correct horse")
    assert MeterIdentity.of(loaded) == MeterIdentity.of(key)


def test_wrong_passphrase_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "meter.pem"
    save_private_key(generate_private_key(), path, b"right")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(path, b"wrong")
    with pytest.raises(KeyFileError, match="encrypted"):
        load_private_key(path, None)


def test_unencrypted_key_only_when_asked_and_refuses_a_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "meter.pem"
    save_private_key(generate_private_key(), path, None)
    assert b"BEGIN PRIVATE KEY" in path.read_bytes()
    with pytest.raises(KeyFileError, match="not encrypted"):
        load_private_key(path, b"anything")


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "meter.pem"
    path.write_text("precious")
    with pytest.raises(KeyFileError, match="already exists"):
        save_private_key(generate_private_key(), path, None)
    assert path.read_text() == "precious"


def test_passphrase_file_drops_one_newline_and_refuses_empty(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_bytes(b"s3cret\n")
    assert read_passphrase_file(path) == b"s3cret"
    path.write_bytes(b"\n")
    with pytest.raises(KeyFileError, match="empty"):
        read_passphrase_file(path)


def test_non_p256_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "k1.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256K1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="P-256"):
        load_private_key(path, None)


def test_cli_keygen_prints_the_meter_id_of_the_written_key(tmp_path: Path) -> None:
    (tmp_path / "pass").write_text("s3cret\n")
    out = tmp_path / "meter.pem"
    result = quartier(
        "meter", "keygen", "--out", str(out), "--passphrase-file", str(tmp_path / "pass"), "--json"
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    key = load_private_key(out, b"s3cret")
    public = PublicKey.from_cryptography(key.public_key())
    assert printed["meter_id"] == "0x" + meter_id_of(public).hex()
    assert int(printed["public_key"]["x"], 16) == public.x
    assert int(printed["public_key"]["y"], 16) == public.y
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_cli_keygen_needs_an_explicit_choice_about_encryption(tmp_path: Path) -> None:
    result = quartier("meter", "keygen", "--out", str(tmp_path / "k.pem"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "--passphrase-file or --no-encryption" in result.stderr
    assert not (tmp_path / "k.pem").exists()
