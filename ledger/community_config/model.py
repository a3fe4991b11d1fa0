"""`community.toml`: the community as data, parsed with tomllib and checked with pydantic.

Every check the contracts would make is made here first, so that a bad file is refused
before any transaction is sent: the rules' bounds (IQuartierCommunity, CommunityInvalidRules),
the time grid and rule-change delay (fixed at deployment), EANs with their GS1 check digit,
EIP-55 checksum addresses, P-256 meter keys on the curve, no member or meter twice, at most
8 meters per member. A refusal is one ConfigRefusedError naming the file, the line and the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from web3 import Web3

from ledger.community_config.ean import ean_problem
from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.locate import Location, dotted, line_of
from ledger.community_config.sharing import SharingEntry, sharing_problem
from ledger.rules import Mechanism, Rules, TimeGrid

_UINT32_MAX = 2**32 - 1
_UINT24_MAX = 2**24 - 1
#: IQuartierCommunity: a settlement deadline is at most 30 days, a household has <= 8 meters.
MAX_SETTLEMENT_DEADLINE_SECONDS = 30 * 86_400
MAX_METERS_PER_MEMBER = 8
MIN_RULE_CHANGE_DELAY_PERIODS = 2

MECHANISMS: dict[str, Mechanism] = {
    "pay-as-clear": Mechanism.PAY_AS_CLEAR,
    "pay-as-bid": Mechanism.PAY_AS_BID,
    "community-price": Mechanism.COMMUNITY_PRICE,
}


def _checksum_address(value: str) -> str:
    if not Web3.is_address(value):
        raise ValueError(f"{value!r} is not an Ethereum address")
    expected = Web3.to_checksum_address(value)
    if value != expected:
        raise ValueError(f"{value} is not a checksum address (EIP-55: {expected})")
    return value


def _ean(value: str) -> str:
    problem = ean_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _coordinate(value: str) -> str:
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise ValueError(f"a P-256 coordinate is 0x and 64 hex digits, got {value!r}")
    return value.lower()


ChecksumAddress = Annotated[str, AfterValidator(_checksum_address)]
Ean = Annotated[str, AfterValidator(_ean)]
Coordinate = Annotated[str, AfterValidator(_coordinate)]
Uint32 = Annotated[int, Field(ge=0, le=_UINT32_MAX, strict=True)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenSection(_Section):
    """Deploy a QuartierToken (name, symbol; the manager mints) or use an ERC-20 at `address`."""

    name: Name | None = None
    symbol: Annotated[str, Field(min_length=1, max_length=11)] | None = None
    address: ChecksumAddress | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TokenSection:
        if self.address is not None and (self.name is not None or self.symbol is not None):
            raise ValueError("give either address (an existing ERC-20) or name and symbol")
        return self


class TimeSection(_Section):
    """Fixed at deployment: changing them would renumber every interval already signed."""

    interval_seconds: Annotated[int, Field(ge=1, le=_UINT32_MAX, strict=True)] = 900
    period_intervals: Annotated[int, Field(ge=1, le=_UINT32_MAX, strict=True)] = 96
    rule_change_delay_periods: Annotated[
        int, Field(ge=MIN_RULE_CHANGE_DELAY_PERIODS, le=_UINT32_MAX, strict=True)
    ] = MIN_RULE_CHANGE_DELAY_PERIODS

    def grid(self) -> TimeGrid:
        return TimeGrid(self.interval_seconds, self.period_intervals)

    @property
    def period_seconds(self) -> int:
        return self.interval_seconds * self.period_intervals


class RulesSection(_Section):
    """The on-chain rules (Rules.sol); prices in token base units per kWh (6 decimals)."""

    mechanism: Literal["pay-as-clear", "pay-as-bid", "community-price"]
    gate_lead_seconds: Uint32
    settlement_deadline_seconds: Annotated[
        int, Field(ge=1, le=MAX_SETTLEMENT_DEADLINE_SECONDS, strict=True)
    ]
    min_entry_wh: Annotated[int, Field(ge=1, le=_UINT24_MAX, strict=True)]
    price_floor_per_kwh: Uint32
    price_ceiling_per_kwh: Uint32
    community_price_per_kwh: Uint32

    def rules(self) -> Rules:
        return Rules(
            mechanism=MECHANISMS[self.mechanism],
            gate_lead_seconds=self.gate_lead_seconds,
            settlement_deadline_seconds=self.settlement_deadline_seconds,
            min_entry_wh=self.min_entry_wh,
            price_floor_per_kwh=self.price_floor_per_kwh,
            price_ceiling_per_kwh=self.price_ceiling_per_kwh,
            community_price_per_kwh=self.community_price_per_kwh,
        )


class ContractEntry(_Section):
    """What a member signed with its supplier, off chain: names in the region's tariff file
    (`api/economics/tariffs/<region>-<year>.toml`), which `quartier statement` bills with."""

    region: Name = "wallonia"
    dso: Name
    supply: Name
    injection: Name
    in_building: bool = False


class MemberEntry(_Section):
    """A household: its name (off chain), its connection point's EAN (off chain), its address,
    and optionally its supply contract (for its monthly statement)."""

    name: Name
    ean: Ean
    address: ChecksumAddress
    contract: ContractEntry | None = None


class MeterEntry(_Section):
    """A meter's P-256 public key (as `quartier meter keygen` prints it) and its member's name."""

    member: Name
    public_key_x: Coordinate
    public_key_y: Coordinate

    @property
    def x(self) -> int:
        return int(self.public_key_x, 16)

    @property
    def y(self) -> int:
        return int(self.public_key_y, 16)

    @model_validator(mode="after")
    def _on_curve(self) -> MeterEntry:
        try:
            ec.EllipticCurvePublicNumbers(self.x, self.y, ec.SECP256R1()).public_key()
        except ValueError:
            raise ValueError("the public key is not a point of P-256") from None
        return self


class CommunityFile(_Section):
    """The whole file."""

    name: Name
    token: TokenSection = TokenSection()
    time: TimeSection = TimeSection()
    rules: RulesSection
    members: list[MemberEntry] = []
    meters: list[MeterEntry] = []
    #: The CWaPE allocation keys: QuartierSharingKeys's first keys at deployment (by period,
    #: ledger.sharing_keys), and what `quartier dso check-keys --community` applies.
    sharing: list[SharingEntry] = []

    def member_named(self, name: str) -> MemberEntry:
        return next(member for member in self.members if member.name == name)


def load_config(path: Path) -> CommunityFile:
    """Read and check `path`; any refusal is one ConfigRefusedError (file:line: key: why)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigRefusedError(f"{path}: cannot read the file ({error})") from error
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "community.toml") -> CommunityFile:
    """Check the text of a community file (`source` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigRefusedError(_toml_message(text, source, str(error))) from None
    try:
        config = CommunityFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise _refusal(text, source, tuple(first["loc"]), message) from None
    _check_together(config, text, source)
    return config


def _check_together(config: CommunityFile, text: str, source: str) -> None:
    # The checks that look at several values at once, each naming the key that breaks them.
    broken = rules_problem(config.rules, config.time.period_seconds)
    if broken is not None:
        key, message = broken
        raise _refusal(text, source, ("rules", key), message)
    _unique(text, source, "members", [m.name for m in config.members], "name")
    _unique(text, source, "members", [m.ean for m in config.members], "ean")
    _unique(text, source, "members", [m.address.lower() for m in config.members], "address")
    keys = [f"{m.public_key_x}{m.public_key_y}" for m in config.meters]
    _unique(text, source, "meters", keys, "public_key_x", what="meter key")
    names = {member.name for member in config.members}
    counts: dict[str, int] = {}
    for index, meter in enumerate(config.meters):
        if meter.member not in names:
            raise _refusal(
                text, source, ("meters", index, "member"), f"no member is named {meter.member!r}"
            )
        counts[meter.member] = counts.get(meter.member, 0) + 1
        if counts[meter.member] > MAX_METERS_PER_MEMBER:
            raise _refusal(
                text,
                source,
                ("meters", index, "member"),
                f"{meter.member} has more than {MAX_METERS_PER_MEMBER} meters",
            )
    sharing = sharing_problem(config.sharing, names)
    if sharing is not None:
        index, key, message = sharing
        raise _refusal(text, source, ("sharing", index, key), message)


def rules_problem(rules: RulesSection, period_seconds: int) -> tuple[str, str] | None:
    """The rule key that breaks a bound spanning several values, and why (None: sound)."""
    if rules.price_floor_per_kwh > rules.price_ceiling_per_kwh:
        return "price_floor_per_kwh", "above the price ceiling"
    if not (
        rules.price_floor_per_kwh <= rules.community_price_per_kwh <= rules.price_ceiling_per_kwh
    ):
        return "community_price_per_kwh", "outside [floor, ceiling]"
    if rules.gate_lead_seconds >= period_seconds:
        return "gate_lead_seconds", f"must be shorter than a period ({period_seconds} s)"
    return None


def _unique(
    text: str, source: str, table: str, values: list[str], key: str, what: str | None = None
) -> None:
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            raise _refusal(
                text,
                source,
                (table, index, key),
                f"duplicated {what or key}: {table}[{seen[value]}] has it already",
            )
        seen[value] = index


def _refusal(text: str, source: str, location: Location, message: str) -> ConfigRefusedError:
    line = line_of(text, location)
    where = f"{source}:{line}" if line is not None else source
    return ConfigRefusedError(f"{where}: {dotted(location)}: {message}")


def _toml_message(text: str, source: str, message: str) -> str:
    # tomllib ends its messages with "(at line N, column M)"; name the line and show it.
    match = re.search(r"\(at line (\d+), column \d+\)$", message)
    if match is None:
        return f"{source}: malformed TOML: {message}"
    number = int(match.group(1))
    lines = text.splitlines()
    shown = lines[number - 1].strip()[:60] if number <= len(lines) else ""
    return f"{source}:{number}: malformed TOML: {message[: match.start()].strip()}: {shown!r}"
