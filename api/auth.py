"""Signed requests and login tokens (no passwords: everyone is an Ethereum key).

- Schedules authenticate themselves (their EIP-712 signature, `ledger.schedules`).
- Other household or manager actions carry an EIP-191 `personal_sign` signature over a
  message naming the action (`recover_personal`), as any wallet can produce.
- Reading one's own data: sign a one-time login challenge (Sign-In-with-Ethereum style),
  get a short-lived bearer token: `address.expiry.hmac` (HMAC-SHA256 with the service's
  secret), checked without a DB round trip.

Every household signature is first held to the contracts' rule (`ledger.signatures`: 65
bytes, v in {27, 28}, low s), so what the API accepts the chain accepts too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

from api.errors import AuthenticationError
from ledger.signatures import SignatureRuleError, check_signature

_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
_TOKEN = re.compile(r"[0-9A-Za-z_.\-]{1,200}")


def recover_personal(message: str, signature: str) -> str:
    """The checksum address that personal_sign-ed `message` (AuthenticationError if none)."""
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise AuthenticationError(
            "signature must be 0x followed by 130 hex digits (r, s, v)", "malformed-signature"
        )
    try:
        check_signature(bytes.fromhex(signature[2:]))
    except SignatureRuleError as error:
        raise AuthenticationError(
            f"signature refused: {error}", "non-canonical-signature", rule=error.reason
        ) from None
    try:
        address = Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception as error:  # eth-keys raises several types for a malformed signature
        raise AuthenticationError(f"signature does not recover an address: {error}") from None
    return Web3.to_checksum_address(address)


def sign_personal(private_key: str, message: str) -> str:
    """personal_sign `message` (what a wallet does); for clients and tests."""
    signed = Account.sign_message(encode_defunct(text=message), private_key=private_key)
    return "0x" + bytes(signed.signature).hex()


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(secret: bytes, address: str, expires_at: int) -> str:
    """A bearer token for `address` valid until `expires_at` (unix seconds)."""
    payload = f"{Web3.to_checksum_address(address)}.{expires_at}"
    return f"{payload}.{_mac(secret, payload)}"


def check_token(secret: bytes, token: str, now_seconds: int) -> str:
    """The address a valid, unexpired token was issued to (AuthenticationError otherwise)."""
    # Tokens are ASCII; hmac.compare_digest raises TypeError on other strings.
    if not _TOKEN.fullmatch(token):
        raise AuthenticationError("malformed token", "invalid-token")
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationError("malformed token", "invalid-token")
    address, expiry, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, f"{address}.{expiry}")):
        raise AuthenticationError("token signature mismatch", "invalid-token")
    if not expiry.isdigit() or int(expiry) <= now_seconds:
        raise AuthenticationError("token expired: sign in again", "token-expired")
    return address
