"""A region's tariffs of one year, read from `tariffs/<region>-<year>.toml` (see that file).

`load_tariff` checks the whole file once (every component present, network costs and taxes
>= 0, the bands of each set covering every local quarter-hour exactly once, a price for every
month of the year and every band; a capacity rate >= 0 and, if any DSO has one, the
`[capacity]` rule) and refuses with one TariffError naming the file, the key and, where it
applies, the month or the time. `Tariff.prices` then gives a member's prices
for one quarter-hour, looked up in local time (Europe/Brussels: summer time included, a
quarter-hour starting at 02:15 local in July is in July's 02:00 band).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.economics.errors import TariffError

TARIFF_DIR = Path(__file__).parent / "tariffs"
SLOTS_PER_DAY = 96
TAX_KEYS = (
    "excise_per_kwh",
    "energy_contribution_per_kwh",
    "connection_fee_per_kwh",
    "green_certificates_per_kwh",
)


@dataclass(frozen=True)
class BandSet:
    """Named bands of a day: `slot_band[q]` is the band of local quarter-hour q (0 = 00:00)."""

    name: str
    bands: tuple[str, ...]
    slot_band: tuple[str, ...]

    def band_at(self, local: datetime) -> str:
        return self.slot_band[local.hour * 4 + local.minute // 15]


@dataclass(frozen=True)
class Offer:
    """A supplier's energy (or injection) price per month ("YYYY-MM") and band."""

    name: str
    band_set: BandSet
    per_kwh: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Network:
    """One DSO: distribution per band of each configuration, plus transmission per kWh.

    `capacity_per_kw_year`: the optional capacity charge (units per kW of monthly peak per
    year, excluding VAT; Flanders since 2023), None where the DSO bills none.
    """

    name: str
    transmission_per_kwh: int
    distribution_per_kwh: dict[str, dict[str, int]]
    capacity_per_kw_year: int | None = None


@dataclass(frozen=True)
class Member:
    """What a member signed: its DSO, supply offer, injection offer; in one building or not."""

    dso: str
    supply: str
    injection: str
    in_building: bool = False


@dataclass(frozen=True)
class Prices:
    """One member's prices for one quarter-hour, units per kWh, excluding VAT.

    `network_per_kwh` = distribution + transmission (what the in-building discount reduces);
    `taxes_per_kwh` = excise, contributions and surcharges; `injection_per_kwh` may be < 0.
    """

    energy_per_kwh: int
    network_per_kwh: int
    taxes_per_kwh: int
    injection_per_kwh: int
    vat_percent: int
    in_building_discount_percent: int


@dataclass(frozen=True)
class Tariff:
    """A region's tariffs of one year (`file` names it in errors)."""

    file: str
    region: str
    year: int
    zone: ZoneInfo
    vat_percent: int
    in_building_discount_percent: int
    band_sets: dict[str, BandSet]
    taxes_per_kwh: dict[str, int]
    networks: dict[str, Network]
    supplies: dict[str, Offer]
    injections: dict[str, Offer]
    #: The capacity charge's floor on a month's peak (`[capacity]`; 0 without capacity charge).
    capacity_minimum_w: int = 0

    @property
    def taxes_total_per_kwh(self) -> int:
        return sum(self.taxes_per_kwh.values())

    def local_time(self, unix_seconds: int) -> datetime:
        """The local wall-clock time of a UTC instant."""
        return datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(self.zone)

    def capacity_per_kw_year(self, member: Member) -> int | None:
        """The member's DSO's capacity rate (units per kW per year), None if it bills none."""
        self.check_member(member)
        return self.networks[member.dso].capacity_per_kw_year

    def check_member(self, member: Member) -> None:
        """TariffError unless the member's DSO and offers are in this file."""
        for kind, names, name in (
            ("network", self.networks, member.dso),
            ("supply", self.supplies, member.supply),
            ("injection", self.injections, member.injection),
        ):
            if name not in names:
                raise TariffError(self.file, f"{kind}.{name}", "not in the file")

    def prices(self, member: Member, unix_seconds: int) -> Prices:
        """The member's prices of the quarter-hour starting at `unix_seconds` (UTC)."""
        self.check_member(member)
        local = self.local_time(unix_seconds)
        month = f"{local.year:04d}-{local.month:02d}"
        supply = self.supplies[member.supply]
        injection = self.injections[member.injection]
        energy = _monthly(self, f"supply.{supply.name}.energy_per_kwh", supply, month, local)
        injected = _monthly(
            self, f"injection.{injection.name}.price_per_kwh", injection, month, local
        )
        network = self.networks[member.dso]
        band = supply.band_set.band_at(local)
        distribution = network.distribution_per_kwh[supply.band_set.name][band]
        return Prices(
            energy_per_kwh=energy,
            network_per_kwh=distribution + network.transmission_per_kwh,
            taxes_per_kwh=self.taxes_total_per_kwh,
            injection_per_kwh=injected,
            vat_percent=self.vat_percent,
            in_building_discount_percent=self.in_building_discount_percent,
        )


