"""Manager commands: one transaction each, signed with a keystore or printed unsigned for a
multisig (`--unsigned`), and the machinery the household's escrow commands share
(`ledger.household_cli`).

Manager: `quartier community admit|remove|register-meter|revoke-meter|fund|set-rule`. Each
takes `--rpc URL --deployment FILE [--key KEYSTORE] [--unsigned] [--json]`: those options are
declared once (`chain_command`) and added to every command's own arguments.
A change made here is on chain only: the next `community deploy` of a file that does not
list it undoes what it can (a member or meter missing from the file is removed or revoked),
so keep community.toml in step.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError
from web3 import Web3

from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.community_config.actions import Action, changed_rules, execute, unsigned
from ledger.community_config.apply import Record
from ledger.community_config.chain_state import read_state
from ledger.community_config.errors import ConfigRefusedError, chain_errors_named
from ledger.community_config.files import Directory, load_deployment_file
from ledger.community_config.keys import anvil_account, load_signer
from ledger.community_config.model import MeterEntry
from ledger.deployment import Deployment
from ledger.display import euros
from ledger.exchange import ExchangeClient
from ledger.token import TokenClient
from metering.reading import PublicKey, meter_id_of

RpcOption = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain.")]
DeploymentOption = Annotated[Path, typer.Option("--deployment", help="The deployment file.")]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="Encrypted JSON keystore (password: QUARTIER_KEYSTORE_PASSWORD or a prompt).",
    ),
]
UnsignedOption = Annotated[
    bool, typer.Option("--unsigned", help="Print the unsigned transaction (a multisig signs it).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for other tools.")]
FromOption = Annotated[
    str | None, typer.Option("--from", help="With --unsigned: the household's address.")
]
AnvilAccountOption = Annotated[
    int | None,
    typer.Option("--anvil-account", help="Chain 31337 only: Anvil's public dev account N."),
]


@dataclass(frozen=True)
class Scene:
    """What an action is built from: the contracts, the deployment and its directory, and the
    address that will send it."""

    community: CommunityClient
    token: TokenClient
    exchange: ExchangeClient
    deployment: Deployment
    directory: Directory
    acting: str


Build = Callable[[Scene], list[Action]]


def _run(
    rpc: str,
    deployment_file: Path,
    key: Path | None,
    anvil_index: int | None,
    as_unsigned: bool,
    as_json: bool,
    build: Build,
    manager: bool,
    origin: str | None = None,
) -> None:
    deployment, directory = load_deployment_file(deployment_file)
    w3 = connect(rpc)
    deployment.check_chain(w3)
    chain_id = int(w3.eth.chain_id)
    if as_unsigned:
        if not manager and origin is None:
            raise ConfigRefusedError("--unsigned needs --from ADDRESS (the household's)")
        reader = Sender(w3, _read_only())
    elif manager:
        reader = Sender(w3, load_signer(chain_id, key, _ask_password))
    else:
        reader = Sender(w3, household_signer(chain_id, key, anvil_index))
    with chain_errors_named():
        _send_all(
            reader, deployment, directory, build, chain_id, as_unsigned, as_json, manager, origin
        )


def _send_all(
    reader: Sender,
    deployment: Deployment,
    directory: Directory,
    build: Build,
    chain_id: int,
    as_unsigned: bool,
    as_json: bool,
    manager: bool,
    origin: str | None,
) -> None:
    community, token, exchange = _clients(reader, deployment)
    acting = (community.manager() if manager else origin) if as_unsigned else reader.address
    assert acting is not None
    actions = build(Scene(community, token, exchange, deployment, directory, acting))
    records: list[Record] = []
    for action in actions:
        if as_unsigned:
            records.append(unsigned(action, chain_id, acting))
        else:
            records.append(execute(action, reader))
            if not as_json:
                typer.echo(action.description)
    if as_json or as_unsigned:
        key_name = "transactions" if as_unsigned else "changes"
        typer.echo(json.dumps({key_name: records}, indent=2))


def _ask_password() -> str:
    answer: str = typer.prompt("keystore password", hide_input=True)
    return answer


def household_signer(chain_id: int, key: Path | None, anvil_index: int | None) -> LocalAccount:
    """A household's key: its keystore, or on chain 31337 Anvil's dev account N."""
    if anvil_index is not None:
        return anvil_account(chain_id, anvil_index)
    if key is None:
        raise ConfigRefusedError("give --key KEYSTORE (or --anvil-account N on Anvil)")
    return load_signer(chain_id, key, _ask_password)


def _read_only() -> LocalAccount:
    # --unsigned signs nothing: a throw-away key makes the view calls.
    account: LocalAccount = Account.create()
    return account


def _clients(
    sender: Sender, deployment: Deployment
) -> tuple[CommunityClient, TokenClient, ExchangeClient]:
    return (
        CommunityClient(sender, deployment.address("QuartierCommunity")),
        TokenClient(sender, deployment.address("QuartierToken")),
        ExchangeClient(sender, deployment.address("QuartierExchange")),
    )


def checked_address(value: str) -> str:
    """`value` if it is an EIP-55 checksum address (refused: exit 2)."""
    if not Web3.is_checksum_address(value):
        raise ConfigRefusedError(f"{value} is not a checksum address (EIP-55)")
    return value


def positive_units(value: int) -> int:
    """`value` if it is a positive amount of token units (refused: exit 2)."""
    if value <= 0:
        raise ConfigRefusedError(f"an amount is a positive number of token units, got {value}")
    return value


def _name(directory: Directory, address: str) -> str:
    return directory.member_name(address) or address


#: The options every manager command takes, after its own arguments (the command-line
#: contract: `quartier community admit ADDRESS --rpc URL --deployment FILE ...`).
MANAGER_OPTIONS = (
    inspect.Parameter("rpc", inspect.Parameter.KEYWORD_ONLY, annotation=RpcOption),
    inspect.Parameter("deployment", inspect.Parameter.KEYWORD_ONLY, annotation=DeploymentOption),
    inspect.Parameter("key", inspect.Parameter.KEYWORD_ONLY, annotation=KeyOption, default=None),
    inspect.Parameter(
        "as_unsigned", inspect.Parameter.KEYWORD_ONLY, annotation=UnsignedOption, default=False
    ),
    inspect.Parameter(
        "as_json", inspect.Parameter.KEYWORD_ONLY, annotation=JsonOption, default=False
    ),
)
#: A household's: the manager's plus --anvil-account and --from (with --unsigned).
HOUSEHOLD_OPTIONS = (
    *MANAGER_OPTIONS[:3],
    inspect.Parameter(
        "anvil_index", inspect.Parameter.KEYWORD_ONLY, annotation=AnvilAccountOption, default=None
    ),
    MANAGER_OPTIONS[3],
    inspect.Parameter(
        "origin", inspect.Parameter.KEYWORD_ONLY, annotation=FromOption, default=None
    ),
    MANAGER_OPTIONS[4],
)


def chain_command(
    app: typer.Typer, name: str, manager: bool = True
) -> Callable[[Callable[..., Build]], Callable[..., Build]]:
    """Register `make` as command `name`: its own parameters are the command's arguments,
    followed by the shared chain options; `make` validates them and returns what to send.

    Typer reads a command's parameters from its signature, so the command is `make`'s
    signature with the shared options appended, and runs `_run` with what `make` built.
    """
    shared = MANAGER_OPTIONS if manager else HOUSEHOLD_OPTIONS
    names = [parameter.name for parameter in shared]

    def register(make: Callable[..., Build]) -> Callable[..., Build]:
        own = list(inspect.signature(make, eval_str=True).parameters.values())

        def command(**values: Any) -> None:
            options = {name: values.pop(name) for name in names}
            build = make(**values)
            origin = options.get("origin")
            _run(
                options["rpc"],
                options["deployment"],
                options["key"],
                options.get("anvil_index"),
                options["as_unsigned"],
                options["as_json"],
                build,
                manager,
                None if origin is None else checked_address(origin),
            )

        command.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
        command.__doc__ = make.__doc__
        command.__name__ = make.__name__
        app.command(name)(command)
        return make

    return register


def register_manager_commands(app: typer.Typer) -> None:
    """Add the manager's commands to `quartier community`."""

    @chain_command(app, "admit")
    def admit(
        address: Annotated[str, typer.Argument(help="The household's checksum address.")],
    ) -> Build:
        """Admit a household now (an address is admitted at most once)."""
        household = checked_address(address)

        def build(s: Scene) -> list[Action]:
            fn = s.community.contract.functions.admitHousehold(household)
            return [
                Action(
                    f"admitted {household}", fn, {"action": "admit_member", "address": household}
                )
            ]

        return build

    @chain_command(app, "remove")
    def remove(
        address: Annotated[str, typer.Argument(help="The member's checksum address.")],
    ) -> Build:
        """Remove a member now, for ever; its meters stop counting too."""
        household = checked_address(address)

        def build(s: Scene) -> list[Action]:
            fn = s.community.contract.functions.removeHousehold(household)
            record = {
                "action": "remove_member",
                "member": s.directory.member_name(household),
                "address": household,
            }
            return [Action(f"removed {_name(s.directory, household)}", fn, record)]

        return build

    @chain_command(app, "register-meter")
    def register_meter(
        address: Annotated[str, typer.Argument(help="The member's checksum address.")],
        public_key_x: Annotated[str, typer.Option("--x", help="P-256 public key x (0x hex).")],
        public_key_y: Annotated[str, typer.Option("--y", help="P-256 public key y (0x hex).")],
    ) -> Build:
        """Register a meter's P-256 key for a member, counting from now."""
        household = checked_address(address)
        try:
            meter = MeterEntry(member="-", public_key_x=public_key_x, public_key_y=public_key_y)
        except ValidationError as error:
            message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
            raise ConfigRefusedError(f"register-meter: {message}") from None
        meter_id = "0x" + meter_id_of(PublicKey(meter.x, meter.y)).hex()

        def build(s: Scene) -> list[Action]:
            fn = s.community.contract.functions.admitMeter(household, meter.x, meter.y)
            record = {
                "action": "register_meter",
                "member": s.directory.member_name(household),
                "address": household,
                "meter_id": meter_id,
            }
            return [
                Action(
                    f"registered meter {meter_id} of {_name(s.directory, household)}", fn, record
                )
            ]

        return build

    @chain_command(app, "revoke-meter")
    def revoke_meter(
        meter_id: Annotated[str, typer.Argument(help="The meter id (0x, 32 bytes).")],
    ) -> Build:
        """Revoke a meter now, for ever."""
        try:
            raw = bytes.fromhex(meter_id.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConfigRefusedError(f"a meter id is 0x and 64 hex digits, got {meter_id!r}")

        def build(s: Scene) -> list[Action]:
            fn = s.community.contract.functions.revokeMeter(raw)
            record = {
                "action": "revoke_meter",
                "member": s.directory.meter_member(raw),
                "meter_id": "0x" + raw.hex(),
            }
            return [Action(f"revoked meter 0x{raw.hex()}", fn, record)]

        return build

    @chain_command(app, "fund")
    def fund(
        address: Annotated[str, typer.Argument(help="Who receives the credits.")],
        amount_units: Annotated[int, typer.Argument(help="Token base units (1 EUR = 1000000).")],
    ) -> Build:
        """Mint credits of the community's QuartierToken to an address (the manager mints)."""
        to, units = checked_address(address), positive_units(amount_units)

        def build(s: Scene) -> list[Action]:
            fn = s.token.contract.functions.mint(to, units)
            record = {
                "action": "fund",
                "member": s.directory.member_name(to),
                "address": to,
                "amount_units": units,
            }
            amount = euros(units, s.token.decimals())
            return [Action(f"funded {_name(s.directory, to)} with {amount}", fn, record)]

        return build

    @chain_command(app, "set-rule")
    def set_rule(
        rule: Annotated[str, typer.Argument(help="A key of community.toml's [rules].")],
        value: Annotated[str, typer.Argument(help="Its new value.")],
    ) -> Build:
        """Schedule one rule change; it takes effect after the contract's delay."""

        def build(s: Scene) -> list[Action]:
            state = read_state(s.community.sender, s.community.address, s.deployment.deploy_block)
            period_seconds = state.grid.interval_seconds * state.grid.period_intervals
            rules = changed_rules(state.latest_rules, rule, value, period_seconds)
            fn = s.community.contract.functions.scheduleRules(rules.as_abi())
            effective = state.current_period + state.rule_change_delay_periods
            record = {
                "action": "schedule_rules",
                "rule": rule,
                "value": value,
                "effective_from_period": effective,
            }
            return [Action(f"scheduled {rule} = {value} from period {effective}", fn, record)]

        return build
