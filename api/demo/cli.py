"""`quartier demo`: a neighbourhood day on protocol v2, end to end, with its figures."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.demo.checks import settlement_problems
from api.demo.errors import DemoError
from api.demo.neighbourhood import REGION, TIMEZONE, member_contracts
from api.demo.report import euros, kwh, price, write_report
from api.demo.run import DemoConfig, run_day
from api.demo.summary import Summary, summarise
from api.economics.tariff import tariff_of
from metering.adapters.simulated import FleetSettings
from metering.adapters.simulated_weather import WeatherKind

demo_app = typer.Typer(help="Run the neighbourhood demo on a local chain.")

SLOTS_PER_DAY = 96


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DemoError(f"--date must be YYYY-MM-DD, got {text!r}") from None


def _parse_start(text: str | None, day: date) -> tuple[date, int]:
    """(UTC day, its quarter-hour) of `text`, a Brussels time on `day` (None: the start of
    the day's settlement period, 00:00 UTC)."""
    if text is None:
        return day, 0
    try:
        moment = datetime.strptime(text, "%H:%M")
    except ValueError:
        raise DemoError(f"--start must be HH:MM (Brussels time), got {text!r}") from None
    if moment.minute % 15:
        raise DemoError(f"--start must be on a quarter-hour, got {text!r}")
    local = datetime.combine(day, moment.time(), tzinfo=TIMEZONE)
    utc = local.astimezone(UTC)
    return utc.date(), utc.hour * 4 + utc.minute // 15


def _print_summary(console: Console, summary: Summary) -> None:
    table = Table(title="Bills of the day (Walloon rule): alone vs in the community, energy in kWh")
    for column in ("household", "contract", "kWp", "taken", "fed in", "bought", "sold"):
        table.add_column(column, justify="right", no_wrap=True)
    for column in ("alone", "community", "saved", "network+taxes"):
        table.add_column(column, justify="right", no_wrap=True)
    for bill in summary.bills:
        table.add_row(
            bill.name,
            bill.supply.removeprefix("variable-"),
            f"{bill.pv_kwp:.1f}",
            kwh(bill.imported_wh),
            kwh(bill.exported_wh),
            kwh(bill.bought_wh),
            kwh(bill.sold_wh),
            euros(bill.bill_without_units),
            euros(bill.bill_with_units),
            euros(bill.savings_units),
            euros(bill.network_and_taxes_units),
        )
    console.print(table)
    average = summary.average_price_per_kwh
    savers = sum(1 for bill in summary.bills if bill.savings_units > 0)
    audit = "[green]passed[/]" if summary.audit_ok else "[red]FAILED[/]"
    lines = [
        f"{summary.households} households ({summary.pv_share:.0%} with PV), "
        f"{summary.intervals} quarter-hours: "
        f"{summary.schedules} schedules ({summary.entries} entries), {summary.meter_batches} "
        f"meter batches ({summary.readings} readings), {summary.trades} trades; "
        f"periods settled {list(summary.periods_settled)}",
        f"energy traded {kwh(summary.traded_wh)} kWh, delivered {kwh(summary.settled_wh)} kWh "
        f"({summary.delivered_share:.1%} of the {kwh(summary.possible_wh)} kWh neighbours "
        f"could exchange); average clearing price "
        f"{price(average) if average is not None else '-'} ({summary.mechanism}; the chain "
        f"bounds every member's limits to {price(summary.feed_in_per_kwh)} - "
        f"{price(summary.retail_per_kwh)})",
        f"self-consumption {summary.self_consumption:.1%} (PV surplus consumed by neighbours), "
        f"self-sufficiency {summary.self_sufficiency:.1%} (imports met locally)",
        f"the community saved {euros(summary.savings_units)} in total, {savers} of "
        f"{summary.households} members save (a shared kWh displaces the supplier's energy "
        f"only; network, taxes and VAT stay: "
        f"{euros(sum(b.network_and_taxes_units for b in summary.bills))} of the bills)",
        f"gas {summary.gas_per_household_day} per household-day, {summary.gas_per_trade} per "
        f"trade, {summary.gas_per_reading} per reading",
        f"audit ({summary.audit_source}): {audit}",
        *(f"  - {problem}" for problem in summary.audit_problems),
        f"wall time {summary.wall_seconds:.1f} s "
        + "("
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in summary.timings.items())
        + ")",
    ]
    console.print("\n".join(lines))


