"""`quartier household deposit|withdraw|schedule|cancel|statement`: a household's own commands.

- `deposit AMOUNT` / `withdraw AMOUNT`: escrow in the exchange (token base units).
- `schedule`: post a signed Schedule for a period, from a file (`--file`, TOML: see
  `ledger.community_config.household_plan`) or flags (`--sell/--buy INTERVAL:WH:PRICE`,
  the interval's index in the period). It starts at the period's first open interval, so a
  higher version replaces every open interval. Posted on chain by the household itself
  (forced inclusion, postSchedules), or handed to the API with `--api URL` (its relayer
  posts it).
- `cancel`: a higher version with the open intervals [--from, --to) emptied and the later
  entries kept (the protocol's only way to withdraw an entry; locks are released at the
  period's settlement).
- `statement`: trades, deliveries and payments per period, from the chain's events.

Signing: `--key KEYSTORE` (eth-account's encrypted JSON), or on chain 31337 `--anvil-account
N` (Anvil's public dev account). Every refusal is one line on stderr (exit 2 for input the
exchange would refuse, checked before anything is signed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.accounts import ANVIL_DEV_KEY, account_from_key
from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.community_config.actions import Action
from ledger.community_config.errors import CommunityConfigError, chain_errors_named
from ledger.community_config.files import Directory, load_deployment_file
from ledger.community_config.household_plan import (
    SIDE_NAMES,
    Request,
    add,
    book_of,
    load_request,
    parse_flag,
    plan_cancel,
    plan_schedule,
)
from ledger.community_config.statement import household_postings, read_statement, render_text
from ledger.community_config.status import kwh, local_time, price
from ledger.community_manage_cli import (
    AnvilAccountOption,
    Build,
    DeploymentOption,
    JsonOption,
    KeyOption,
    RpcOption,
    Scene,
    chain_command,
    checked_address,
    household_signer,
    positive_units,
)
from ledger.deployment import Deployment
from ledger.display import euros
from ledger.exchange import ExchangeClient
from ledger.rules import TimeGrid
from ledger.schedules import (
    Schedule,
    schedule_body,
    schedule_struct_hash,
    sign_schedule,
)
from ledger.token import TokenClient

household_app = typer.Typer(
    help="A household's own commands: escrow, schedules, and its statement.",
    no_args_is_help=True,
)

#: Seconds to wait for the API's answer to a schedule.
API_TIMEOUT_SECONDS = 30


class ApiRefusedError(CommunityConfigError):
    """The API did not accept the schedule (its problem+json title and detail, or why it
    could not be reached)."""


@chain_command(household_app, "deposit", manager=False)
def deposit(
    amount_units: Annotated[int, typer.Argument(help="Token base units (1 EUR = 1000000).")],
) -> Build:
    """Approve the exchange and deposit credits into the household's free escrow."""
    units = positive_units(amount_units)

    def build(s: Scene) -> list[Action]:
        amount = euros(units, s.token.decimals())
        return [
            Action(
                f"approved {amount} for the exchange",
                s.token.contract.functions.approve(s.exchange.address, units),
                {"action": "approve", "address": s.acting, "amount_units": units},
            ),
            Action(
                f"deposited {amount}",
                s.exchange.contract.functions.deposit(units),
                {"action": "deposit", "address": s.acting, "amount_units": units},
            ),
        ]

    return build


@chain_command(household_app, "withdraw", manager=False)
def withdraw(
    amount_units: Annotated[int, typer.Argument(help="Token base units (1 EUR = 1000000).")],
) -> Build:
    """Withdraw free escrow back to the household's wallet."""
    units = positive_units(amount_units)

    def build(s: Scene) -> list[Action]:
        amount = euros(units, s.token.decimals())
        fn = s.exchange.contract.functions.withdraw(units)
        record = {"action": "withdraw", "address": s.acting, "amount_units": units}
        return [Action(f"withdrew {amount}", fn, record)]

    return build


PeriodOption = Annotated[
    int | None, typer.Option("--period", help="The period (default: the next one).")
]
VersionOption = Annotated[
    int | None,
    typer.Option("--version", help="The schedule's version (default: the last one + 1)."),
]
ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api", help="Hand the signed schedule to this Quartier API (its relayer posts)."
    ),
]


