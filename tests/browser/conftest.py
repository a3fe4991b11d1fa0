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

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import numpy as np
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from web3 import Web3

from api.auth import sign_personal
from api.demo.neighbourhood import make_households, member_contracts
from api.pages.production import HEADER, demo_production_rows
from api.security import manager_message
from ledger.anvil import AnvilNode, free_port
from ledger.community_config.example import example_ean, example_toml
from ledger.deployment import load_deployment
from ledger.dso.calendar import month_quarter_hours
from ledger.dso.chain_meters import read_chain_meters
from ledger.dso.reconcile import Member, reconcile
from ledger.dso.sample import write_csv
from ledger.dso.workbook import GROSS, Column, Direction, read_month

ROOT = Path(__file__).resolve().parents[2]
QUARTIER = Path(sys.executable).with_name("quartier")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SEED = 11
#: The day the demo simulates (its meters and PV), moved onto the node's day.
SIMULATED_DAY = "2026-06-21"
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
    #: The members' EANs (community file) and the community file itself.
    eans: tuple[str, ...]
    community_file: Path
    #: The production file's Wh per EAN and quarter-hour start (the demo's simulated PV).
    production: dict[str, dict[int, int]]
    #: What `quartier dso reconcile --json` wrote for the manager's page.
    reconciliation: dict[str, Any]


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


def community_toml(without_contract: tuple[int, ...] = ()) -> str:
    """The community file the service reads the members' supply contracts and EANs from:
    the example's rules and the demo's households with the contracts the demo drew for
    them (none for the households `without_contract`)."""
    header = example_toml().split("[[members]]")[0]
    members = []
    households = make_households(HOUSEHOLDS, SEED)
    contracts = member_contracts(HOUSEHOLDS, SEED)
    for n, (household, contract) in enumerate(zip(households, contracts, strict=True)):
        members.append(
            f'[[members]]\nname = "{NAMES[n]}"\nean = "{example_ean(n + 1)}"\n'
            f'address = "{household.account.address}"\n'
            + (
                ""
                if n in without_contract
                else f'contract = {{ dso = "{contract.dso}", supply = "{contract.supply}", '
                f'injection = "{contract.injection}" }}\n'
            )
        )
    return header + "\n".join(members)


def _production_file(path: Path, period_id: int, eans: list[str]) -> dict[str, dict[int, int]]:
    """The demo households' simulated PV as a production file (what a production meter
    would give), on the node's day as the demo moved its meters there."""
    simulated = date.fromisoformat(SIMULATED_DAY)
    shift = (period_id - simulated.toordinal() + date(1970, 1, 1).toordinal()) * 96
    rows = demo_production_rows(HOUSEHOLDS, SEED, simulated, shift, eans)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    found: dict[str, dict[int, int]] = {}
    for ean, stamp, wh in rows:
        start = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        found.setdefault(ean, {})[start] = wh
    return found


