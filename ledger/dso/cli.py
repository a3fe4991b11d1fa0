"""`quartier dso import|reconcile|check-keys`: the grid operator's monthly workbook.

The command-line contract (other tools call it):
- `import FILE --community community.toml [--month YYYY-MM] [--json]` prints at least
  {"month", "eans", "quarter_hours", "unknown_eans"}; exit 0 imported, 2 refused (one line
  on stderr naming the sheet, the cell and the problem).
- `reconcile FILE --rpc URL --deployment FILE [--community FILE] [--tolerance-wh N] [--json]
  [--html FILE] [--csv DIR]`: exit 0 all agree, 1 differences, 2 could not run.
- `check-keys FILE --community community.toml [--json]`, or with the key from the chain
  `check-keys FILE --rpc URL --deployment FILE [--community FILE] [--json]` (members' EANs
  from the community file or the deployment's directory): exit 0 the shared volumes are the
  key's, 1 some quarter-hours differ, 2 refused; `key_source` says which key it used.
FILE is an .xlsx workbook or one sheet's .csv export (the other sheets beside it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.dso.errors import ReconcileError
from ledger.dso.workbook import GROSS, SHEETS, MonthData, read_month

dso_app = typer.Typer(
    help="The grid operator's monthly workbook: import it, reconcile it with the signed"
    " meters on chain, check its shared volumes against the community's key.",
    no_args_is_help=True,
)

FileArgument = Annotated[
    Path, typer.Argument(help="The operator's workbook (.xlsx) or a sheet's .csv export.")
]
CommunityOption = Annotated[
    Path, typer.Option("--community", help="The community file (community.toml).")
]
MonthOption = Annotated[
    str | None,
    typer.Option("--month", help="YYYY-MM the workbook must be of (default: a month in its name)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for other tools.")]
# The chain side of `reconcile` and `resettle`: the same three options for both.
RpcOption = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain.")]
DeploymentOption = Annotated[
    Path, typer.Option("--deployment", help="The community's deployment file.")
]
EansCommunityOption = Annotated[
    Path | None,
    typer.Option("--community", help="EANs from this file (default: the deployment's)."),
]

EXIT_DIFFERENCES = 1


def _month(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        year, month = (int(part) for part in value.split("-"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not YYYY-MM", param_hint="--month") from None
    if not 1 <= month <= 12:
        raise typer.BadParameter(f"{value!r} is not YYYY-MM", param_hint="--month")
    return year, month


def _print(value: dict[str, Any]) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@dso_app.command("import")
def import_workbook(
    file: FileArgument,
    community: CommunityOption,
    month: MonthOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a month's workbook (Brut Rep, Partagé Rep, Net Rep) exactly, in integer Wh."""
    from ledger.dso.members import load_members
    from ledger.dso.report import import_json

    members = load_members(community).name_of()
    data = read_month(file, _month(month), SHEETS)
    summary = import_json(data, members)
    if as_json:
        _print(summary)
        return
    matched = sum(1 for ean in data.eans() if ean in members)
    typer.echo(
        f"{data.month_text}: {summary['quarter_hours']} quarter-hours, {summary['eans']} EANs"
        f" ({matched} of them members of {community.name})"
    )
    for ean in summary["unknown_eans"]:
        typer.echo(f"  EAN {ean}: no member of the community")
    for ean in summary["members_without_columns"]:
        typer.echo(f"  {members[ean]} ({ean}): not in the workbook")
    for name, sheet in summary["sheets"].items():
        totals = ", ".join(f"{d} {wh / 1000:,.3f} kWh" for d, wh in sheet["total_wh"].items())
        typer.echo(f"  {name}: {sheet['columns']} columns, {totals}")


def _members(deployment: Path, community: Path | None) -> list[Any]:
    from ledger.community_config.files import load_deployment_file
    from ledger.dso.reconcile import Member

    if community is not None:
        from ledger.community_config.model import load_config

        config = load_config(community)
        return [Member(m.name, m.ean, m.address) for m in config.members]
    _, directory = load_deployment_file(deployment)
    members = [
        Member(entry.get("name", address), entry["ean"], address)
        for address, entry in directory.members.items()
        if entry.get("ean")
    ]
    if not members:
        raise ReconcileError(
            f"{deployment} names no member's EAN: give the community file with --community"
        )
    return members


def _chain(rpc: str, deployment_path: Path) -> Any:
    import requests
    from web3.exceptions import Web3Exception

    from ledger.deployment import load_deployment
    from ledger.dso.chain_meters import read_chain_meters
    from ledger.errors import LedgerError

    try:
        return read_chain_meters(rpc, load_deployment(deployment_path))
    except (LedgerError, OSError) as error:
        raise ReconcileError(f"cannot read the chain: {error}") from None
    except (requests.RequestException, Web3Exception) as error:
        raise ReconcileError(f"cannot read the chain: {type(error).__name__}: {error}") from None


