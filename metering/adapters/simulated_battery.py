"""A home battery behind the meter, in whole Wh per quarter-hour (the simulated fleet's).

The rule, the same every quarter-hour whatever the market does (so a member's bill without
the community is of the same meter flows):
1. charge from the home's own surplus only (PV above load), up to the battery's power and
   free capacity, never from the grid;
2. self-consume: when the load exceeds PV, discharge to cover the home's own draw;
3. sell what is left: from SELL_FROM_HOUR to SELL_UNTIL_HOUR local time (the evening peak,
   when neighbours without PV buy) the battery also feeds the grid, at up to its power, the
   charge above RESERVE_SHARE of its capacity (the reserve covers the home's night and
   morning).
Integers: charging stores CHARGE_EFFICIENCY_PERCENT of what it takes (the rest is lost as
heat), a discharge delivers DISCHARGE_EFFICIENCY_PERCENT of what leaves the cells, each
rounded down, so stored charge never goes negative and no Wh leaves that was not stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
CHARGE_EFFICIENCY_PERCENT = 95
DISCHARGE_EFFICIENCY_PERCENT = 95
RESERVE_SHARE_PERCENT = 50
SELL_FROM_HOUR, SELL_UNTIL_HOUR = 18, 22


@dataclass(frozen=True)
class BatteryFlows:
    """One battery's year, Wh per UTC quarter-hour (integers)."""

    charged_wh: IntArray  # taken from the home's surplus
    discharged_wh: IntArray  # delivered to the home or the grid
    exported_wh: IntArray  # the part of `discharged_wh` fed into the grid (rule 3)
    stored_wh: IntArray  # charge in the cells at the END of each quarter-hour


def dispatch(
    net_wh: IntArray, capacity_wh: int, power_w: int, local_hour: npt.NDArray[np.int64]
) -> BatteryFlows:
    """Run the rule over a year: `net_wh` = load - PV of each quarter-hour (Wh), the battery
    empty at the start."""
    step_wh = power_w // 4  # the most a quarter-hour moves at `power_w`
    reserve_wh = capacity_wh * RESERVE_SHARE_PERCENT // 100
    slots = len(net_wh)
    charged, discharged, exported, stored = ([0] * slots for _ in range(4))
    sell = ((local_hour >= SELL_FROM_HOUR) & (local_hour < SELL_UNTIL_HOUR)).tolist()
    soc = 0
    for t, net in enumerate(net_wh.tolist()):
        if net < 0:
            room = (capacity_wh - soc) * 100 // CHARGE_EFFICIENCY_PERCENT
            take = min(-net, step_wh, room)
            soc += take * CHARGE_EFFICIENCY_PERCENT // 100
            charged[t] = take
        else:
            # The cells give `drawn` (enough to cover the home, rounded up) and deliver
            # drawn x efficiency (rounded down): a Wh over the home's need is heat, not export.
            drawn = min(soc, -(-net * 100 // DISCHARGE_EFFICIENCY_PERCENT), step_wh)
            soc -= drawn
            sold = 0
            if sell[t] and soc > reserve_wh and drawn < step_wh:
                sold = min(soc - reserve_wh, step_wh - drawn)
                soc -= sold
                drawn += sold
            out = drawn * DISCHARGE_EFFICIENCY_PERCENT // 100
            home = min(out, net)
            # Only rule 3 exports: a cell that covered the home gives no rounding Wh away.
            exported[t] = out - home if sold else 0
            discharged[t] = home + exported[t]
        stored[t] = soc
    return BatteryFlows(
        *(np.array(values, dtype=np.int64) for values in (charged, discharged, exported, stored))
    )