def _operator_month(
    work: Path, rpc_url: str, deployment: Path, community: Path, period_id: int
) -> dict[str, Any]:
    """The grid operator's month of the demo's community, as `quartier dso reconcile
    --json` reconciles it: the signed meters' volumes (read back from the chain through an
    all-zero month) with three quarter-hours changed, one per likely cause: 50 Wh more for
    Amélie (unexplained), 30 Wh moved between two quarter-hours of the day for Bart (an
    estimate: the day agrees), 120 Wh for Chloé on a day without signed data (missing)."""
    day = datetime.fromtimestamp(period_id * 86_400, UTC)
    starts = month_quarter_hours(day.year, day.month)
    eans = [example_ean(n + 1) for n in range(HOUSEHOLDS)]
    households = make_households(HOUSEHOLDS, SEED)
    columns = [
        Column(ean, direction, "")
        for ean in eans
        for direction in (Direction.OFFTAKE, Direction.INJECTION)
    ]
    names = dict(zip(eans, NAMES, strict=True))
    zeros = np.zeros((len(starts), len(columns)), dtype=np.int64)
    prefix = work / f"operator-{day.year:04d}-{day.month:02d}-"
    (zero_file,) = write_csv(
        prefix.with_name("zero-" + prefix.name), starts, {GROSS: (columns, zeros)}, names
    )
    chain = read_chain_meters(rpc_url, load_deployment(deployment))
    members = [Member(NAMES[n], eans[n], h.account.address) for n, h in enumerate(households)]
    measured = reconcile(read_month(zero_file, None, (GROSS,)), chain, members)
    row_of = {start: row for row, start in enumerate(starts)}
    wh = zeros.copy()
    for d in measured.differences:
        column = columns.index(Column(d.ean, d.direction, ""))
        wh[row_of[d.interval_start], column] = d.metered_wh
    in_period = [row for row, start in enumerate(starts) if start // 86_400 == period_id]
    offtake = [2 * n for n in range(HOUSEHOLDS)]
    wh[in_period[41], offtake[0]] += 50  # Amélie, 10:15 UTC: unexplained
    busy = max(in_period, key=lambda row: int(wh[row, offtake[1]]))
    assert wh[busy, offtake[1]] >= 30, "Bart imported nothing in the demo's window"
    wh[busy, offtake[1]] -= 30  # Bart: the day's total agrees, an estimate
    wh[busy + 1, offtake[1]] += 30
    elsewhere = next(row for row, start in enumerate(starts) if start // 86_400 != period_id)
    wh[elsewhere, offtake[2]] += 120  # Chloé: no signed data that day
    (month_file,) = write_csv(prefix, starts, {GROSS: (columns, wh)}, names)
    run = subprocess.run(
        [
            str(QUARTIER), "dso", "reconcile", str(month_file), "--rpc", rpc_url,
            "--deployment", str(deployment), "--community", str(community), "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-2000:]  # 1: differences found
    output: dict[str, Any] = json.loads(run.stdout)
    return output


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
                "--date",
                SIMULATED_DAY,
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
        community_file.write_text(community_toml(), encoding="utf-8")
        eans = [example_ean(n + 1) for n in range(HOUSEHOLDS)]
        production = _production_file(work / "production.csv", period_id, eans)
        reconcile_dir = work / "reconcile"
        reconcile_dir.mkdir()
        reconciliation = _operator_month(work, node.url, deployment, community_file, period_id)
        (reconcile_dir / f"{reconciliation['month']}.json").write_text(
            json.dumps(reconciliation), encoding="utf-8"
        )
        env = {
            **os.environ,
            "QUARTIER_RPC_URL": node.url,
            "QUARTIER_DEPLOYMENT": str(deployment),
            "QUARTIER_DATABASE_URL": f"sqlite:///{work / 'serve.db'}",
            "QUARTIER_AUTH_SECRET": AUTH_SECRET,
            "QUARTIER_MANAGER_KEY": "",
            "QUARTIER_COMMUNITY": str(community_file),
            "QUARTIER_PRODUCTION": str(work / "production.csv"),
            "QUARTIER_DSO_RECONCILE_DIR": str(reconcile_dir),
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
                tuple(eans),
                community_file,
                production,
                reconciliation,
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if server.stderr is not None:
                server.stderr.close()


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
            # A loaded 2-core machine: the chain may take more than the default 3 s (the
            # node-down test sets its own, shorter deadline).
            "QUARTIER_CHAIN_DEADLINE_SECONDS": "60",
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
        if server.stderr is not None:
            server.stderr.close()  # else a ResourceWarning, an error under -W error


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


def sign_in(browser: Browser, url: str, address: str, key: str, path: str, **context: Any) -> Page:
    """A fresh page at `url + path` signed in by the keyboard only (Tab to the sign-in button,
    Enter) with a wallet of `address` and `key`; returns once the signed-in page is shown."""
    page = open_page(browser, InjectedWallet(address, key), **context)
    page.goto(url + path)
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "signin":
            break
    else:
        raise AssertionError("the sign-in button cannot be reached with the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("#signin")).to_have_count(0, timeout=120_000)
    return page


def sign_in_household(
    browser: Browser, served: Served, n: int, lang: str = "fr", **context: Any
) -> Page:
    """Household n signed in on its page of the demo's day."""
    page = sign_in(
        browser,
        served.url,
        served.addresses[n],
        served.keys[n],
        f"/?lang={lang}&day={served.day}",
        **context,
    )
    expect(page.locator("#hello")).to_be_visible(timeout=60_000)
    return page


def api_get(served: Served, n: int, path: str) -> Any:
    """GET `path` (with {address} filled in) of the API as household n (a bearer token from
    its own signed challenge, as an app would)."""
    address, key = served.addresses[n], served.keys[n]
    challenge = httpx.post(f"{served.url}/auth/challenge", json={"address": address}).json()
    token = httpx.post(
        f"{served.url}/auth/token",
        json={"nonce": challenge["nonce"], "signature": sign_personal(key, challenge["message"])},
    ).json()["access_token"]
    answer = httpx.get(
        served.url + path.format(address=address),
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


#: WCAG 2.x contrast of every visible text (text nodes, inputs, selects, buttons): the
#: element's computed colour over the first opaque background up its ancestors (alpha
#: blended), against AA's 4.5:1 (3:1 for large text: 24 px, or 18.66 px bold). Disabled
#: controls are exempt (WCAG 1.4.3).
CONTRAST = """
() => {
  const parse = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const background = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const colour = parse(getComputedStyle(e).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
    }
    let result = [255, 255, 255, 1];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const checked = new Set();
  const failures = [];
  let count = 0;
  const check = (element, text) => {
    if (checked.has(element) || element.closest("[hidden]") || element.disabled) return;
    checked.add(element);
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    if (style.visibility === "hidden" || style.display === "none" || box.width === 0) return;
    if (box.right < 0 || box.bottom < 0) return;  // moved off-screen (the skip link)
    const back = background(element);
    const fore = over(parse(style.color), back);
    const [light, dark] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    count += 1;
    if (ratio < needed) {
      failures.push({ text: text.trim().slice(0, 40), colour: style.color,
        background: "rgb(" + back.slice(0, 3).map(Math.round).join(",") + ")",
        ratio: Math.round(ratio * 100) / 100, needed: needed });
    }
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.textContent.trim() && node.parentElement) check(node.parentElement, node.textContent);
  }
  for (const control of document.querySelectorAll("input, select, button")) {
    check(control, control.value || control.textContent || "");
  }
  return { count: count, failures: failures };
}
"""


def contrast_failures(page: Page) -> list[dict[str, Any]]:
    """Every text of `page` below WCAG AA contrast (after at least one text was measured)."""
    found = page.evaluate(CONTRAST)
    assert found["count"] > 10, found
    failures: list[dict[str, Any]] = found["failures"]
    return failures
