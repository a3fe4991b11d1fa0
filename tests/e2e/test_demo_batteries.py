"""An evening with home batteries on the chain: what they sell in the dark settles, the audit
passes, and no member pays more than alone (each asks at least its own injection price and
bids at most its own energy price; the battery's rule does not depend on the market)."""

from __future__ import annotations

from api.demo.run import DemoConfig, run_day
from api.demo.summary import summarise
from metering.adapters.simulated import FleetSettings


def test_batteries_sell_in_the_dark_and_nobody_loses() -> None:
    # 17:00-23:00 UTC on 21 June: 19:00-01:00 in Brussels, sunset at about 22:00.
    config = DemoConfig(
        households=4,
        intervals=24,
        start_slot=68,
        seed=11,
        fleet=FleetSettings(pv_share=0.5, battery_share=1.0),
    )
    run = run_day(config)
    assert run.audit.ok, run.audit.problems
    summary = summarise(
        run, audit_ok=True, audit_source="test", audit_problems=(), wall_seconds=0.0
    )
    sim = run.simulation
    dark = [row for row in summary.series if not sim.is_daylight(row.interval_id)]
    assert dark
    assert sum(row.settled_wh for row in dark) > 0  # only batteries have energy then
    assert all(row.exported_wh == 0 or sim.may_have_sellers(row.interval_id) for row in dark)
    assert summary.pv_share == 0.5
    for bill in summary.bills:
        assert bill.savings_units >= 0, bill
    assert sum(1 for bill in summary.bills if bill.savings_units > 0) >= 2
