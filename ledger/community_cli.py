"""`quartier community init|deploy|status`: a community as a file, brought to the chain.

The command-line contract (other tools call it):
- `deploy FILE --rpc URL [--key KEYSTORE] [--deployment PATH] [--json]` creates the
  contracts when the deployment file does not exist, else applies only the difference the
  chain shows; with --json it prints {"deployment_file": PATH, "changes": [one object per
  transaction sent]} ("changes": [] on a rerun of an unchanged file).
- `status --rpc URL --deployment FILE [--json]` prints at least {"rules", "members",
  "meters", "balances", "periods"}.
- A refused file: exit 2, one line on stderr naming the file, line and key, nothing sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.chain import Sender, connect
from ledger.community_config.apply import Record, apply_config
from ledger.community_config.errors import CommunityConfigError, chain_errors_named
from ledger.community_config.example import example_toml
from ledger.community_config.files import default_deployment_path, load_deployment_file
from ledger.community_config.keys import load_signer
from ledger.community_config.model import load_config
from ledger.community_config.status import local_time, read_status, render_text
from ledger.community_manage_cli import register_manager_commands
from ledger.household_cli import household_app

__all__ = ["community_app", "household_app"]

community_app = typer.Typer(
    help="A community as a file (community.toml): create it, deploy it, read its status; "
    "the manager's day-to-day commands.",
    no_args_is_help=True,
)
register_manager_commands(community_app)

RpcOption = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for other tools.")]


@community_app.command("init")
def init(
    out: Annotated[Path, typer.Option("--out", help="Where to write the example.")] = Path(
        "community.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example community.toml that deploys as is on Anvil."""
    if out.exists() and not force:
        raise CommunityConfigError(f"{out} exists; give --force to overwrite it")
    out.write_text(example_toml(), encoding="utf-8")
    typer.echo(f"wrote {out}; deploy it with: quartier community deploy {out} --rpc URL")


@community_app.command("deploy")
def deploy(
    file: Annotated[Path, typer.Argument(help="The community file (community.toml).")],
    rpc: RpcOption,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="Encrypted JSON keystore of the manager (password: QUARTIER_KEYSTORE_PASSWORD "
            "or a prompt). Default on chain 31337: Anvil's public dev key.",
        ),
    ] = None,
    deployment: Annotated[
        Path | None,
        typer.Option(
            "--deployment", help="Deployment file (default: <file stem>.<chain id>.json beside it)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy the community, or apply only what changed in the file; prints each change."""
    config = load_config(file)  # refused files stop here, before the chain is even asked
    w3 = connect(rpc)
    chain_id = int(w3.eth.chain_id)
    account = load_signer(chain_id, key, lambda: typer.prompt("keystore password", hide_input=True))
    path = deployment or default_deployment_path(file, chain_id)

    def report(record: Record) -> None:
        if not as_json:
            typer.echo(describe(record))

    with chain_errors_named():
        records = apply_config(config, str(file), Sender(w3, account), path, report)
    if as_json:
        typer.echo(json.dumps({"deployment_file": str(path), "changes": records}, indent=2))
    else:
        typer.echo(f"{len(records)} changes; deployment file: {path}")


@community_app.command("status")
def status(
    rpc: RpcOption,
    deployment: Annotated[Path, typer.Option("--deployment", help="The deployment file.")],
    as_json: JsonOption = False,
) -> None:
    """Rules (and pending changes), members, meters, balances, and periods from the chain."""
    known, directory = load_deployment_file(deployment)
    w3 = connect(rpc)
    known.check_chain(w3)
    # Reads only: any account will do as the sender of calls.
    from ledger.accounts import ANVIL_DEV_KEY, account_from_key

    with chain_errors_named():
        result = read_status(Sender(w3, account_from_key(ANVIL_DEV_KEY)), known, directory)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        for line in render_text(result):
            typer.echo(line)


def describe(record: dict[str, Any]) -> str:
    """One line per change, for people."""
    action = record["action"]
    if action == "deploy":
        return f"deployed {record['contract']} at {record['address']}"
    if action == "admit_member":
        return f"admitted {record['member']} ({record['address']})"
    if action == "remove_member":
        return f"removed {record['member'] or record['address']}"
    if action == "register_meter":
        return f"registered meter {record['meter_id']} of {record['member']}"
    if action == "revoke_meter":
        return f"revoked meter {record['meter_id']} of {record['member'] or '?'}"
    if action == "end_sharing_key":
        return (
            f"ended sharing key {record['key_id']} from period {record['from_period']} "
            f"({local_time(record['from'])})"
        )
    if action == "schedule_sharing_key":
        return (
            f"scheduled sharing key {record['key_id']} (sharing[{record['sharing']}]) from "
            f"period {record['valid_from_period']} ({local_time(record['from'])}): "
            f"{' then '.join(record['cascade'])}"
        )
    return (
        f"scheduled rules from period {record['effective_from_period']} "
        f"({local_time(record['effective_from'])}): {record['rules']['mechanism']}"
    )
