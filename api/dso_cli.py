"""`quartier dso`: the grid operator's commands (`ledger.dso.cli`) plus `resettle`, which
needs the settlement engine and so is composed here (`ledger` must not import `api`).

- `resettle FILE --rpc URL --deployment FILE [--community FILE] [--key KEYSTORE]
  [--month YYYY-MM] [--json]`: for every settled period the workbook covers, record on chain
  the next settlement version on the operator's gross volumes, referencing the file's
  keccak (IQuartierSettlementVersions). Exit 0 done (a period that agrees records nothing),
  2 refused or failed (one line on stderr; a workbook that does not import cleanly, a
  member without EAN or column, a settlement that does not replay: nothing is sent).
  With --json: {"month", "source_keccak", "periods": [{"period_id", "version", "recorded",
  "lines": [{"household", "delivered_wh", "received_wh", "change_units"}], "gas_used",
  "tx_hash"}], "unsettled_periods", "seconds"}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.dso.cli import (
    DeploymentOption,
    EansCommunityOption,
    FileArgument,
    JsonOption,
    MonthOption,
    RpcOption,
    _members,
    _month,
    dso_app,
)

if TYPE_CHECKING:  # `dso import` stays free of web3 and the engine (~2 s of CPU)
    from ledger.audit.rule import RuleHousehold
    from ledger.audit.versions import Recompute
    from ledger.dso.resettle import Figures
    from ledger.rules import Rules, TimeGrid

__all__ = ["dso_app", "resettle_rule", "workbook_check"]


def resettle_rule(
    rules: Rules, grid: TimeGrid, period_id: int, households: Sequence[RuleHousehold]
) -> tuple[Figures, ...]:
    """`api.settlement.settle_period` as `ledger.dso.resettle`'s rule (exact net included)."""
    from api.audit_cli import engine_settlement
    from ledger.dso.resettle import Figures

    settled = engine_settlement(rules, grid, period_id, households)
    return tuple(
        Figures(h.address, h.delivered_wh, h.received_wh, h.net_milli, h.change_units)
        for h in settled.households
    )


def ean_by_address(deployment: Path, community: Path | None) -> dict[str, str]:
    """Member address (lower case) -> EAN, from the community file or the deployment's."""
    return {member.address.lower(): member.ean for member in _members(deployment, community)}


def workbook_check(
    workbook: Path, deployment: Path, community: Path | None
) -> tuple[bytes, Recompute]:
    """`quartier audit --dso-workbook`: the file's keccak and the recomputation of the
    versions referencing it (a workbook that does not import cleanly is refused here)."""
    from ledger.dso.resettle_chain import file_keccak, workbook_recompute
    from ledger.dso.workbook import SHEETS, read_month

    month = read_month(workbook, None, SHEETS)
    ean_of = ean_by_address(deployment, community)
    return file_keccak(workbook), workbook_recompute(month, ean_of, resettle_rule)


def _json(result: Any) -> dict[str, Any]:
    return {
        "month": result.month,
        "source_keccak": "0x" + result.source_keccak.hex(),
        "periods": [
            {
                "period_id": p.period_id,
                "version": p.version,
                "recorded": p.recorded,
                "lines": [
                    {
                        "household": line.household,
                        "delivered_wh": line.delivered_wh,
                        "received_wh": line.received_wh,
                        "change_units": line.change_units,
                    }
                    for line in p.lines
                ],
                "gas_used": p.gas_used,
                "tx_hash": p.tx_hash,
            }
            for p in result.periods
        ],
        "unsettled_periods": list(result.unsettled_periods),
        "seconds": round(result.seconds, 3),
    }


@dso_app.command("resettle")
def resettle_command(
    file: FileArgument,
    rpc: RpcOption,
    deployment: DeploymentOption,
    community: EansCommunityOption = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="Encrypted JSON keystore of the manager (password: QUARTIER_KEYSTORE_PASSWORD "
            "or a prompt). Default on chain 31337: Anvil's public dev key.",
        ),
    ] = None,
    month: MonthOption = None,
    as_json: JsonOption = False,
) -> None:
    """Settle the workbook's periods again on the operator's gross volumes: each becomes a
    new settlement version on chain referencing the file's keccak (the first settlement is
    never rewritten). Exit 0 done, 2 refused (nothing sent)."""
    import requests
    from web3.exceptions import Web3Exception

    from ledger.chain import Sender, connect
    from ledger.community_config.keys import load_signer
    from ledger.deployment import load_deployment
    from ledger.dso.resettle import ResettleError
    from ledger.dso.resettle_chain import file_keccak, resettle
    from ledger.dso.workbook import SHEETS, read_month
    from ledger.errors import LedgerError

    data = read_month(file, _month(month), SHEETS)  # refused here: nothing is read or sent
    source = file_keccak(file)
    ean_of = ean_by_address(deployment, community)
    try:
        loaded = load_deployment(deployment)
        w3 = connect(rpc)
        loaded.check_chain(w3)
        account = load_signer(
            int(w3.eth.chain_id), key, lambda: typer.prompt("keystore password", hide_input=True)
        )
        result = resettle(Sender(w3, account), loaded, data, source, ean_of, resettle_rule)
    except ResettleError:
        raise
    except LedgerError as error:
        raise ResettleError(str(error)) from None
    except (requests.RequestException, Web3Exception) as error:
        raise ResettleError(f"the chain failed: {type(error).__name__}: {error}") from None
    if as_json:
        typer.echo(json.dumps(_json(result), indent=2))
        return
    recorded = [p for p in result.periods if p.recorded]
    typer.echo(
        f"{result.month}: {len(result.periods)} settled periods covered, {len(recorded)} new"
        f" versions (source 0x{result.source_keccak.hex()})"
    )
    for period in recorded:
        typer.echo(
            f"  period {period.period_id}: version {period.version}, {len(period.lines)} lines,"
            f" {period.gas_used:,} gas"
        )
    if result.unsettled_periods:
        typer.echo(f"  not settled yet: {', '.join(map(str, result.unsettled_periods))}")
