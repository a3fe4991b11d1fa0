"""The browser tier: headless Chromium (Debian's `chromium`, driven by Playwright) against a
real `quartier serve` on a real Anvil, with a community whose day `quartier demo` played
and settled (9 households, seed 11: their keys are the demo's, `make_households`).

A test wallet is injected into each page as an EIP-1193 provider (`window.ethereum`):
its `request` calls a Python function (page.expose_function) that answers the accounts
and chain id and personal_signs with eth-account, so the page's own script and ethers do
exactly what they do with a real wallet. Screenshots go to $QUARTIER_SCREENSHOTS, by
default .cache/screenshots/ at the repository root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from web3 import Web3

from api.auth import sign_personal
from api.demo.neighbourhood import make_households, member_contracts
from api.security import manager_message
from ledger.anvil import AnvilNode, free_port
from ledger.community_config.example import example_ean, example_toml

ROOT = Path(__file__).resolve().parents[2]
QUARTIER = Path(sys.executable).with_name("quartier")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SEED = 11
#: Enough households for three producers at once (open data needs >= 3 behind a sum).
HOUSEHOLDS = 9
#: Anvil's public development key 0: the demo's deployer, so the community's manager.
MANAGER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
AUTH_SECRET = "browser-tier-secret"
SCREENSHOTS = Path(os.environ.get("QUARTIER_SCREENSHOTS", ROOT / ".cache" / "screenshots"))
NAMES = (
    "Amélie Dubois",
    "Bart Peeters",
    "Chloé Martin",
    "Daan Janssens",
    "Élise Lambert",
    "Femke Claes",
    "Gilles Renard",
    "Hanne Wouters",
    "Inès Lejeune",
)


@dataclass(frozen=True)
class Served:
    """The running service and what the tests know about its community."""

    url: str
    rpc_url: str
    deployment_file: Path
    #: The Brussels day the demo played (on the node's clock: today) and its settled period.
    day: str
    period_id: int
    keys: tuple[str, ...]
    addresses: tuple[str, ...]
    names: tuple[str, ...]


def _ean(body17: str) -> str:
    digits = [int(c) for c in body17]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return body17 + str((10 - total % 10) % 10)


def _admit(url: str, address: str, name: str, n: int) -> None:
    body = json.dumps(
        {
            "address": address,
            "name": name,
            "ean": _ean(f"5414488{n:010d}"),
            "contact": f"{name.split()[0].lower()}@example.org",
        }
    ).encode()
    now = int(time.time())
    signature = sign_personal(MANAGER_KEY, manager_message("POST", "/households", body, now))
    answer = httpx.post(
        f"{url}/households",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Quartier-Timestamp": str(now),
            "X-Quartier-Signature": signature,
        },
        timeout=60,
    )
    assert answer.status_code == 201, answer.text


def _community_toml() -> str:
    """The community file the service reads the members' supply contracts from: the
    example's rules and the demo's households with the contracts the demo drew for them."""
    header = example_toml().split("[[members]]")[0]
    members = []
    households = make_households(HOUSEHOLDS, SEED)
    contracts = member_contracts(HOUSEHOLDS, SEED)
    for n, (household, contract) in enumerate(zip(households, contracts, strict=True)):
        members.append(
            f'[[members]]\nname = "{NAMES[n]}"\nean = "{example_ean(n + 1)}"\n'
            f'address = "{household.account.address}"\n'
            f'contract = {{ dso = "{contract.dso}", supply = "{contract.supply}", '
            f'injection = "{contract.injection}" }}\n'
        )
    return header + "\n".join(members)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Anvil, a settled demo day on it, and `quartier serve` on that community."""
    work = tmp_path_factory.mktemp("browser")
    with AnvilNode() as node:
        demo = subprocess.run(
            [
                str(QUARTIER),
                "demo",
                "--rpc",
                node.url,
                "--households",
                str(HOUSEHOLDS),
                "--intervals",
                "8",
                "--start",
                "10:00",
                "--seed",
                str(SEED),
                "--deployment-dir",
                str(work),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert demo.returncode == 0, demo.stderr[-2000:]
        summary = json.loads(demo.stdout)
        deployment = Path(summary["deployment_file"])
        (period_id,) = summary["periods_settled"]
        # The demo's quarter-hours run from 10:00 UTC: the same day in Brussels.
        day = datetime.fromtimestamp(period_id * 86_400, UTC).date().isoformat()
        port = free_port()
        community_file = work / "community.toml"
        community_file.write_text(_community_toml(), encoding="utf-8")
        env = {
            **os.environ,
            "QUARTIER_RPC_URL": node.url,
            "QUARTIER_DEPLOYMENT": str(deployment),
            "QUARTIER_DATABASE_URL": f"sqlite:///{work / 'serve.db'}",
            "QUARTIER_AUTH_SECRET": AUTH_SECRET,
            "QUARTIER_MANAGER_KEY": "",
            "QUARTIER_COMMUNITY": str(community_file),
            # A loaded 2-core machine: the chain may take more than the default 3 s.
            "QUARTIER_CHAIN_DEADLINE_SECONDS": "60",
        }
        server = subprocess.Popen(
            [str(QUARTIER), "serve", "--port", str(port), "--no-relayer"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(url, server)
            households = make_households(HOUSEHOLDS, SEED)
            names = NAMES
            for n, (household, name) in enumerate(zip(households, names, strict=True)):
                _admit(url, household.account.address, name, n)
            yield Served(
                url,
                node.url,
                deployment,
                day,
                period_id,
                tuple("0x" + bytes(h.account.key).hex() for h in households),
                tuple(h.account.address for h in households),
                names,
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


class NodeRelay:
    """A JSON-RPC relay to `node_url` on a port of its own (HTTP/1.0: a connection a
    request); `stop()` closes the port, and every client of it sees the node down."""

    def __init__(self, node_url: str) -> None:
        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = httpx.post(
                    node_url, content=body, headers={"Content-Type": "application/json"}
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def own_service(served: Served, work: Path, rpc_url: str, **env: str) -> Iterator[str]:
    """A short-lived `quartier serve` of the served community (its own database), on
    `rpc_url` (a dead port: the node down) with `env`'s settings; its URL. Ready once the
    anonymous page answers (it needs no chain)."""
    port = free_port()
    server = subprocess.Popen(
        [str(QUARTIER), "serve", "--port", str(port), "--no-relayer"],
        env={
            **os.environ,
            "QUARTIER_RPC_URL": rpc_url,
            "QUARTIER_DEPLOYMENT": str(served.deployment_file),
            "QUARTIER_DATABASE_URL": f"sqlite:///{work / 'own.db'}",
            "QUARTIER_AUTH_SECRET": AUTH_SECRET,
            "QUARTIER_MANAGER_KEY": "",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(url, server, "/?lang=en")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for(url: str, server: subprocess.Popen[str], path: str = "/health") -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"quartier serve exited: {server.stderr and server.stderr.read()}")
        try:
            if httpx.get(f"{url}{path}", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("quartier serve did not answer within 180 s")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless (Playwright's own browser download is not used)."""
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    try:
        yield launched
    finally:
        launched.close()


#: The injected provider: window.ethereum.request forwards to the Python wallet, which
#: answers {result} or {error: {code, message}} (EIP-1193 errors, e.g. 4001 refused).
PROVIDER = """
window.ethereum = {
  isQuartierInjectedWallet: true,
  request: async ({ method, params }) => {
    const answer = await window.quartierWallet(method, params || []);
    if (answer.error) {
      const error = new Error(answer.error.message);
      error.code = answer.error.code;
      throw error;
    }
    return answer.result;
  },
  on: () => {},
  removeListener: () => {},
};
"""


@dataclass
class InjectedWallet:
    """A wallet that reports `address` and signs with `key` (another key: a wrong signer);
    `refuse` makes it reject every signature like a person pressing Cancel."""

    address: str
    key: str
    refuse: bool = False
    chain_id: int = 31337
    #: The EIP-712 typed data this wallet signed, in order (what a person approved).
    typed_signed: list[dict[str, Any]] = field(default_factory=list)
    #: The node the wallet sends transactions to and reads from (as a wallet's RPC).
    rpc_url: str | None = None
    #: Seconds the person takes before pressing Sign (a sign-in message may expire).
    sign_delay_seconds: float = 0

    def _rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        assert self.rpc_url is not None, f"this wallet has no node for {method}"
        answer = httpx.post(
            self.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=60,
        ).json()
        return {"error": answer["error"]} if "error" in answer else {"result": answer["result"]}

    def _send(self, tx: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            return {"error": {"code": 4001, "message": "User rejected the request."}}
        nonce = self._rpc("eth_getTransactionCount", [self.address, "pending"])["result"]
        gas_price = self._rpc("eth_gasPrice", [])["result"]
        call = {"from": self.address, "to": tx["to"], "data": tx.get("data", "0x")}
        gas = tx.get("gas") or self._rpc("eth_estimateGas", [call]).get("result")
        if gas is None:
            return self._rpc("eth_estimateGas", [call])  # the revert, as a wallet shows it
        signed = Account.sign_transaction(
            {
                "to": Web3.to_checksum_address(tx["to"]),
                "data": tx.get("data", "0x"),
                "value": int(tx.get("value", "0x0"), 16),
                "gas": int(gas, 16) * 2,
                "gasPrice": int(gas_price, 16),
                "nonce": int(nonce, 16),
                "chainId": self.chain_id,
            },
            self.key,
        )
        return self._rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])

    def __call__(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [self.address]}
        if method == "eth_chainId":
            return {"result": hex(self.chain_id)}
        if method == "net_version":
            return {"result": str(self.chain_id)}
        if method == "eth_signTypedData_v4":
            if self.refuse:
                return {"error": {"code": 4001, "message": "User rejected the request."}}
            typed = json.loads(str(params[1]))
            signed = Account.sign_typed_data(self.key, full_message=typed)
            self.typed_signed.append(typed)
            return {"result": "0x" + bytes(signed.signature).hex()}
        if method == "personal_sign":
            if self.refuse:
                return {"error": {"code": 4001, "message": "User rejected the request."}}
            time.sleep(self.sign_delay_seconds)
            message = bytes.fromhex(str(params[0])[2:])
            signed = Account.sign_message(encode_defunct(primitive=message), private_key=self.key)
            return {"result": "0x" + bytes(signed.signature).hex()}
        if method == "eth_sendTransaction":
            return self._send(dict(params[0]))
        if self.rpc_url is not None:
            return self._rpc(method, params)
        return {"error": {"code": 4200, "message": f"unsupported method {method}"}}


def open_page(browser: Browser, wallet: InjectedWallet | None, **context: Any) -> Page:
    """A fresh browser context (no cookies) with `wallet` injected."""
    page = browser.new_context(**context).new_page()
    if wallet is not None:
        page.expose_function("quartierWallet", wallet)
        page.add_init_script(PROVIDER)
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
