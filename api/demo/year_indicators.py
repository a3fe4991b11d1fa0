"""Yearly indicators of a community, in the definitions published pilots use.

Inputs per local calendar month (Europe/Brussels), integer Wh summed over the members:
consumption C (everything the homes used, behind the meter included), generation G (their
PV), gross offtake O (what their meters took from the grid), injection I (what they fed
into it) and shared S (what settlement delivered from members to members: each shared Wh is
in one member's I and another's O).

- shared share of gross offtake = S / O. The grid operator's figure: the part of what the
  members took from the grid that the community's sharing covered (CWaPE, "Le partage
  d'énergie", allocation per quarter-hour of the shared kWh against each member's metered
  offtake: https://www.cwape.be/node/6062; ORES reports it per month to the community).
- community self-consumption = (G - (I - S)) / G: the share of the members' PV used inside
  the community, in the home that made it (behind the meter) or by a neighbour; only
  I - S left the community. Quartierstrom's definition ("Eigenverbrauch der Gemeinschaft":
  prosumers' own use plus sales in the neighbourhood, over production; SSES press release
  on the first half of 2019, https://www.sses.ch/de/lokaler-strommarkt-walenstadt-erreicht-
  ziele/).
- community self-sufficiency = (C - (O - S)) / C: the share of the members' consumption met
  by their own PV, own or shared; only O - S came from outside. Quartierstrom's
  "Selbstversorgung" ("Im Juni konnte die Gemeinschaft ihren Strombedarf zu 47 Prozent
  selbst decken", same source).

Comparison figures (yearly, as published): Quartierstrom, Walenstadt, 37 households, 2019:
about 60 % community self-consumption ("bis zu 60 Prozent des Stroms in der Gemeinschaft
selbst genutzt", Beobachter 13.09.2019, https://www.beobachter.ch/umwelt/quartierstrom-
walenstadt-gunstiger-strom-von-nachbars-dach) and 33 % self-sufficiency (issue 14's figure
for 2019; the ETH final report was not re-read here: "about a third", cf. quartier-strom.ch
"Zu einem Drittel selbst versorgt", 25.04.2019). E-Cloud, Tournai Ouest business park
(ORES, IDETA, Luminus, UMONS; 12 firms, 400 kWp PV and a 2.2 MW wind turbine, July
2019 - June 2020): 61 % of the production self-consumed, covering 39 % of the needs
(https://www.dhnet.be/regions/tournai-ath-mouscron/tournai-une-premiere-experience-de-
communaute-d-energie-renouvelable-entre-entreprises-5f6a3250d8ad5862195332c1).

Home batteries sit behind the meter: C is the homes' load (not what the batteries took);
PV a battery stores and its home uses later counts as used at home, PV it sells in the
evening as fed in (shared or not), and its losses as used inside the community.

Ratios are the only floats (percent, one decimal, None when the denominator is 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from api.demo.errors import DemoError

#: (community self-consumption %, self-sufficiency %) of the published pilots.
PILOTS: dict[str, dict[str, Any]] = {
    "quartierstrom": {
        "name": "Quartierstrom (Walenstadt, 2019)",
        "self_consumption_percent": 60.0,
        "self_sufficiency_percent": 33.0,
    },
    "e_cloud": {
        "name": "E-Cloud (Tournai Ouest, 2019-2020)",
        "self_consumption_percent": 61.0,
        "self_sufficiency_percent": 39.0,
    },
}


@dataclass(frozen=True)
class MonthTotals:
    """One month of the community, integer Wh (see the module docstring)."""

    month: str
    consumption_wh: int
    generation_wh: int
    offtake_wh: int
    injection_wh: int
    shared_wh: int
    #: The most members could have shared: per quarter-hour min(Σ injection, Σ offtake),
    #: summed (None when unknown). shared / possible is how much of it the market reached.
    possible_wh: int | None = None
    #: The homes' mean monthly peak: each home's highest quarter-hour of offtake x 4 W, the
    #: figure a capacity tariff bills on (`api.economics.capacity`), averaged over the homes
    #: (over a run: the mean of its months). None when unknown.
    mean_peak_w: int | None = None

    def __post_init__(self) -> None:
        values = (
            self.consumption_wh,
            self.generation_wh,
            self.offtake_wh,
            self.injection_wh,
            self.shared_wh,
        )
        if min(values) < 0:
            raise DemoError(f"{self.month}: negative energy {values}")
        if self.shared_wh > min(self.offtake_wh, self.injection_wh):
            raise DemoError(
                f"{self.month}: {self.shared_wh} Wh shared, more than the "
                f"{self.offtake_wh} Wh taken or the {self.injection_wh} Wh fed in"
            )
        if self.possible_wh is not None and self.shared_wh > self.possible_wh:
            raise DemoError(f"{self.month}: shared more than the {self.possible_wh} Wh possible")

    @property
    def shared_share_of_offtake(self) -> float | None:
        return _percent(self.shared_wh, self.offtake_wh)

    @property
    def self_consumption(self) -> float | None:
        return _percent(
            self.generation_wh - (self.injection_wh - self.shared_wh), self.generation_wh
        )

    @property
    def self_sufficiency(self) -> float | None:
        return _percent(
            self.consumption_wh - (self.offtake_wh - self.shared_wh), self.consumption_wh
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "consumption_wh": self.consumption_wh,
            "generation_wh": self.generation_wh,
            "offtake_wh": self.offtake_wh,
            "injection_wh": self.injection_wh,
            "shared_wh": self.shared_wh,
            "possible_shared_wh": self.possible_wh,
            "mean_peak_w": self.mean_peak_w,
            "shared_share_of_offtake_percent": self.shared_share_of_offtake,
            "self_consumption_percent": self.self_consumption,
            "self_sufficiency_percent": self.self_sufficiency,
        }


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def year_total(months: Iterable[MonthTotals]) -> MonthTotals:
    """The whole run as one total (its `month` reads "first..last")."""
    listed = list(months)
    if not listed:
        raise DemoError("no month to total")
    label = listed[0].month if len(listed) == 1 else f"{listed[0].month}..{listed[-1].month}"
    return MonthTotals(
        label,
        sum(m.consumption_wh for m in listed),
        sum(m.generation_wh for m in listed),
        sum(m.offtake_wh for m in listed),
        sum(m.injection_wh for m in listed),
        sum(m.shared_wh for m in listed),
        None
        if any(m.possible_wh is None for m in listed)
        else sum(m.possible_wh or 0 for m in listed),
        None
        if any(m.mean_peak_w is None for m in listed)
        else sum(m.mean_peak_w or 0 for m in listed) // len(listed),
    )
