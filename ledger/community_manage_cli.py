"""Manager and household commands: one transaction each (two for a deposit), signed with a
keystore or printed unsigned for a multisig (`--unsigned`).

Manager: `quartier community admit|remove|register-meter|revoke-meter|fund|set-rule`.
Household: `quartier household deposit|withdraw`. Each takes `--rpc URL --deployment FILE`.
A change made here is on chain only: the next `community deploy` of a file that does not
list it undoes what it can (a member or meter missing from the file is removed or revoked),
so keep community.toml in step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

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
from ledger.community_config.status import euros
from ledger.deployment import Deployment
from ledger.exchange import ExchangeClient
from ledger.token import TokenClient
from metering.reading import PublicKey, meter_id_of

household_app = typer.Typer(
    help="A household's escrow in the exchange: deposit and withdraw credits.",
    no_args_is_help=True,
)

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

#: What an action is built from: the community, the token, the exchange, the directory, and
#: the address that will send it.
Build = Callable[[CommunityClient, TokenClient, ExchangeClient, Directory, str], list[Action]]


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
    elif anvil_index is not None:
        reader = Sender(w3, anvil_account(chain_id, anvil_index))
    else:
        ask = lambda: typer.prompt("keystore password", hide_input=True)  # noqa: E731
        if key is None and not manager:
            raise ConfigRefusedError("give --key KEYSTORE (or --anvil-account N on Anvil)")
        reader = Sender(w3, load_signer(chain_id, key, ask))
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
    actions = build(community, token, exchange, directory, acting)
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


def _address(value: str) -> str:
    if not Web3.is_checksum_address(value):
        raise ConfigRefusedError(f"{value} is not a checksum address (EIP-55)")
    return value


def _from(value: str | None) -> str | None:
    return None if value is None else _address(value)


def _units(value: int) -> int:
    if value <= 0:
        raise ConfigRefusedError(f"an amount is a positive number of token units, got {value}")
    return value


def _name(directory: Directory, address: str) -> str:
    return directory.member_name(address) or address


def register_manager_commands(app: typer.Typer) -> None:
    """Add the manager's commands to `quartier community`."""

    @app.command("admit")
    def admit(
        address: Annotated[str, typer.Argument(help="The household's checksum address.")],
        rpc: RpcOption,
        deployment: DeploymentOption,
        key: KeyOption = None,
        as_unsigned: UnsignedOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Admit a household now (an address is admitted at most once)."""
        household = _address(address)

        def build(c: CommunityClient, *_: object) -> list[Action]:
            fn = c.contract.functions.admitHousehold(household)
            return [
                Action(
                    f"admitted {household}", fn, {"action": "admit_member", "address": household}
                )
            ]

        _run(rpc, deployment, key, None, as_unsigned, as_json, build, manager=True)

    @app.command("remove")
    def remove(
        address: Annotated[str, typer.Argument(help="The member's checksum address.")],
        rpc: RpcOption,
        deployment: DeploymentOption,
        key: KeyOption = None,
        as_unsigned: UnsignedOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Remove a member now, for ever; its meters stop counting too."""
        household = _address(address)

        def build(
            c: CommunityClient, _t: object, _e: object, d: Directory, _me: str
        ) -> list[Action]:
            fn = c.contract.functions.removeHousehold(household)
            record = {
                "action": "remove_member",
                "member": d.member_name(household),
                "address": household,
            }
            return [Action(f"removed {_name(d, household)}", fn, record)]

        _run(rpc, deployment, key, None, as_unsigned, as_json, build, manager=True)

    @app.command("register-meter")
    def register_meter(
        address: Annotated[str, typer.Argument(help="The member's checksum address.")],
        public_key_x: Annotated[str, typer.Option("--x", help="P-256 public key x (0x hex).")],
        public_key_y: Annotated[str, typer.Option("--y", help="P-256 public key y (0x hex).")],
        rpc: RpcOption,
        deployment: DeploymentOption,
        key: KeyOption = None,
        as_unsigned: UnsignedOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Register a meter's P-256 key for a member, counting from now."""
        household = _address(address)
        try:
            meter = MeterEntry(member="-", public_key_x=public_key_x, public_key_y=public_key_y)
        except ValidationError as error:
            message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
            raise ConfigRefusedError(f"register-meter: {message}") from None
        meter_id = "0x" + meter_id_of(PublicKey(meter.x, meter.y)).hex()

        def build(
            c: CommunityClient, _t: object, _e: object, d: Directory, _me: str
        ) -> list[Action]:
            fn = c.contract.functions.admitMeter(household, meter.x, meter.y)
            record = {
                "action": "register_meter",
                "member": d.member_name(household),
                "address": household,
                "meter_id": meter_id,
            }
            return [Action(f"registered meter {meter_id} of {_name(d, household)}", fn, record)]

        _run(rpc, deployment, key, None, as_unsigned, as_json, build, manager=True)

    @app.command("revoke-meter")
    def revoke_meter(
        meter_id: Annotated[str, typer.Argument(help="The meter id (0x, 32 bytes).")],
        rpc: RpcOption,
        deployment: DeploymentOption,
        key: KeyOption = None,
        as_unsigned: UnsignedOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Revoke a meter now, for ever."""
        try:
            raw = bytes.fromhex(meter_id.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConfigRefusedError(f"a meter id is 0x and 64 hex digits, got {meter_id!r}")

        def build(
            c: CommunityClient, _t: object, _e: object, d: Directory, _me: str
        ) -> list[Action]:
            fn = c.contract.functions.revokeMeter(raw)
            record = {
                "action": "revoke_meter",
                "member": d.meter_member(raw),
                "meter_id": "0x" + raw.hex(),
            }
            return [Action(f"revoked meter 0x{raw.hex()}", fn, record)]

        _run(rpc, deployment, key, None, as_unsigned, as_json, build, manager=True)

    @app.command("fund")
    def fund(
        address: Annotated[str, typer.Argument(help="Who receives the credits.")],
        amount_units: Annotated[int, typer.Argument(help="Token base units (1 EUR = 1000000).")],
        rpc: RpcOption,
        deployment: DeploymentOption,
        key: KeyOption = None,
        as_unsigned: UnsignedOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Mint credits of the community's QuartierToken to an address (the manager mints)."""
        to, units = _address(address), _units(amount_units)

        def build(_c: object, t: TokenClient, _e: object, d: Directory, _me: str) -> list[Action]:
            fn = t.contract.functions.mint(to, units)
            record = {
                "action": "fund",
                "member": d.member_name(to),
                "address": to,
                "amount_units": units,
            }
            amount = euros(units, t.decimals())
            return [Action(f"funded {_name(d, to)} with {amount}", fn, record)]

        _run(rpc, deployment, key, None, as_unsigned, as_json, build, manager=True)

    @app.command("set-rule")
    def set_rule(
        rule: Annotated[str, typer.Argument(help="A key of community.toml's [rules].")],
        value: Annotated[str, typer.Argument(help="Its new value.")],
        rpc: RpcOption,
        deployment: DeploymentOption,
        key: KeyOption = None,
        as_unsigned: UnsignedOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Schedule one rule change; it takes effect after the contract's delay."""

        def build(
            c: CommunityClient, _t: object, _e: object, d: Directory, _me: str
        ) -> list[Action]:
            known, _ = load_deployment_file(deployment)
            state = read_state(c.sender, c.address, known.deploy_block)
            period_seconds = state.grid.interval_seconds * state.grid.period_intervals
            rules = changed_rules(state.latest_rules, rule, value, period_seconds)
            fn = c.contract.functions.scheduleRules(rules.as_abi())
            effective = state.current_period + state.rule_change_delay_periods
            record = {
                "action": "schedule_rules",
                "rule": rule,
                "value": value,
                "effective_from_period": effective,
            }
            return [Action(f"scheduled {rule} = {value} from period {effective}", fn, record)]

        _run(rpc, deployment, key, None, as_unsigned, as_json, build, manager=True)


@household_app.command("deposit")
def deposit(
    amount_units: Annotated[int, typer.Argument(help="Token base units (1 EUR = 1000000).")],
    rpc: RpcOption,
    deployment: DeploymentOption,
    key: KeyOption = None,
    anvil_index: AnvilAccountOption = None,
    as_unsigned: UnsignedOption = False,
    origin: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve the exchange and deposit credits into the household's free escrow."""
    units = _units(amount_units)

    def build(_c: object, t: TokenClient, e: ExchangeClient, _d: object, me: str) -> list[Action]:
        amount = euros(units, t.decimals())
        return [
            Action(
                f"approved {amount} for the exchange",
                t.contract.functions.approve(e.address, units),
                {"action": "approve", "address": me, "amount_units": units},
            ),
            Action(
                f"deposited {amount}",
                e.contract.functions.deposit(units),
                {"action": "deposit", "address": me, "amount_units": units},
            ),
        ]

    _run(rpc, deployment, key, anvil_index, as_unsigned, as_json, build, False, _from(origin))


@household_app.command("withdraw")
def withdraw(
    amount_units: Annotated[int, typer.Argument(help="Token base units (1 EUR = 1000000).")],
    rpc: RpcOption,
    deployment: DeploymentOption,
    key: KeyOption = None,
    anvil_index: AnvilAccountOption = None,
    as_unsigned: UnsignedOption = False,
    origin: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Withdraw free escrow back to the household's wallet."""
    units = _units(amount_units)

    def build(_c: object, t: TokenClient, e: ExchangeClient, _d: object, me: str) -> list[Action]:
        amount = euros(units, t.decimals())
        fn = e.contract.functions.withdraw(units)
        return [
            Action(
                f"withdrew {amount}",
                fn,
                {"action": "withdraw", "address": me, "amount_units": units},
            )
        ]

    _run(rpc, deployment, key, anvil_index, as_unsigned, as_json, build, False, _from(origin))
