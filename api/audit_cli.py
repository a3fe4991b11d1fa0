"""The v2 `quartier audit` (not registered yet: the lead wires it at the switch-over).

`ledger.audit` cannot import `api.settlement` (dependencies point api -> ledger), so the
audit takes its settlement rule as a parameter; this composition root passes
`settlement_rule`, which runs `api.settlement.settle_period` on the audit's plain data.
Every fact comes from the chain: there is no option that could change the verdict.

Exit status: 0 everything checks, 1 a problem was found, 2 the audit could not run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import requests
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from web3.exceptions import Web3Exception

from api import settlement as engine
from ledger.audit import (
    AuditReport,
    RuleFigures,
    RuleHousehold,
    RuleOutcome,
    RuleRefusedError,
    run_audit,
)
from ledger.audit.report import write_csv, write_html
from ledger.chain import connect
from ledger.community import Window
from ledger.deployment import load_deployment
from ledger.errors import LedgerError
from ledger.events_v2 import ClearedInterval
from ledger.rules import Rules, TimeGrid

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_RUN = 0, 1, 2


def _window(window: Window) -> engine.Window:
    return engine.Window(window.admitted_at, window.removed_at)


def engine_settlement(
    rules: Rules, grid: TimeGrid, period_id: int, households: Sequence[RuleHousehold]
) -> engine.PeriodSettlement:
    """`api.settlement.settle_period` on the audit's plain data, with every interval's book,
    clearing and netting (the statements read who delivered what in each quarter-hour).

    Its refusals (SettlementError) come back as RuleRefusedError, the audit's own error.
    """
    try:
        return engine.settle_period(
            engine.Rules.of(rules),
            engine.TimeGrid.of(grid),
            period_id,
            [
                engine.HouseholdInput(
                    address=household.address,
                    membership=_window(household.membership),
                    postings=[
                        engine.Posting(p.version, p.first_interval_id, p.entries)
                        for p in household.postings
                    ],
                    meters=[
                        engine.MeterInput(_window(meter.window), meter.deltas)
                        for meter in household.meters
                    ],
                )
                for household in households
            ],
        )
    except engine.SettlementError as error:
        raise RuleRefusedError(str(error)) from error


def rule_outcome(settled: engine.PeriodSettlement) -> RuleOutcome:
    """The engine's settlement as the audit compares it with the chain's events."""
    return RuleOutcome(
        tuple(
            ClearedInterval(i.price_per_kwh, i.traded_wh, i.delivered_wh) for i in settled.intervals
        ),
        tuple(
            RuleFigures(h.address, h.delivered_wh, h.received_wh, h.change_units, h.released_units)
            for h in settled.households
        ),
        settled.delivered_wh,
        settled.rounding_units,
        settled.hints,
    )


def settlement_rule(
    rules: Rules, grid: TimeGrid, period_id: int, households: Sequence[RuleHousehold]
) -> RuleOutcome:
    """`api.settlement.settle_period` as the audit's SettlementRule (plain data in and out)."""
    return rule_outcome(engine_settlement(rules, grid, period_id, households))


@contextmanager
def _progress_bar() -> Iterator[Progress]:
    # On stderr, and only on a terminal: --json output and CI logs stay clean.
    console = Console(stderr=True)
    with Progress(
        TextColumn("auditing transactions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        yield progress


def summary(report: AuditReport) -> str:
    """The human-readable verdict: one line, then one line per problem."""
    head = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    settled = sum(1 for period in report.periods if period.settled)
    lines = [
        f"audit {head}: blocks {report.from_block}..{report.to_block}, "
        f"{len(report.periods)} periods ({settled} settled), "
        f"{report.schedule_signatures} schedule and {report.batch_signatures} meter "
        f"signatures checked in {report.seconds:.2f} s"
    ]
    for problem in report.problems:
        where = "-" if problem.period_id is None else str(problem.period_id)
        lines.append(f"  [{where}] {problem.kind}: {problem.detail}")
    return "\n".join(lines)


def audit(
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of a node of the community's chain.")],
    deployment: Annotated[Path, typer.Option(help="The community's deployment file.")],
    from_block: Annotated[
        int | None,
        typer.Option(
            help="Report problems from this block on (default: the deployment block); the "
            "replay always starts at the deployment."
        ),
    ] = None,
    to_block: Annotated[int | None, typer.Option(help="Last block (default: latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write an HTML report with plots.")] = None,
    csv: Annotated[
        Path | None,
        typer.Option(help="Write periods, intervals, households and problems CSV files here."),
    ] = None,
    dso_workbook: Annotated[
        Path | None,
        typer.Option(
            help="The grid operator's workbook: the settlement versions that reference its"
            " keccak must recompute from it (EANs from the deployment file or --dso-community)."
        ),
    ] = None,
    dso_community: Annotated[
        Path | None, typer.Option(help="EANs of the members for --dso-workbook (community.toml).")
    ] = None,
) -> None:
    """Replay every rule change, admission, posting, meter batch and settlement of a v2
    community from the chain, and check it.

    Exit status 0 when everything checks, 1 when a problem is found, 2 when the audit could
    not run (unreachable node, missing deployment, deployment of another chain).
    """
    try:
        loaded = load_deployment(deployment)
        workbook = None
        if dso_workbook is not None:
            from api.dso_cli import workbook_check

            workbook = workbook_check(dso_workbook, deployment, dso_community)
        w3 = connect(rpc)
        with _progress_bar() as progress:
            task = progress.add_task("audit", total=None)
            report = run_audit(
                w3,
                loaded,
                settlement_rule,
                from_block,
                to_block,
                lambda done, total: progress.update(task, completed=done, total=total),
                workbook,
            )
        written = []
        if html is not None:
            write_html(report, html)
            written.append(f"HTML report written to {html}")
        if csv is not None:
            files = write_csv(report, csv)
            written.append(f"CSV files written to {csv}: {', '.join(f.name for f in files)}")
    except (LedgerError, OSError) as error:
        print(f"quartier audit: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    except (requests.RequestException, Web3Exception) as error:
        # The node answered at first, then stopped or refused a request mid-audit.
        print(
            f"quartier audit: the node at {rpc} failed during the audit: {error}", file=sys.stderr
        )
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    except Exception as error:
        # The command's contract (DESIGN, "The command line"): one line, never a traceback.
        print(f"quartier audit: could not finish: {type(error).__name__}: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    if as_json:
        # stdout stays one JSON document; where the files went is said on stderr.
        typer.echo(json.dumps(report.as_json()))
    else:
        typer.echo(summary(report))
    for line in written:
        typer.echo(line, err=as_json)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PROBLEMS)