class _Household:
    """The household's view of the chain: its key, the contracts, the grid, the time."""

    def __init__(
        self, rpc: str, deployment_file: Path, key: Path | None, anvil_index: int | None
    ) -> None:
        self.deployment, self.directory = load_deployment_file(deployment_file)
        w3 = connect(rpc)
        self.deployment.check_chain(w3)
        self.account: LocalAccount = household_signer(int(w3.eth.chain_id), key, anvil_index)
        self.sender = Sender(w3, self.account)
        self.exchange = ExchangeClient(self.sender, self.deployment.address("QuartierExchange"))
        self.community = CommunityClient(self.sender, self.deployment.address("QuartierCommunity"))
        self.token = TokenClient(self.sender, self.deployment.address("QuartierToken"))
        self.grid: TimeGrid = self.community.time_grid()
        self.now = int(w3.eth.get_block("latest")["timestamp"])

    @property
    def address(self) -> str:
        return str(self.account.address)

    def period(self, requested: int | None) -> int:
        return self.grid.period_at(self.now) + 1 if requested is None else requested

    def version(self, period_id: int, requested: int | None, api: str | None) -> int:
        if requested is not None:
            return requested
        last = self.exchange.schedule_record(self.address, period_id).last_version
        if api is not None:
            last = max([last, *(row["version"] for row in _api_rows(api, self, period_id))])
        return last + 1


def _api_rows(api: str, household: _Household, period_id: int) -> list[dict[str, Any]]:
    """The household's schedules the API holds for the period (not refused)."""
    answer = _api("GET", f"{api.rstrip('/')}/periods/{period_id}/schedules")
    rows: list[dict[str, Any]] = answer.get("schedules", [])
    return [
        row for row in rows if row["household"] == household.address and row["status"] != "refused"
    ]