def _monthly(tariff: Tariff, key: str, offer: Offer, month: str, local: datetime) -> int:
    table = offer.per_kwh.get(month)
    if table is None:
        raise TariffError(tariff.file, key, "no price for this month", local.date().isoformat())
    return table[offer.band_set.band_at(local)]


# ------------------------------------------------------------------ loading and checking


class _Reader:
    """Walks the raw TOML with the file's name at hand for every refusal."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str, when: str | None = None) -> TariffError:
        return TariffError(self.file, key, problem, when)

    def table(self, raw: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = raw.get(key)
        if value is None:
            raise self.fail(f"{path}{key}", "missing")
        if not isinstance(value, dict):
            raise self.fail(f"{path}{key}", "must be a table")
        return value

    def integer(self, raw: dict[str, Any], key: str, path: str, minimum: int | None) -> int:
        value = raw.get(key)
        if value is None:
            raise self.fail(f"{path}{key}", "missing")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{path}{key}", f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            what = "a negative cost" if minimum == 0 else f"below {minimum}"
            raise self.fail(f"{path}{key}", f"{what}: {value}")
        return value

    def text(self, raw: dict[str, Any], key: str, path: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{path}{key}", "missing" if value is None else "must be a string")
        return value


def _minutes(reader: _Reader, key: str, text: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        raise reader.fail(key, f"{text!r} is not HH:MM") from None
    if not (0 <= hours <= 24 and minutes in (0, 15, 30, 45)) or (hours == 24 and minutes):
        raise reader.fail(key, f"{text!r} is not a quarter-hour of the day")
    return hours * 60 + minutes


def _band_set(reader: _Reader, name: str, raw: dict[str, Any]) -> BandSet:
    path = f"bands.{name}"
    slots: list[str | None] = [None] * SLOTS_PER_DAY
    for band, ranges in raw.items():
        key = f"{path}.{band}"
        if not isinstance(ranges, list) or not ranges:
            raise reader.fail(key, 'must be a list of "HH:MM-HH:MM"')
        for text in ranges:
            start_text, _, end_text = str(text).partition("-")
            start, end = _minutes(reader, key, start_text), _minutes(reader, key, end_text)
            if end <= start:
                raise reader.fail(key, f"{text!r} ends before it starts")
            for slot in range(start // 15, end // 15):
                other = slots[slot]
                if other is not None:
                    at = f"{slot // 4:02d}:{slot % 4 * 15:02d}"
                    raise reader.fail(key, f"{text} overlaps band {other!r}", f"at {at}")
                slots[slot] = band
    covered: list[str] = []
    for slot, found in enumerate(slots):
        if found is None:
            raise reader.fail(
                path, "no band covers this time", f"at {slot // 4:02d}:{slot % 4 * 15:02d}"
            )
        covered.append(found)
    return BandSet(name, tuple(raw), tuple(covered))


def _banded(
    reader: _Reader, raw: dict[str, Any], key: str, band_set: BandSet, minimum: int | None
) -> dict[str, int]:
    extra = set(raw) - set(band_set.bands)
    if extra:
        raise reader.fail(f"{key}.{sorted(extra)[0]}", f"not a band of {band_set.name}")
    return {band: reader.integer(raw, band, f"{key}.", minimum) for band in band_set.bands}


def _offer(
    reader: _Reader,
    kind: str,
    name: str,
    raw: dict[str, Any],
    band_sets: dict[str, BandSet],
    year: int,
    prices_key: str,
    minimum: int | None,
) -> Offer:
    path = f"{kind}.{name}."
    set_name = reader.text(raw, "bands", path)
    if set_name not in band_sets:
        raise reader.fail(f"{path}bands", f"no band set {set_name!r} in [bands]")
    band_set = band_sets[set_name]
    table = reader.table(raw, prices_key, path)
    per_kwh = {}
    for month in range(1, 13):
        label = f"{year:04d}-{month:02d}"
        key = f"{path}{prices_key}"
        row = table.get(label)
        if row is None:
            raise reader.fail(key, "no price for this month", label)
        if not isinstance(row, dict):
            raise reader.fail(f'{key}."{label}"', "must be a table of bands", label)
        per_kwh[label] = _banded(reader, row, f'{key}."{label}"', band_set, minimum)
    return Offer(name, band_set, per_kwh)


def parse_tariff(text: str, file: str) -> Tariff:
    """The tariff in `text` (the contents of `file`, named in errors); TariffError if wrong."""
    reader = _Reader(file)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise reader.fail("(file)", f"not TOML: {error}") from None
    head = reader.table(raw, "file", "")
    year = reader.integer(head, "year", "file.", 2000)
    zone_name = reader.text(head, "timezone", "file.")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.fail("file.timezone", f"unknown time zone {zone_name!r}") from None
    vat = reader.integer(head, "vat_percent", "file.", 0)
    discount = reader.integer(head, "in_building_network_discount_percent", "file.", 0)
    if discount > 100:
        raise reader.fail("file.in_building_network_discount_percent", f"above 100: {discount}")
    bands_raw = reader.table(raw, "bands", "")
    band_sets = {
        name: _band_set(reader, name, reader.table(bands_raw, name, "bands.")) for name in bands_raw
    }
    taxes_raw = reader.table(raw, "taxes", "")
    taxes = {key: reader.integer(taxes_raw, key, "taxes.", 0) for key in TAX_KEYS}
    networks = {}
    for dso, net_raw in reader.table(raw, "network", "").items():
        path = f"network.{dso}."
        if not isinstance(net_raw, dict):
            raise reader.fail(path[:-1], "must be a table")
        distribution_raw = reader.table(net_raw, "distribution_per_kwh", path)
        distribution = {
            name: _banded(
                reader,
                reader.table(distribution_raw, name, f"{path}distribution_per_kwh."),
                f"{path}distribution_per_kwh.{name}",
                band_set,
                0,
            )
            for name, band_set in band_sets.items()
        }
        capacity = None
        if "capacity_per_kw_year" in net_raw:
            capacity = reader.integer(net_raw, "capacity_per_kw_year", path, 0)
        networks[dso] = Network(
            dso, reader.integer(net_raw, "transmission_per_kwh", path, 0), distribution, capacity
        )
    minimum_w = _capacity_rule(reader, raw, networks)
    supplies = {
        name: _offer(reader, "supply", name, offer, band_sets, year, "energy_per_kwh", 0)
        for name, offer in reader.table(raw, "supply", "").items()
    }
    injections = {
        name: _offer(reader, "injection", name, offer, band_sets, year, "price_per_kwh", None)
        for name, offer in reader.table(raw, "injection", "").items()
    }
    for kind, table in (("network", networks), ("supply", supplies), ("injection", injections)):
        if not table:
            raise reader.fail(kind, "no entry")
    return Tariff(
        file=file,
        region=reader.text(head, "region", "file."),
        year=year,
        zone=zone,
        vat_percent=vat,
        in_building_discount_percent=discount,
        band_sets=band_sets,
        taxes_per_kwh=taxes,
        networks=networks,
        supplies=supplies,
        injections=injections,
        capacity_minimum_w=minimum_w,
    )


def _capacity_rule(reader: _Reader, raw: dict[str, Any], networks: dict[str, Network]) -> int:
    """`[capacity] minimum_monthly_peak_w`: required iff some DSO bills a capacity charge."""
    billing = [name for name, network in networks.items() if network.capacity_per_kw_year]
    if "capacity" not in raw:
        if billing:
            raise reader.fail("capacity", f"missing (network.{billing[0]} bills a capacity rate)")
        return 0
    table = reader.table(raw, "capacity", "")
    return reader.integer(table, "minimum_monthly_peak_w", "capacity.", 0)


def load_tariff(path: Path) -> Tariff:
    """Read and check a tariff file (TariffError names the file and what is wrong)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TariffError(path.name, "(file)", f"cannot be read: {error.strerror}") from None
    return parse_tariff(text, path.name)


@cache
def tariff_of(region: str, year: int) -> Tariff:
    """The shipped tariff of `region` for `year` (TariffError when there is none)."""
    path = TARIFF_DIR / f"{region}-{year}.toml"
    if not path.exists():
        shipped = sorted(p.name for p in TARIFF_DIR.glob("*.toml"))
        raise TariffError(
            path.name, "(file)", f"no tariff file (shipped: {', '.join(shipped)})", str(year)
        )
    return load_tariff(path)