@dso_app.command("reconcile")
def reconcile_workbook(
    file: FileArgument,
    rpc: RpcOption,
    deployment: DeploymentOption,
    community: EansCommunityOption = None,
    tolerance_wh: Annotated[
        int, typer.Option("--tolerance-wh", min=0, help="Differences up to N Wh agree.")
    ] = 0,
    month: MonthOption = None,
    as_json: JsonOption = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write an HTML report.")] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write differences.csv and members.csv here.")
    ] = None,
) -> None:
    """Compare the operator's gross volumes with the meters' signed batches on chain.

    Exit 0 when all agree, 1 when differences were found, 2 when it could not run."""
    from ledger.dso.reconcile import reconcile
    from ledger.dso.report import reconcile_json, write_reconcile_csv, write_reconcile_html

    data: MonthData = read_month(file, _month(month), (GROSS,))
    members = _members(deployment, community)
    result = reconcile(data, _chain(rpc, deployment), members, tolerance_wh)
    written = []
    if html is not None:
        written.append(write_reconcile_html(result, html))
    if csv_dir is not None:
        written.extend(write_reconcile_csv(result, csv_dir))
    if as_json:
        _print(reconcile_json(result))
    else:
        verdict = (
            "all agree"
            if result.agree
            else f"{len(result.differences)} differences above {tolerance_wh} Wh"
        )
        typer.echo(f"{result.month}: {result.quarter_hours} quarter-hours, {verdict}")
        for total in result.totals:
            typer.echo(
                f"  {total.member.name} ({total.member.ean}): "
                + ", ".join(
                    f"{d.value} operator {total.dso_wh[d]:,} Wh, meters {total.metered_wh[d]:,} Wh"
                    for d in total.dso_wh
                )
                + f"; {total.differences} differences"
            )
        for ean in result.unknown_eans:
            typer.echo(f"  EAN {ean}: no member of the community")
        shown = result.differences[:20]
        for d in shown:
            typer.echo(
                f"  {d.member} {d.direction.value} {d.interval_start}: operator {d.dso_wh} Wh,"
                f" meters {d.metered_wh} Wh ({d.cause})"
            )
        if len(result.differences) > len(shown):
            typer.echo(f"  ... {len(result.differences) - len(shown)} more (--json, --csv)")
        for path in written:
            typer.echo(f"wrote {path}")
    if not result.agree:
        raise typer.Exit(EXIT_DIFFERENCES)


@dso_app.command("check-keys")
def check_keys_command(
    file: FileArgument,
    community: Annotated[
        Path | None,
        typer.Option(
            "--community",
            help="The community file (community.toml): its [[sharing]] keys, unless --rpc.",
        ),
    ] = None,
    rpc: Annotated[
        str | None, typer.Option("--rpc", help="Take the key from the chain (QuartierSharingKeys).")
    ] = None,
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="The community's deployment file (--rpc).")
    ] = None,
    month: MonthOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute the shared volumes (Partagé Rep) from Brut Rep with the community's key:
    community.toml's [[sharing]], or with --rpc and --deployment the key on chain.

    Exit 0 when every quarter-hour agrees, 1 when some differ, 2 when refused."""
    from ledger.dso.check_keys import check_keys
    from ledger.dso.errors import KeyConfigError
    from ledger.dso.members import load_members
    from ledger.dso.report import check_keys_json
    from ledger.dso.workbook import SHARED

    if (rpc is None) != (deployment is None):
        raise KeyConfigError("the key from the chain needs both --rpc and --deployment")
    if rpc is None and community is None:
        raise KeyConfigError("give --community FILE, or --rpc URL --deployment FILE")
    if rpc is not None and deployment is not None:
        from ledger.sharing_keys_check import key_source_on_chain

        members, source, said = key_source_on_chain(rpc, deployment, community)
    else:
        assert community is not None  # checked above
        members, source, said = load_members(community), None, f"key from {community}"
    data = read_month(file, _month(month), (GROSS, SHARED))
    check = check_keys(data, members, source)
    said = said if source is None else f"{said} (keys {', '.join(map(str, source.used_keys()))})"
    if as_json:
        _print({**check_keys_json(data.month_text, check), "key_source": said})
    else:
        typer.echo(
            f"{data.month_text}: {check.quarter_hours} quarter-hours,"
            f" {check.differing_quarter_hours} differ from the community's key ({said})"
        )
        from ledger.dso.calendar import show_local

        for d in check.differences:
            typer.echo(
                f"  {show_local(d.interval_start)} {d.member} ({d.ean}) {d.direction.value}:"
                f" operator {d.dso_wh} Wh, key {d.computed_wh} Wh"
            )
    if check.differences:
        raise typer.Exit(EXIT_DIFFERENCES)
