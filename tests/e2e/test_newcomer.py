"""A newcomer's session, through the real `quartier` console script only (issue 13, "Check").

`quartier chain up`; `community init`, then the example's first two meters swapped for keys
made by `quartier meter keygen` (a newcomer's own meters); `community deploy` (again: no
change); `community status --json`; the manager funds Bruno, who deposits; Alice sells and
Bruno buys in one interval of the next period (`household schedule`, posted on chain); the
chain's clock jumps to the period's end (`cast rpc`, the pinned cast); the two meters send
their signed batches (the test plays their firmware, as the meter agent would: with
`metering.period`); `quartier relayer --once` settles; `household statement --json` shows the
amounts. Every amount below is worked out by hand from IQuartierExchange's rule.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from ledger.anvil import free_port
from ledger.chain import Sender, connect
from ledger.community_config.keys import anvil_account
from ledger.exchange import ExchangeClient
from metering.keys import load_private_key
from metering.period import MeterPeriod, sign_meter_period
from metering.reading import PublicKey, meter_id_of

QUARTIER = Path(sys.executable).with_name("quartier")
CAST = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "cast"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # Anvil's dev account 1
BRUNO = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # Anvil's dev account 2
INTERVAL = 40  # 10:00 to 10:15 UTC of the period (a day of quarter-hours)


def quartier(*args: str, env: dict[str, str] | None = None) -> str:
    """Run `quartier ARGS`; its stdout (a failure shows its one-line stderr)."""
    done = subprocess.run(
        [str(QUARTIER), *args],
        capture_output=True,
        text=True,
        timeout=170,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"quartier {' '.join(args)}: {done.stderr}"
    return done.stdout


def quartier_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(quartier(*args, "--json", env=env))


def quartier_together(*commands: list[str]) -> list[str]:
    """Independent commands at once (most of a call's time is importing web3); stdouts."""
    running = [
        subprocess.Popen(
            [str(QUARTIER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in commands
    ]
    outputs = []
    for args, process in zip(commands, running, strict=True):
        out, err = process.communicate(timeout=170)
        assert process.returncode == 0, f"quartier {' '.join(args)}: {err}"
        outputs.append(out)
    return outputs


def cast(*args: str) -> str:
    done = subprocess.run([str(CAST), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def swap_meter_keys(text: str, name: str, meter: dict[str, Any]) -> str:
    """The example's [[meters]] table of `name` with the keygen'd public key."""
    at = text.index(f'[[meters]]\nmember = "{name}"')
    end = text.find("\n\n", at)
    end = len(text) if end < 0 else end
    table = (
        f'[[meters]]\nmember = "{name}"\npublic_key_x = "{meter["public_key"]["x"]}"\n'
        f'public_key_y = "{meter["public_key"]["y"]}"'
    )
    return text[:at] + table + text[end:]


def signed_batch(key_file: Path, period_id: int, deltas: list[tuple[int, int]], domain: Any) -> Any:
    key = load_private_key(key_file, None)
    public = PublicKey.from_cryptography(key.public_key())
    period = MeterPeriod(meter_id_of(public), period_id, 1_000, 2_000, tuple(deltas))
    return sign_meter_period(key, period, *domain)


def test_a_newcomer_runs_a_community_to_a_settled_period(tmp_path: Path) -> None:
    port = free_port()
    chain_up = subprocess.Popen(
        [str(QUARTIER), "chain", "up", "--port", str(port), "--out", str(tmp_path / "chain")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert chain_up.stdout is not None
        for line in chain_up.stdout:
            if line.startswith("Anvil is running"):
                break
        else:
            raise AssertionError(f"chain up ended: {chain_up.stderr and chain_up.stderr.read()}")
        rpc = f"http://127.0.0.1:{port}"
        session(tmp_path, rpc)
    finally:
        chain_up.send_signal(signal.SIGINT)
        try:
            chain_up.wait(timeout=20)
        except subprocess.TimeoutExpired:
            chain_up.kill()
            chain_up.wait()
    assert chain_up.returncode == 0


def session(tmp_path: Path, rpc: str) -> None:
    config = tmp_path / "community.toml"
    quartier("community", "init", "--out", str(config))
    names = ("Alice", "Bruno")
    made = quartier_together(
        *(
            ["meter", "keygen", "--out", str(tmp_path / f"{name}.pem"), "--no-encryption", "--json"]
            for name in names
        )
    )
    meters = {name: json.loads(out) for name, out in zip(names, made, strict=True)}
    text = config.read_text()
    for name, meter in meters.items():
        text = swap_meter_keys(text, name, meter)
    config.write_text(text)

    deployed = quartier_json("community", "deploy", str(config), "--rpc", rpc)
    assert [c["action"] for c in deployed["changes"]].count("register_meter") == 3
    assert quartier_json("community", "deploy", str(config), "--rpc", rpc)["changes"] == []
    deployment = deployed["deployment_file"]
    chain = ["--rpc", rpc, "--deployment", deployment]

    status = quartier_json("community", "status", *chain)
    assert [m["name"] for m in status["members"]] == ["Alice", "Bruno", "Chloé"]
    assert {m["meter_id"] for m in status["meters"]} >= {m["meter_id"] for m in meters.values()}
    assert status["rules"]["current"]["mechanism"] == "pay-as-clear"
    assert status["rules"]["period_intervals"] == 96

    quartier("community", "fund", BRUNO, "5000000", *chain)
    quartier("household", "deposit", "5000000", "--anvil-account", "2", *chain)

    sold, bought = (
        json.loads(out)
        for out in quartier_together(
            ["household", "schedule", *chain, "--anvil-account", "1", "--json",
             "--sell", f"{INTERVAL}:500:60000"],
            ["household", "schedule", *chain, "--anvil-account", "2", "--json",
             "--buy", f"{INTERVAL}:500:200000"],
        )
    )  # fmt: skip
    period_id = sold["period_id"]
    assert (sold["status"], bought["status"], bought["period_id"]) == (
        "posted",
        "posted",
        period_id,
    )
    assert bought["lock_units"] == 100_000  # 500 Wh at a bid of 0.20 €/kWh

    # The chain's clock to the end of the period (a day of 96 quarter-hours), with cast.
    end = (period_id + 1) * 96 * 900
    cast("rpc", "--rpc-url", rpc, "evm_setNextBlockTimestamp", str(end))
    cast("rpc", "--rpc-url", rpc, "evm_mine")

    # The meters' signed batches (their firmware's part): Alice exported 600 Wh and Bruno
    # imported 700 Wh in the interval, nothing else all day.
    exchange_address = json.loads(Path(deployment).read_text())["contracts"]["QuartierExchange"]
    domain = (31337, exchange_address)
    deltas = {
        "Alice": [(0, 600) if k == INTERVAL else (0, 0) for k in range(96)],
        "Bruno": [(700, 0) if k == INTERVAL else (0, 0) for k in range(96)],
    }
    batches = [
        signed_batch(tmp_path / f"{name}.pem", period_id, deltas[name], domain) for name in deltas
    ]
    poster = ExchangeClient(Sender(connect(rpc), anvil_account(31337, 3)), exchange_address)
    poster.post_meter_batches(batches)

    settled = quartier(
        "relayer",
        "--once",
        env={
            "QUARTIER_RPC_URL": rpc,
            "QUARTIER_DEPLOYMENT": deployment,
            "QUARTIER_DATABASE_URL": f"sqlite:///{tmp_path / 'relayer.db'}",
        },
    )
    assert f"settled periods [{period_id}]" in settled, settled

    # Pay-as-clear: (0.06 + 0.20) / 2 = 0.13 €/kWh on 500 Wh = 0.065 € = 65,000 units.
    alice_json, bruno_json, text_statement = quartier_together(
        ["household", "statement", *chain, "--anvil-account", "1", "--json"],
        ["household", "statement", *chain, "--household", BRUNO, "--json"],
        ["household", "statement", *chain, "--household", BRUNO],
    )
    alice = json.loads(alice_json)
    (period,) = alice["periods"]
    assert (period["period_id"], period["state"]) == (period_id, "settled")
    assert (period["delivered_wh"], period["received_wh"]) == (500, 0)
    assert (period["change_units"], period["released_units"]) == (65_000, 0)
    (entry,) = period["entries"]
    assert (entry["index"], entry["side"], entry["energy_wh"]) == (INTERVAL, "sell", 500)
    assert entry["interval"] == {"price_per_kwh": 130_000, "traded_wh": 500, "delivered_wh": 500}
    assert alice["escrow"] == {"free_units": 65_000, "locked_units": 0}

    bruno = json.loads(bruno_json)
    (period,) = bruno["periods"]
    assert (period["delivered_wh"], period["received_wh"]) == (0, 500)
    assert (period["change_units"], period["released_units"]) == (-65_000, 100_000)
    assert bruno["escrow"] == {"free_units": 5_000_000 - 65_000, "locked_units": 0}
    assert [m["kind"] for m in bruno["movements"]] == ["deposit"]

    assert "Statement of Bruno" in text_statement
    assert "received 0.500 kWh, paid 0.07 €; lock released 0.10 €" in text_statement
    assert "at <= 0.2000 €/kWh; the interval cleared at 0.1300 €/kWh" in text_statement