def _check_tariffs(households: int, seed: int, day: date) -> None:
    """Refuse at once (TariffError, exit 2) a day or a contract the tariff file cannot price."""
    tariff = tariff_of(REGION, day.year)
    for member in member_contracts(households, seed):
        tariff.check_member(member)


@demo_app.command("demo")
def demo(
    households: Annotated[int, typer.Option(min=2, max=500, help="Number of households.")] = 20,
    intervals: Annotated[
        int, typer.Option(min=1, max=7 * SLOTS_PER_DAY, help="Quarter-hours to run (96 = a day).")
    ] = 96,
    day: Annotated[
        str, typer.Option("--date", help="The day to replay, any day of the year.")
    ] = "2026-06-21",
    start: Annotated[
        str | None,
        typer.Option(
            help="First quarter-hour, HH:MM Brussels time (default: the start of the day's "
            "settlement period, 00:00 UTC = 01:00 or 02:00 in Brussels)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed, the same neighbourhood.")] = 7,
    pv_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the homes with PV.")
    ] = 0.25,
    battery_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the PV homes with a battery.")
    ] = 0.0,
    weather: Annotated[
        WeatherKind, typer.Option(help="The simulated year's sky (typical: Belgian normals).")
    ] = WeatherKind.TYPICAL,
    rpc: Annotated[
        str | None,
        typer.Option(
            help="Run on this already running node (Anvil: its evm_* time methods are used) "
            "in a new community, and leave the node running."
        ),
    ] = None,
    deployment_dir: Annotated[
        Path | None,
        typer.Option(help="With --rpc: write the deployment file here (default: a temp dir)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=366,
            help="Run this many days from 1 January of --date's year on the fast path "
            "(off-chain: the same fleet, agents, tariffs, rules and settlement engine) and "
            "print the yearly indicators beside published pilots'.",
        ),
    ] = None,
) -> None:
    """Run a neighbourhood day on protocol v2 (a fresh Anvil, or --rpc): day-ahead schedules
    and meter batches through the API, the relayer posts and settles, then the audit
    replays it all from the chain. Exit 1 if the audit or the demo's checks fail."""
    if days is not None:
        from api.demo.year import year_command

        settings = FleetSettings(pv_share, battery_share, weather)
        year_command(households, days, seed, _parse_date(day).year, settings, as_json)
        return
    _check_tariffs(households, seed, _parse_date(day))
    utc_day, start_slot = _parse_start(start, _parse_date(day))
    config = DemoConfig(
        households=households,
        intervals=intervals,
        day=utc_day,
        seed=seed,
        start_slot=start_slot,
        rpc_url=rpc,
        deployment_dir=deployment_dir,
        fleet=FleetSettings(pv_share, battery_share, weather),
    )
    console = Console(stderr=as_json)
    console.width = max(console.width, 100)  # the bills table, even when piped
    started = time.perf_counter()
    progress_console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=progress_console,
        transient=True,
        disable=not progress_console.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def show(phase: str, done: int, total: int) -> None:
            label = f"{phase} ({households} households)" if phase == "trading" else phase
            bar.update(task, description=label, completed=done, total=total)

        run = run_day(config, show)
    checks = settlement_problems(run.facts, run.periods)
    audit_problems = tuple(f"{p.kind}: {p.detail}" for p in run.audit.problems)
    problems = (*audit_problems, *checks)
    signatures = run.audit.schedule_signatures + run.audit.batch_signatures
    summary = summarise(
        run,
        audit_ok=not problems,
        audit_source=f"ledger.audit ({signatures} signatures) + the demo's checks",
        audit_problems=problems,
        wall_seconds=time.perf_counter() - started,
    )
    if report is not None:
        write_report(summary, report, f"Quartier demo — {config.day.isoformat()}")
    if as_json:
        typer.echo(json.dumps(summary.as_json(), indent=2))
    else:
        _print_summary(console, summary)
        if report is not None:
            console.print(f"report written to {report}")
    if not summary.audit_ok:
        raise typer.Exit(1)
