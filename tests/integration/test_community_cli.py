"""`quartier community init|deploy|status` on a real Anvil, through the console script's
`main` (errors as one line, exit codes) in-process, and one real process killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from ledger.accounts import ANVIL_DEV_KEY, account_from_key
from ledger.anvil import AnvilNode
from ledger.chain import connect

DEPLOYER = account_from_key(ANVIL_DEV_KEY).address
QUARTIER = Path(sys.executable).with_name("quartier")


def run(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run `quartier ARGS` in-process; returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["quartier", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def deploy_json(config: Path, anvil: AnvilNode, capsys: Any, monkeypatch: Any) -> dict[str, Any]:
    code, out, err = run(
        ["community", "deploy", str(config), "--rpc", anvil.url, "--json"], capsys, monkeypatch
    )
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def init(tmp_path: Path, capsys: Any, monkeypatch: Any) -> Path:
    config = tmp_path / "community.toml"
    code, _, err = run(["community", "init", "--out", str(config)], capsys, monkeypatch)
    assert code == 0, err
    return config


def test_newcomer_init_deploy_rerun_status(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    config = init(tmp_path, capsys, monkeypatch)
    first = deploy_json(config, anvil, capsys, monkeypatch)
    actions = [change["action"] for change in first["changes"]]
    # token, community, exchange, settlement versions, sharing keys
    assert actions == ["deploy"] * 5 + ["admit_member"] * 3 + ["register_meter"] * 3
    assert all(change["tx"].startswith("0x") for change in first["changes"])
    assert deploy_json(config, anvil, capsys, monkeypatch)["changes"] == []

    code, out, err = run(
        [
            "community",
            "status",
            "--rpc",
            anvil.url,
            "--deployment",
            first["deployment_file"],
            "--json",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    status = json.loads(out)
    assert {"rules", "members", "meters", "balances", "periods"} <= status.keys()
    assert [m["name"] for m in status["members"]] == ["Alice", "Bruno", "Chloé"]
    assert all(m["admitted_at"] > 0 and m["removed_at"] is None for m in status["members"])
    registered = {
        c["meter_id"]: c["member"] for c in first["changes"] if c["action"] == "register_meter"
    }
    assert {m["meter_id"]: m["member"] for m in status["meters"]} == registered
    assert status["rules"]["current"]["mechanism"] == "pay-as-clear"
    assert status["rules"]["current"]["price_ceiling_per_kwh"] == 350_000
    assert status["rules"]["pending"] == []
    assert [b["escrow_free_units"] for b in status["balances"]] == [0, 0, 0]

    code, text, err = run(
        ["community", "status", "--rpc", anvil.url, "--deployment", first["deployment_file"]],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert "Alice (EAN 541448820000000015)" in text
    assert "ceiling 0.3500 €/kWh" in text
    assert "Alice: 0.00 € / 0.00 € / 0.00 €" in text


def test_a_changed_file_applies_only_the_difference(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    config = init(tmp_path, capsys, monkeypatch)
    deployed = deploy_json(config, anvil, capsys, monkeypatch)
    text = config.read_text()
    chloe_meter = text.rindex("[[meters]]")
    chloe = text.index('[[members]]\nname = "Chloé"')
    text = text[:chloe] + text[text.index("\n\n", chloe) + 2 : chloe_meter]
    bruno_meter = text.rindex("[[meters]]")
    text = text[:bruno_meter].replace("price_floor_per_kwh = 50000", "price_floor_per_kwh = 60000")
    config.write_text(text)

    changes = deploy_json(config, anvil, capsys, monkeypatch)["changes"]
    assert [(c["action"], c["member"]) for c in changes[:2]] == [
        ("revoke_meter", "Bruno"),
        ("remove_member", "Chloé"),
    ]
    assert changes[2]["action"] == "schedule_rules"
    assert changes[2]["rules"]["price_floor_per_kwh"] == 60_000
    assert len(changes) == 3
    assert deploy_json(config, anvil, capsys, monkeypatch)["changes"] == []

    code, out, err = run(
        [
            "community",
            "status",
            "--rpc",
            anvil.url,
            "--deployment",
            deployed["deployment_file"],
            "--json",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    status = json.loads(out)
    assert [m["removed_at"] is not None for m in status["members"]] == [False, False, True]
    assert [m["revoked_at"] is not None for m in status["meters"]] == [False, True, True]
    pending = status["rules"]["pending"]
    assert [p["rules"]["price_floor_per_kwh"] for p in pending] == [60_000]
    assert pending[0]["effective_from_period"] == status["current_period"] + 2
    assert status["rules"]["current"]["price_floor_per_kwh"] == 50_000


def test_a_deploy_killed_midway_is_completed_never_duplicated(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    config = init(tmp_path, capsys, monkeypatch)
    process = subprocess.Popen(
        [str(QUARTIER), "community", "deploy", str(config), "--rpc", anvil.url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    printed = []
    try:
        for line in process.stdout:
            printed.append(line.strip())
            if line.startswith("deployed QuartierCommunity"):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    printed += [line.strip() for line in process.stdout.read().splitlines()]
    assert printed[:2] == [p for p in printed if p.startswith("deployed")][:2]
    token = printed[0].split(" at ")[1]
    community = printed[1].split(" at ")[1]

    resumed = deploy_json(config, anvil, capsys, monkeypatch)
    deployment = json.loads(Path(resumed["deployment_file"]).read_text())
    assert deployment["contracts"]["QuartierToken"] == token
    assert deployment["contracts"]["QuartierCommunity"] == community
    created_again = [c["contract"] for c in resumed["changes"] if c["action"] == "deploy"]
    assert created_again in (
        [],
        ["QuartierSharingKeys"],
        ["QuartierSettlementVersions", "QuartierSharingKeys"],
        ["QuartierExchange", "QuartierSettlementVersions", "QuartierSharingKeys"],
    )
    admitted = [c["member"] for c in resumed["changes"] if c["action"] == "admit_member"]
    admitted += [p.split()[1] for p in printed if p.startswith("admitted")]
    assert sorted(admitted) == ["Alice", "Bruno", "Chloé"]
    assert deploy_json(config, anvil, capsys, monkeypatch)["changes"] == []
    assert not Path(resumed["deployment_file"] + ".partial.json").exists()


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ('symbol = "qEUR"', 'symbol = "qEUR', "malformed TOML"),
        ('"541448820000000022"', '"541448820000000023"', "members[1].ean"),
        (
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
            "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
            "members[1].address",
        ),
        ("", "DUPLICATE_ALICE_METER", "meters[3].public_key_x"),
        (
            "price_ceiling_per_kwh = 350000",
            "price_ceiling_per_kwh = 4294967296",
            "rules.price_ceiling_per_kwh",
        ),
    ],
)
def test_a_refused_file_exits_2_with_one_line_and_sends_nothing(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any, old: str, new: str, needle: str
) -> None:
    config = init(tmp_path, capsys, monkeypatch)
    text = config.read_text()
    if new == "DUPLICATE_ALICE_METER":  # Alice's meter key listed a second time
        alice_x = next(line for line in text.splitlines() if line.startswith("public_key_x"))
        alice_y = next(line for line in text.splitlines() if line.startswith("public_key_y"))
        text += f'\n[[meters]]\nmember = "Alice"\n{alice_x}\n{alice_y}\n'
    else:
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    w3 = connect(anvil.url)
    nonce = w3.eth.get_transaction_count(DEPLOYER)
    code, out, err = run(
        ["community", "deploy", str(config), "--rpc", anvil.url], capsys, monkeypatch
    )
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert needle in err
    assert str(config) in err
    assert w3.eth.get_transaction_count(DEPLOYER) == nonce
    assert not list(tmp_path.glob("*.json"))


def test_manager_and_household_commands(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    config = init(tmp_path, capsys, monkeypatch)
    deployment = deploy_json(config, anvil, capsys, monkeypatch)["deployment_file"]
    chain = ["--rpc", anvil.url, "--deployment", deployment]
    alice = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

    code, out, err = run(["community", "fund", alice, "25000000", *chain], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "funded Alice with 25.00 €"), err
    household = ["--anvil-account", "1", *chain]
    code, out, err = run(["household", "deposit", "10000000", *household], capsys, monkeypatch)
    assert code == 0, err
    assert out.splitlines()[-1] == "deposited 10.00 €"
    code, _, err = run(["household", "withdraw", "2500000", *household], capsys, monkeypatch)
    assert code == 0, err

    code, out, err = run(
        ["community", "set-rule", "mechanism", "pay-as-bid", *chain, "--json"], capsys, monkeypatch
    )
    assert code == 0, err
    (scheduled,) = json.loads(out)["changes"]
    assert scheduled["action"] == "schedule_rules"

    w3 = connect(anvil.url)
    nonce = w3.eth.get_transaction_count(DEPLOYER)
    code, out, err = run(
        ["community", "set-rule", "price_floor_per_kwh", "400000", *chain], capsys, monkeypatch
    )
    assert code == 2
    assert err.strip() == "quartier: set-rule: price_floor_per_kwh: above the price ceiling"
    assert w3.eth.get_transaction_count(DEPLOYER) == nonce

    newcomer = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"  # Anvil's dev account 4
    code, out, err = run(
        ["community", "admit", newcomer, *chain, "--unsigned"], capsys, monkeypatch
    )
    assert code == 0, err
    (transaction,) = json.loads(out)["transactions"]
    assert w3.eth.get_transaction_count(DEPLOYER) == nonce  # printed, not sent
    assert transaction["from"] == DEPLOYER
    # The manager's wallet (Anvil holds the dev account's key) sends exactly what was printed.
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction(
            {"from": transaction["from"], "to": transaction["to"], "data": transaction["data"]}
        )
    )

    bruno = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # Anvil's dev account 2
    code, _, err = run(["community", "fund", bruno, "3000000", *chain], capsys, monkeypatch)
    assert code == 0, err
    deposit = ["household", "deposit", "3000000", *chain, "--unsigned", "--from", bruno]
    code, out, err = run(deposit, capsys, monkeypatch)
    assert code == 0, err
    approve, pay_in = json.loads(out)["transactions"]
    assert (approve["from"], pay_in["from"]) == (bruno, bruno)
    assert pay_in["to"] == json.loads(Path(deployment).read_text())["contracts"]["QuartierExchange"]
    for printed in (approve, pay_in):  # Bruno's wallet signs what was printed, in order
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction(
                {"from": printed["from"], "to": printed["to"], "data": printed["data"]}
            )
        )

    code, out, err = run(["community", "status", *chain, "--json"], capsys, monkeypatch)
    assert code == 0, err
    status = json.loads(out)
    (paid_in,) = [b for b in status["balances"] if b["address"] == bruno]
    assert (paid_in["wallet_units"], paid_in["escrow_free_units"]) == (0, 3_000_000)
    (balance,) = [b for b in status["balances"] if b["address"] == alice]
    assert (balance["wallet_units"], balance["escrow_free_units"]) == (17_500_000, 7_500_000)
    assert newcomer in [m["address"] for m in status["members"]]
    assert [p["rules"]["mechanism"] for p in status["rules"]["pending"]] == ["pay-as-bid"]


def test_status_lists_a_period_with_a_posting_as_pending(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    from ledger.chain import Sender
    from ledger.community_config.keys import anvil_account
    from ledger.entries import Entry, EntrySide
    from ledger.exchange import ExchangeClient
    from ledger.schedules import Schedule, sign_schedule

    config = init(tmp_path, capsys, monkeypatch)
    deployment = deploy_json(config, anvil, capsys, monkeypatch)["deployment_file"]
    contracts = json.loads(Path(deployment).read_text())["contracts"]
    w3 = connect(anvil.url)
    alice = anvil_account(31337, 1)
    period_seconds = 900 * 96
    next_period = int(w3.eth.get_block("latest")["timestamp"]) // period_seconds + 1
    sell = Entry(EntrySide.SELL, 500, 60_000)
    schedule = Schedule(alice.address, next_period, 1, next_period * 96, (sell,))
    exchange = ExchangeClient(Sender(w3, alice), contracts["QuartierExchange"])
    exchange.post_schedules([sign_schedule(alice.key, schedule, 31337, exchange.address)])

    code, out, err = run(
        ["community", "status", "--rpc", anvil.url, "--deployment", deployment, "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    (period,) = json.loads(out)["periods"]
    assert period["period_id"] == next_period
    assert period["state"] == "pending"
    assert period["posting_households"] == 1
    assert period["settlement_deadline"] == (next_period + 1) * period_seconds + 86_400


def test_a_keystore_key_deploys_and_only_the_manager_changes(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    from eth_account import Account

    config = init(tmp_path, capsys, monkeypatch)
    manager = Account.create()
    keystore = tmp_path / "manager.json"
    # A cheap KDF keeps the test fast; the format is the one wallets write with scrypt.
    keystore.write_text(
        json.dumps(Account.encrypt(manager.key, "correct horse", kdf="pbkdf2", iterations=1000))
    )
    w3 = connect(anvil.url)
    w3.provider.make_request("anvil_setBalance", [manager.address, hex(10**20)])  # type: ignore[arg-type]
    deploy = ["community", "deploy", str(config), "--rpc", anvil.url, "--key", str(keystore)]

    monkeypatch.setenv("QUARTIER_KEYSTORE_PASSWORD", "wrong")
    code, out, err = run([*deploy, "--json"], capsys, monkeypatch)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert str(keystore) in err
    assert w3.eth.get_transaction_count(manager.address) == 0

    monkeypatch.setenv("QUARTIER_KEYSTORE_PASSWORD", "correct horse")
    code, out, err = run([*deploy, "--json"], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out)
    assert json.loads(Path(result["deployment_file"]).read_text())["manager"] == manager.address
    assert w3.eth.get_transaction_count(manager.address) == len(result["changes"]) == 11

    config.write_text(config.read_text().replace("min_entry_wh = 1 ", "min_entry_wh = 5 "))
    monkeypatch.delenv("QUARTIER_KEYSTORE_PASSWORD")
    code, out, err = run(
        ["community", "deploy", str(config), "--rpc", anvil.url], capsys, monkeypatch
    )
    assert code == 1  # Anvil's dev key is not this community's manager: nothing sent
    assert "is not the community's manager" in err
    assert len(err.splitlines()) == 1


def test_a_node_that_dies_midway_ends_the_deploy_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "community.toml"
    subprocess.run([str(QUARTIER), "community", "init", "--out", str(config)], check=True)
    with AnvilNode() as node:
        process = subprocess.Popen(
            [str(QUARTIER), "community", "deploy", str(config), "--rpc", node.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith("deployed QuartierToken"):
                    node.stop()
                    break
            _, err = process.communicate(timeout=120)
        finally:
            process.kill()
    assert process.returncode == 1
    assert len(err.splitlines()) == 1
    assert err.startswith("quartier: ")
    journal = tmp_path / "community.31337.json.partial.json"
    assert "QuartierToken" in json.loads(journal.read_text())["created"]


CAST = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "cast"


def test_cast_reads_the_exchange_with_the_abi_of_the_deployment_file(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    version = subprocess.run([str(CAST), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("cast Version: 1.7.1")
    config = init(tmp_path, capsys, monkeypatch)
    written = json.loads(
        Path(deploy_json(config, anvil, capsys, monkeypatch)["deployment_file"]).read_text()
    )
    assert set(written["abis"]) == set(written["contracts"])
    abi = written["abis"]["QuartierExchange"]
    (entry,) = [item for item in abi if item.get("type") == "function" and item["name"] == "token"]
    outputs = ",".join(output["type"] for output in entry["outputs"])
    signature = f"token()({outputs})"  # built from the file's ABI, as a script would
    exchange = written["contracts"]["QuartierExchange"]
    answer = subprocess.run(
        [str(CAST), "call", exchange, signature, "--rpc-url", anvil.url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == written["contracts"]["QuartierToken"]
    # cast takes the ABI file itself too: the interface it prints names the exchange's reads.
    abi_file = tmp_path / "QuartierExchange.abi.json"
    abi_file.write_text(json.dumps(abi))
    interface = subprocess.run(
        [str(CAST), "interface", str(abi_file)], capture_output=True, text=True, check=True
    )
    assert "function token() external view returns (address);" in interface.stdout


def test_household_schedule_cancel_and_refusals(
    anvil: AnvilNode, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    config = init(tmp_path, capsys, monkeypatch)
    deployment = deploy_json(config, anvil, capsys, monkeypatch)["deployment_file"]
    chain = ["--rpc", anvil.url, "--deployment", deployment]
    alice = ["--anvil-account", "1", *chain]
    from ledger.community_config.keys import anvil_account

    alice_address = anvil_account(31337, 1).address
    w3 = connect(anvil.url)
    schedule_file = tmp_path / "tomorrow.toml"
    schedule_file.write_text(
        '[[entries]]\ninterval = 20\nside = "sell"\nenergy_wh = 400\nprice_per_kwh = 70000\n'
    )
    code, out, err = run(
        [
            "household",
            "schedule",
            *alice,
            "--file",
            str(schedule_file),
            "--sell",
            "10:300:60000",
            "--json",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    first = json.loads(out)
    assert (first["version"], first["via"], first["status"]) == (1, "chain", "posted")
    assert [(e["index"], e["side"], e["energy_wh"]) for e in first["entries"]] == [
        (10, "sell", 300),
        (20, "sell", 400),
    ]
    period = first["period_id"]
    assert first["first_interval_id"] == period * 96  # the whole next period is open

    # Cancel intervals 5 .. 14: interval 10 goes, 20 stays (re-supplied), version 2.
    code, out, err = run(
        ["household", "cancel", *alice, "--from", "5", "--to", "15", "--json"], capsys, monkeypatch
    )
    assert code == 0, err
    cancelled = json.loads(out)
    assert cancelled["version"] == 2
    assert cancelled["first_interval_id"] == period * 96 + 5
    assert [(e["index"], e["energy_wh"]) for e in cancelled["entries"]] == [(20, 400)]
    code, out, err = run(["household", "statement", *alice, "--json"], capsys, monkeypatch)
    assert code == 0, err
    (listed,) = json.loads(out)["periods"]
    assert (listed["state"], listed["postings"], listed["last_version"]) == ("pending", 2, 2)
    assert [(e["index"], e["side"]) for e in listed["entries"]] == [(20, "sell")]
    code, text, err = run(["household", "statement", *alice], capsys, monkeypatch)
    assert code == 0, err
    assert text.startswith(f"Statement of Alice ({alice_address})")
    assert "sell 0.400 kWh at >= 0.0700 €/kWh" in text

    # Refused before anything is signed: one line, exit 2, no transaction.
    nonce = w3.eth.get_transaction_count(alice_address)
    current = period - 1
    for args, message in [
        (["--sell", "96:100:1"], "interval 96 is not in a period of 96 intervals (0 .. 95)"),
        (["--sell", "3:100"], "--sell '3:100': give INTERVAL:ENERGY_WH:PRICE_PER_KWH"),
        (["--buy", "3:0:1"], "--buy 3:0:1: a sell or buy entry has energy_wh >= 1"),
        (["--sell", "3:1:1", "--buy", "3:1:1"], "--buy 3:1:1: interval 3 has two entries"),
        ([], "a schedule needs at least one entry"),
        (["--period", "0", "--sell", "0:1:1"], "period 0 has no interval whose gate is still"),
        # The current period's first quarter-hour has closed (the node runs on wall-clock time).
        (["--period", str(current), "--sell", "0:1:1"], f"period {current}"),
    ]:
        code, _, err = run(["household", "schedule", *alice, *args], capsys, monkeypatch)
        assert code == 2, (args, err)
        assert len(err.splitlines()) == 1
        assert message in err, err
    code, out, err = run(
        ["household", "schedule", *alice, "--sell", "50:100:60000"], capsys, monkeypatch
    )
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"posted version 3 of period {period} for Alice on chain; locks 0.00 €"
    )
    assert out.splitlines()[1].endswith(" sell 0.100 kWh at >= 0.0600 €/kWh")
    nonce = w3.eth.get_transaction_count(alice_address)
    code, _, err = run(
        ["household", "cancel", *alice, "--from", "30", "--to", "40"], capsys, monkeypatch
    )
    assert code == 2
    assert f"period {period} has no entry of {alice_address} to cancel in intervals 30 .. 39" in err
    code, _, err = run(["household", "schedule", *chain, "--sell", "3:1:1"], capsys, monkeypatch)
    assert (code, err.strip()) == (
        2,
        "quartier: give --key KEYSTORE (or --anvil-account N on Anvil)",
    )
    assert w3.eth.get_transaction_count(alice_address) == nonce