def _api(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        response = requests.request(method, url, json=body, timeout=API_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise ApiRefusedError(f"the API at {url} did not answer ({type(error).__name__})") from None
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    if response.status_code >= 400:
        title = answer.get("title") or response.reason
        detail = answer.get("detail")
        raise ApiRefusedError(
            f"the API refused ({response.status_code} {title})" + (f": {detail}" if detail else "")
        )
    return answer


def _post(household: _Household, schedule: Schedule, api: str | None) -> dict[str, Any]:
    """Sign and post (on chain, or to the API); the record of what happened."""
    signed = sign_schedule(
        household.account.key,
        schedule,
        household.deployment.chain_id,
        household.exchange.address,
    )
    record: dict[str, Any] = {
        "household": schedule.household,
        "member": household.directory.member_name(schedule.household),
        "period_id": schedule.period_id,
        "version": schedule.version,
        "first_interval_id": schedule.first_interval_id,
        "first_start": household.grid.interval_start(schedule.first_interval_id),
        "entries": [
            {
                "interval_id": schedule.first_interval_id + offset,
                "index": schedule.first_interval_id
                + offset
                - household.grid.first_interval(schedule.period_id),
                "start": household.grid.interval_start(schedule.first_interval_id + offset),
                "side": SIDE_NAMES[entry.side],
                "energy_wh": entry.energy_wh,
                "price_per_kwh": entry.price_per_kwh,
            }
            for offset, entry in enumerate(schedule.entries)
            if entry.energy_wh
        ],
        "lock_units": schedule.lock_units,
        "schedule_hash": "0x" + schedule_struct_hash(schedule).hex(),
    }
    if api is None:
        with chain_errors_named():
            result = household.exchange.post_schedules([signed])
        return {**record, "via": "chain", "status": "posted", "gas_used": result.gas_used}
    answer = _api(
        "POST", f"{api.rstrip('/')}/schedules", schedule_body(signed.schedule, signed.signature)
    )
    return {**record, "via": "api", "status": answer.get("status", "pending")}


def _describe(record: dict[str, Any], decimals: int, verb: str) -> list[str]:
    who = record["member"] or record["household"]
    if record["via"] == "chain":
        where = "on chain"
    else:
        where = f"to the API (status {record['status']}; its relayer posts it)"
    lines = [
        f"{verb} version {record['version']} of period {record['period_id']} for {who} {where};"
        f" locks {euros(record['lock_units'], decimals)}"
    ]
    for entry in record["entries"]:
        limit = ">=" if entry["side"] == "sell" else "<="
        lines.append(
            f"  {local_time(entry['start'])} {entry['side']} {kwh(entry['energy_wh'])}"
            f" at {limit} {price(entry['price_per_kwh'], decimals)}"
        )
    if not record["entries"]:
        lines.append(f"  no entry from {local_time(record['first_start'])} on")
    return lines


def _print(record: dict[str, Any], as_json: bool, household: _Household, verb: str) -> None:
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    for line in _describe(record, household.token.decimals(), verb):
        typer.echo(line)


@household_app.command("schedule")
def schedule(
    rpc: RpcOption,
    deployment: DeploymentOption,
    file: Annotated[
        Path | None, typer.Option("--file", help="A schedule file (TOML; see the docs).")
    ] = None,
    sell: Annotated[
        list[str] | None,
        typer.Option("--sell", help="INTERVAL:ENERGY_WH:MIN_PRICE_PER_KWH (repeatable)."),
    ] = None,
    buy: Annotated[
        list[str] | None,
        typer.Option("--buy", help="INTERVAL:ENERGY_WH:MAX_PRICE_PER_KWH (repeatable)."),
    ] = None,
    period: PeriodOption = None,
    version: VersionOption = None,
    api: ApiOption = None,
    key: KeyOption = None,
    anvil_index: AnvilAccountOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sign and post a schedule: it replaces every open interval of the period."""
    request = load_request(file) if file is not None else Request({})
    entries = dict(request.entries)
    for side, flags in (("sell", sell or []), ("buy", buy or [])):
        for text in flags:
            index, entry = parse_flag(side, text)
            add(entries, index, entry, f"--{side} {text}")
    household = _Household(rpc, deployment, key, anvil_index)
    period_id = household.period(period if period is not None else request.period_id)
    with chain_errors_named():
        wanted = version if version is not None else request.version
        planned = plan_schedule(
            household.address,
            household.version(period_id, wanted, api),
            period_id,
            Request(entries),
            household.grid,
            household.community.rules_at(period_id),
            household.now,
        )
    _print(_post(household, planned, api), as_json, household, "posted")


@household_app.command("cancel")
def cancel(
    rpc: RpcOption,
    deployment: DeploymentOption,
    period: PeriodOption = None,
    from_index: Annotated[
        int | None,
        typer.Option("--from", help="First interval (index) to empty (default: the first open)."),
    ] = None,
    to_index: Annotated[
        int | None,
        typer.Option("--to", help="Interval (index) after the last to empty (default: the end)."),
    ] = None,
    version: VersionOption = None,
    api: ApiOption = None,
    key: KeyOption = None,
    anvil_index: AnvilAccountOption = None,
    as_json: JsonOption = False,
) -> None:
    """Withdraw open entries: a higher version with those intervals empty."""
    household = _Household(rpc, deployment, key, anvil_index)
    period_id = household.period(period)
    with chain_errors_named():
        postings = household_postings(
            household.exchange, household.deployment.deploy_block, household.address, period_id
        )
        if api is not None:  # schedules the API holds but has not posted yet count too
            posted = {p.version for p in postings}
            for row in sorted(_api_rows(api, household, period_id), key=lambda r: r["version"]):
                if row["version"] not in posted:
                    postings.append(_schedule_of(household.address, row))
            postings.sort(key=lambda p: p.version)
        planned = plan_cancel(
            household.address,
            household.version(period_id, version, api),
            period_id,
            book_of(postings),
            household.grid,
            household.community.rules_at(period_id),
            household.now,
            from_index,
            to_index,
        )
    _print(_post(household, planned, api), as_json, household, "cancelled: posted")


def _schedule_of(household: str, row: dict[str, Any]) -> Schedule:
    from ledger.entries import Entry, EntrySide

    sides = {"none": EntrySide.NONE, "sell": EntrySide.SELL, "buy": EntrySide.BUY}
    entries = tuple(
        Entry(sides[e["side"]], int(e["energy_wh"]), int(e["price_per_kwh"]))
        for e in row["entries"]
    )
    return Schedule(
        household,
        int(row["period_id"]),
        int(row["version"]),
        int(row["first_interval_id"]),
        entries,
    )


@household_app.command("statement")
def statement(
    rpc: RpcOption,
    deployment: DeploymentOption,
    household: Annotated[
        str | None,
        typer.Option("--household", help="Whose statement (default: the --key/--anvil-account's)."),
    ] = None,
    key: KeyOption = None,
    anvil_index: AnvilAccountOption = None,
    as_json: JsonOption = False,
) -> None:
    """Trades, deliveries and payments per period, from the chain's events."""
    known, directory = load_deployment_file(deployment)
    w3 = connect(rpc)
    known.check_chain(w3)
    if household is not None:
        address = checked_address(household)
    else:
        address = household_signer(int(w3.eth.chain_id), key, anvil_index).address
    # Reads only: any account will do as the sender of calls.
    reader = Sender(w3, account_from_key(ANVIL_DEV_KEY))
    with chain_errors_named():
        result = _statement(reader, known, directory, Web3.to_checksum_address(address))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        for line in render_text(result):
            typer.echo(line)


def _statement(
    reader: Sender, deployment: Deployment, directory: Directory, address: str
) -> dict[str, Any]:
    return read_statement(
        ExchangeClient(reader, deployment.address("QuartierExchange")),
        TokenClient(reader, deployment.address("QuartierToken")),
        CommunityClient(reader, deployment.address("QuartierCommunity")),
        deployment,
        directory,
        address,
    )
