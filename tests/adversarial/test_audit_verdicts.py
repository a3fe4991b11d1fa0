"""Property 7, the audit replays v2 from the chain alone: after a day of refused attacks and
honest settlements `quartier audit --json` passes with no flag but --rpc and --deployment;
a period left unsettled past its deadline is named, and stops being a problem once anyone
settles it. (Every other test of this tier ends with the audit's clean verdict too.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from attack_support import Period, audit
from typer.testing import CliRunner
from v2_support import World

from api.audit_cli import audit as audit_command
from ledger.deployment import save_deployment
from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration


def _audit_json(world: World, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """`quartier audit --rpc URL --deployment FILE --json`: exit code and report."""
    app = typer.Typer()
    app.command()(audit_command)
    path = save_deployment(world.deployment, tmp_path)
    rpc = world.manager.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, ["--rpc", rpc, "--deployment", str(path), "--json"])
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


def _period(world: World) -> Period:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    period.post(seller, [Entry(EntrySide.SELL, 700, 75_000)] * 4)
    period.post(buyer, [Entry(EntrySide.BUY, 400, 240_000)] * 4)
    return period


def test_refused_attacks_and_honest_periods_audit_clean_by_command(
    world: World, tmp_path: Path
) -> None:
    period = _period(world)
    seller, buyer = period.members
    # Attacks the chain refuses leave no trace an audit could trip on.
    replayed = period.schedule(buyer, [Entry(EntrySide.BUY, 400, 240_000)] * 4, version=1)
    period.refused("ExchangeStaleVersion", lambda: world.exchange.post_schedules([replayed]))
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 700)] * 4)
    period.sign(buyer, [(400, 0)] * 4)
    households = period.households()
    # Hints for the book without its seller (whatever the format, not the honest bytes).
    seller_index = next(n for n, h in enumerate(households) if h.household == seller.address)
    without_seller = households[:seller_index] + households[seller_index + 1 :]
    assert period.refuses_hints(households, period.expected(without_seller).hints)
    period.settle(period.outsider())
    # A second, honest period of the same community.
    following = _period(world)
    world.warp(world.grid.period_end(following.period_id))
    for member in following.members[:2]:
        registers = world.exchange.meter_chain(member.meters[0].meter_id)
        flow = [(0, 700)] * 4 if member is following.members[0] else [(400, 0)] * 4
        following.sign(member, flow, start=(registers.end_import_wh, registers.end_export_wh))
    following.settle()

    code, report = _audit_json(world, tmp_path)
    assert (code, report["ok"], report["problems"]) == (0, True, [])
    periods = {p["period_id"]: p for p in report["periods"]}
    for settled in (period, following):
        summary = periods[settled.period_id]
        assert (summary["settled"], summary["households"], summary["delivered_wh"]) == (
            True,
            2,
            1_600,
        )
    assert report["signatures_checked"]["schedules"] == 4
    assert report["signatures_checked"]["meter_batches"] == 4


def test_a_period_unsettled_past_its_deadline_is_named_until_settled(
    world: World, tmp_path: Path
) -> None:
    period = _period(world)
    grid = world.grid
    deadline = grid.settlement_deadline(
        period.period_id, world.community.rules_at(period.period_id)
    )
    world.warp(grid.period_end(period.period_id) + 1)
    # Over, but before its deadline: waiting for data is no problem yet.
    assert audit(world).ok
    world.warp(deadline + 1)
    code, report = _audit_json(world, tmp_path)
    assert code == 1
    assert report["ok"] is False
    assert [(p["kind"], p["period_id"]) for p in report["problems"]] == [
        ("period_unsettled", period.period_id)
    ]
    # Anyone settles it (no meter data left: 0 Wh, every lock released): clean again.
    result, _ = period.settle(period.outsider())
    assert result.settled.delivered_wh == 0
    assert audit(world).ok
