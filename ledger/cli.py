"""`quartier chain up|deploy`: a local chain for development, or a deployment to a node.

Both deploy a protocol v2 community (settlement token, QuartierCommunity with
`ledger.deploy_v2.DEFAULT_RULES` and the default time grid, QuartierExchange) and write the
deployment file `quartier serve`, `quartier relayer`, `quartier audit` and the meter agent
read. The rules live in the contract from then on: every client reads them from the chain.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment, save_deployment
from ledger.paths import DEPLOYMENTS_DIR

chain_app = typer.Typer(
    help="Run a local chain or deploy Quartier's contracts.", no_args_is_help=True
)

DeploymentsDir = Annotated[
    Path, typer.Option("--out", help="Folder of deployment files (<chain_id>.json).")
]


def _deploy(rpc_url: str, out: Path) -> tuple[Deployment, Path]:
    w3 = connect(rpc_url)
    deployer = default_deployer(w3.eth.chain_id, os.environ.get("QUARTIER_DEPLOYER_KEY"))
    deployment = deploy_community_v2(Sender(w3, deployer))
    return deployment, save_deployment(deployment, out)


def _report(rpc_url: str, deployment: Deployment, path: Path) -> None:
    typer.echo(f"RPC URL:          {rpc_url}")
    typer.echo(f"chain id:         {deployment.chain_id}")
    typer.echo(f"deployment file:  {path}")
    for name, address in sorted(deployment.contracts.items()):
        typer.echo(f"{name + ':':<18}{address}")


@chain_app.command("up")
def chain_up(
    port: Annotated[int | None, typer.Option(help="Port (default: a free one).")] = None,
    out: DeploymentsDir = DEPLOYMENTS_DIR,
) -> None:
    """Start Anvil on 127.0.0.1, deploy a community (protocol v2), and run until Ctrl-C."""
    stopped = threading.Event()
    # Ctrl-C and SIGTERM only set a flag, whenever they arrive: the `with` block then stops
    # the node, so no signal can leave an orphaned Anvil behind.
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopped.set())
    with AnvilNode(port=port) as node:
        deployment, path = _deploy(node.url, out)
        _report(node.url, deployment, path)
        typer.echo("Anvil is running; press Ctrl-C to stop it.")
        while not stopped.wait(0.2):
            if node.process is not None and node.process.poll() is not None:
                typer.echo("Anvil exited unexpectedly.", err=True)
                raise typer.Exit(1)
    typer.echo("Anvil stopped.")


@chain_app.command("deploy")
def chain_deploy(
    rpc: Annotated[
        str, typer.Option("--rpc", envvar="QUARTIER_RPC_URL", help="JSON-RPC URL of the node.")
    ],
    out: DeploymentsDir = DEPLOYMENTS_DIR,
) -> None:
    """Deploy a community (protocol v2) to an existing node and write its deployment file.

    The deployer key comes from QUARTIER_DEPLOYER_KEY; on a local Anvil (chain 31337) Anvil's
    public development key is used when it is not set.
    """
    deployment, path = _deploy(rpc, out)
    _report(rpc, deployment, path)
