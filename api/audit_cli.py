"""`quartier audit`: the auditor's replay, wired to the real clearing engine.

`ledger.audit` cannot import `api.matching` (dependencies point api -> ledger), so the audit
takes its clearing rule as a parameter and this composition-root module passes the engine.

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

from api.errors import ApiError
from api.matching import Mechanism, PriceBounds, clear
from api.matching import Order as EngineOrder
from api.matching import Side as EngineSide
from api.matching.errors import MatchingError
from api.settings import Settings
from ledger.audit import (
    AuditReport,
    BookOrder,
    ClearedTrade,
    ClearingRule,
    Evidence,
    fetch_evidence,
    load_evidence,
    run_audit,
)
from ledger.audit.model import SIDE_SELL
from ledger.audit.report import write_csv, write_html
from ledger.audit.runner import EvidenceSource
from ledger.chain import connect
from ledger.deployment import load_deployment
from ledger.errors import LedgerError
from metering.errors import MeteringError

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_RUN = 0, 1, 2


def engine_rule(mechanism: Mechanism, bounds: PriceBounds | None) -> ClearingRule:
    """The matcher's clearing engine as the audit's rule (plain data in and out)."""

    def rule(book: Sequence[BookOrder]) -> list[ClearedTrade]:
        orders = [
            EngineOrder(
                order.id,
                order.household,
                EngineSide.SELL if order.side == SIDE_SELL else EngineSide.BUY,
                order.energy_wh,
                order.price_per_kwh,
            )
            for order in book
        ]
        result = clear(orders, mechanism, bounds)
        return [
            ClearedTrade(t.sell_id, t.buy_id, t.energy_wh, t.price_per_kwh) for t in result.trades
        ]

    return rule


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


def _summary(report: AuditReport) -> str:
    head = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    lines = [
        f"audit {head}: {len(report.intervals)} intervals, {len(report.trades)} trades, "
        f"{report.signatures_checked} signatures checked in {report.seconds:.2f} s"
    ]
    for problem in report.problems:
        where = "-" if problem.interval_id is None else str(problem.interval_id)
        lines.append(f"  [{where}] {problem.kind}: {problem.detail}")
    return "\n".join(lines)


def audit(
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of a node of the community's chain.")],
    deployment: Annotated[Path, typer.Option(help="The community's deployment file.")],
    from_block: Annotated[
        int | None, typer.Option(help="First block (default: the deployment block).")
    ] = None,
    to_block: Annotated[int | None, typer.Option(help="Last block (default: latest).")] = None,
    evidence: Annotated[
        Path | None, typer.Option(help="Directory of signed readings/orders (JSON, JSONL).")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help="A Quartier API to fetch the public order books from.")
    ] = None,
    mechanism: Annotated[
        Mechanism | None,
        typer.Option(help="The clearing mechanism to re-run (default: QUARTIER_MECHANISM)."),
    ] = None,
    feed_in_price: Annotated[
        int | None, typer.Option(help="Feed-in price per kWh (default: QUARTIER_FEED_IN_PER_KWH).")
    ] = None,
    retail_price: Annotated[
        int | None, typer.Option(help="Retail price per kWh (default: QUARTIER_RETAIL_PER_KWH).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write an HTML report with plots.")] = None,
    csv: Annotated[
        Path | None, typer.Option(help="Write trades.csv and settlements.csv to this directory.")
    ] = None,
) -> None:
    """Replay every commit, reading and settlement of a community and check it.

    Exit status 0 when everything checks, 1 when a problem is found, 2 when the audit could
    not run (unreachable node, missing deployment, deployment of another chain, bad evidence).
    """
    try:
        if evidence is not None and api is not None:
            raise typer.BadParameter("give --evidence or --api, not both")
        settings = Settings.from_env()
        bounds = PriceBounds(
            settings.feed_in_per_kwh if feed_in_price is None else feed_in_price,
            settings.retail_per_kwh if retail_price is None else retail_price,
        )
        rule = engine_rule(mechanism or settings.mechanism, bounds)
        loaded = load_deployment(deployment)
        w3 = connect(rpc)
        loaded.check_chain(w3)
        source: Evidence | EvidenceSource | None = None
        if evidence is not None:
            source = load_evidence(evidence)
        elif api is not None:
            url = api
            source = lambda interval_ids: fetch_evidence(url, interval_ids)  # noqa: E731
        with _progress_bar() as progress:
            task = progress.add_task("audit", total=None)
            report = run_audit(
                w3,
                loaded,
                rule,
                from_block,
                to_block,
                source,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
        if html is not None:
            write_html(report, html)
        if csv is not None:
            write_csv(report, csv)
    except (LedgerError, MatchingError, ApiError, MeteringError, OSError) as error:
        print(f"quartier audit: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    except (requests.RequestException, Web3Exception) as error:
        # The node answered at first, then stopped or refused a request mid-audit.
        print(
            f"quartier audit: the node at {rpc} failed during the audit: {error}", file=sys.stderr
        )
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    elif html is None and csv is None:
        typer.echo(_summary(report))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PROBLEMS)
