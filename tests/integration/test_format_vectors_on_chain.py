"""The test vectors of ledger/FORMATS.md against the contracts and precompiles on Anvil.

Calls are built by hand from the document (function selectors, ABI words), as a third
party's code would, so a contract whose digest, meter id or domain moved from the document
fails here. The exchange's runtime code is copied to the vectors' verifying contract address
(`anvil_setCode`; its EIP-712 domain follows `address(this)`), so the contract itself
computes the vectors' exact digests. The sign-in message served by the API is the
document's template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient
from web3 import Web3

from api.app import create_app
from api.auth import sign_personal
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment

pytestmark = pytest.mark.integration

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
#: The P256VERIFY precompile (RIP-7212 / EIP-7951) and ecrecover.
P256VERIFY = "0x0000000000000000000000000000000000000100"
ECRECOVER = "0x0000000000000000000000000000000000000001"


def vector(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return loaded


def b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.removeprefix("0x"))


def call(w3: Web3, to: str, signature: str | None, types: list[str], args: list[Any]) -> bytes:
    selector = keccak(text=signature)[:4] if signature else b""
    data = selector + abi_encode(types, args)
    return bytes(w3.eth.call({"to": Web3.to_checksum_address(to), "data": data}))


@pytest.fixture(scope="module")
def deployed(manager: Sender) -> Deployment:
    deployment = deploy_community_v2(manager)
    exchange = deployment.address("QuartierExchange")
    code = manager.w3.eth.get_code(Web3.to_checksum_address(exchange))
    target = vector("domain")["verifying_contract"]
    manager.w3.provider.make_request("anvil_setCode", [target, "0x" + bytes(code).hex()])  # type: ignore[arg-type]
    return deployment


def test_domain_separator_of_the_exchange(manager: Sender, deployed: Deployment) -> None:
    v = vector("domain")
    assert manager.w3.eth.chain_id == v["chain_id"]
    answer = call(manager.w3, v["verifying_contract"], "domainSeparator()", [], [])
    assert answer == b(v["separator"])
    # The deployed exchange: the same rule at its own address.
    exchange = deployed.address("QuartierExchange")
    expected = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [b(v["typehash"]), b(v["name_hash"]), b(v["version_hash"]), v["chain_id"], exchange],
        )
    )
    assert call(manager.w3, exchange, "domainSeparator()", [], []) == expected


def test_schedule_digest_and_signature_on_chain(manager: Sender, deployed: Deployment) -> None:
    v = vector("schedule")
    s = v["schedule"]
    schedule = (
        s["household"],
        s["period_id"],
        s["version"],
        s["first_interval_id"],
        b(v["entries_bytes"]),
    )
    answer = call(
        manager.w3,
        v["domain"]["verifying_contract"],
        "scheduleDigest((address,uint64,uint32,uint64,bytes))",
        ["(address,uint64,uint32,uint64,bytes)"],
        [schedule],
    )
    assert answer == b(v["digest"])
    sig = v["signature"]
    recovered = call(
        manager.w3,
        ECRECOVER,
        None,
        ["bytes32", "uint8", "bytes32", "bytes32"],
        [b(v["digest"]), sig["v"], b(sig["r"]), b(sig["s"])],
    )
    assert Web3.to_checksum_address(abi_decode(["address"], recovered)[0]) == s["household"]


def test_meter_id_batch_digest_and_p256_signature_on_chain(
    manager: Sender, deployed: Deployment
) -> None:
    key, v = vector("meter_key"), vector("meter_batch")
    x, y = int(key["public_key"]["x"], 16), int(key["public_key"]["y"], 16)
    meter_id = call(
        manager.w3,
        deployed.address("QuartierCommunity"),
        "meterIdOf(uint256,uint256)",
        ["uint256", "uint256"],
        [x, y],
    )
    assert meter_id == b(key["meter_id"])
    batch = v["batch"]
    answer = call(
        manager.w3,
        v["domain"]["verifying_contract"],
        "meterBatchDigest(bytes32,uint64,uint64,uint64,bytes)",
        ["bytes32", "uint64", "uint64", "uint64", "bytes"],
        [
            b(batch["meter_id"]),
            batch["period_id"],
            batch["start_import_wh"],
            batch["start_export_wh"],
            b(v["deltas_bytes"]),
        ],
    )
    assert answer == b(v["digest"])
    for name in ("meter_batch", "reading"):
        signed = vector(name)
        r, s = int(signed["signature"]["r"], 16), int(signed["signature"]["s"], 16)
        words = b(signed["digest"]) + b"".join(n.to_bytes(32, "big") for n in (r, s, x, y))
        verdict = bytes(manager.w3.eth.call({"to": P256VERIFY, "data": words}))
        assert verdict == (1).to_bytes(32, "big"), name


def test_token_has_six_decimals(manager: Sender, deployed: Deployment) -> None:
    answer = call(manager.w3, deployed.address("QuartierToken"), "decimals()", [], [])
    assert abi_decode(["uint8"], answer)[0] == vector("units")["token_decimals"]


def test_served_sign_in_message_is_the_documented_template(
    anvil: AnvilNode, deployed: Deployment
) -> None:
    v = vector("sign_in")
    now = 1_781_978_400  # 2026-06-20T18:00:00Z
    settings = Settings(rpc_url=anvil.url, database_url="sqlite://", run_relayer=False)
    app = create_app(settings, chain=V2Chain.from_settings(settings, deployed), clock=lambda: now)
    address = Account.from_key(v["private_key"]).address
    with TestClient(app) as client:
        challenge = client.post("/auth/challenge", json={"address": address})
        assert challenge.status_code == 200, challenge.text
        served = challenge.json()
        fields = {
            **v["fields"],
            "address": address,
            "nonce": served["nonce"],
            "issued_at": "2026-06-20T18:00:00Z",
            "expiration_time": "2026-06-20T18:05:00Z",
        }
        assert served["message"] == v["template"].format(**fields)
        assert served["expires_at"] == now + settings.challenge_seconds
        signature = sign_personal(v["private_key"], served["message"])
        token = client.post("/auth/token", json={"nonce": served["nonce"], "signature": signature})
        assert token.status_code == 200, token.text
        assert token.json()["access_token"].startswith(f"{address}.{now + settings.token_seconds}.")
