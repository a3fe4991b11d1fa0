"""`quartier meter ...`: keys, one-shot reads and the meter agent.

Errors are raised as `MeteringError`s; `api.cli.main` prints them as one line and exits with
their `exit_code` (2 for a refused telegram).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from metering.adapters.base import MeterAdapter
from metering.errors import KeyFileError, MeteringError

meter_app = typer.Typer(
    help="Meter keys, one-shot meter reads and the meter agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
PassphraseOption = Annotated[
    Path | None,
    typer.Option(help="File holding the key's passphrase (one line)."),
]


def _quiet_libraries() -> None:
    # pymodbus and dsmr-parser log tracebacks of errors we report ourselves in one line.
    for name in ("pymodbus", "dsmr_parser"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MeteringError(f"bad port in {value!r}: expected HOST:PORT")
    return host, int(port)


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")


@meter_app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the PKCS#8 PEM key (mode 0600).")],
    passphrase_file: PassphraseOption = None,
    no_encryption: Annotated[
        bool, typer.Option("--no-encryption", help="Store the key unencrypted (test meters).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate a P-256 meter key; print its public key and meter id."""
    if (passphrase_file is None) == (not no_encryption):
        raise KeyFileError("give exactly one of --passphrase-file or --no-encryption")
    # Here, not at the top: metering.keys imports eth_abi (a second of CPU), which
    # `quartier meter read-p1` does not need.
    from metering.keys import (
        MeterIdentity,
        generate_private_key,
        read_passphrase_file,
        save_private_key,
    )

    passphrase = read_passphrase_file(passphrase_file) if passphrase_file else None
    key = generate_private_key()
    save_private_key(key, out, passphrase)
    identity = MeterIdentity.of(key)
    _print({"key_file": str(out), **identity.to_json()}, as_json)


@meter_app.command("read-p1")
def read_p1(
    file: Annotated[Path, typer.Argument(help="A captured P1 telegram (raw bytes).")],
    as_json: JsonOption = False,
) -> None:
    """Decode one P1 telegram file strictly (CRC, registers, clock); exit 2 if refused."""
    from metering.adapters.p1_meter import P1FileMeter

    _quiet_libraries()
    _print(P1FileMeter(file).read().to_json(), as_json)


def _modbus_meter(kind: str, address: str, device_id: int, timeout_s: float) -> MeterAdapter:
    from metering.adapters.modbus import Sdm630Meter, SunSpecMeter

    host, port = _host_port(address, 502)
    if kind == "sdm630":
        return Sdm630Meter(host, port, device_id=device_id, timeout_s=timeout_s)
    if kind == "sunspec":
        return SunSpecMeter(host, port, device_id=device_id, timeout_s=timeout_s)
    raise MeteringError(f"unknown Modbus meter kind {kind!r}: expected sdm630 or sunspec")


@meter_app.command("read-modbus")
def read_modbus(
    address: Annotated[str, typer.Argument(help="HOST:PORT of the Modbus TCP device.")],
    kind: Annotated[str, typer.Option(help="sdm630 or sunspec.")] = "sdm630",
    unit: Annotated[int, typer.Option(help="Modbus unit (device) id.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the device.")] = 3.0,
    as_json: JsonOption = False,
) -> None:
    """Read a Modbus TCP meter's cumulative registers once."""
    _quiet_libraries()
    _print(_modbus_meter(kind, address, unit, timeout).read().to_json(), as_json)


def adapter_from_spec(spec: str, seed: int = 0, households: int = 1) -> MeterAdapter:
    """Build an adapter from `KIND:WHERE` (see `quartier meter run --help`)."""
    kind, _, where = spec.partition(":")
    if not where:
        raise MeteringError(f"adapter {spec!r}: expected KIND:WHERE")
    if kind == "p1-serial":
        from metering.adapters.p1_meter import P1Meter, SerialSource

        return P1Meter(SerialSource(where))
    if kind == "p1-tcp":
        from metering.adapters.p1_meter import P1Meter, TcpSource

        return P1Meter(TcpSource(*_host_port(where, 2000)))
    if kind == "p1-file":
        from metering.adapters.p1_meter import P1FileMeter

        return P1FileMeter(Path(where))
    if kind in ("sdm630", "sunspec"):
        return _modbus_meter(kind, where, 1, 3.0)
    if kind == "simulated":
        from metering.adapters.simulated import SimulatedFleet, SimulatedMeter

        if not where.isdigit():
            raise MeteringError(f"adapter {spec!r}: expected simulated:HOUSEHOLD_INDEX")
        index = int(where)
        return SimulatedMeter(SimulatedFleet(max(households, index + 1), seed), index)
    raise MeteringError(
        f"unknown adapter kind {kind!r}: expected p1-serial, p1-tcp, p1-file, sdm630, sunspec "
        "or simulated"
    )


@meter_app.command()
def run(
    adapter: Annotated[
        str,
        typer.Option(
            help="p1-serial:/dev/ttyUSB0 | p1-tcp:HOST:PORT | p1-file:PATH | sdm630:HOST:PORT "
            "| sunspec:HOST:PORT | simulated:INDEX"
        ),
    ],
    key: Annotated[Path, typer.Option(help="The meter's PKCS#8 PEM key.")],
    api: Annotated[str, typer.Option(help="Base URL of the Quartier API.")],
    deployment: Annotated[
        Path | None,
        typer.Option(
            help="Deployment file (QuartierCommunity, QuartierExchange); default "
            "contracts/deployments/<chain id>.json when only --chain-id is given."
        ),
    ] = None,
    chain_id: Annotated[
        int | None, typer.Option(help="Chain id (must agree with the deployment file).")
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(help="QuartierExchange address (EIP-712 domain; must agree with the file)."),
    ] = None,
    rpc: Annotated[
        str | None,
        typer.Option(
            envvar="QUARTIER_RPC_URL",
            help="JSON-RPC URL: the community's time grid is read from the chain (a spool "
            "that already knows it lets the agent start with the node down).",
        ),
    ] = None,
    passphrase_file: PassphraseOption = None,
    spool: Annotated[Path, typer.Option(help="SQLite spool file.")] = Path("meter-spool.sqlite"),
    seed: Annotated[int, typer.Option(help="Seed of the simulated adapter.")] = 0,
    read_tolerance_seconds: Annotated[
        float | None,
        typer.Option(
            help="A read later than this after a boundary is not that boundary's (default: "
            "a tenth of the interval, at least 1 s)."
        ),
    ] = None,
    max_intervals: Annotated[
        int | None, typer.Option(help="Stop after this many boundaries (default: never).")
    ] = None,
) -> None:
    """Run the meter agent: read, sign, spool and POST a reading at every interval boundary,
    and the signed batch of every settlement period at its end (protocol v2)."""
    from metering.agent import AgentConfig, MeterAgent
    from metering.config import grid_of_binding, read_time_grid, resolve_chain_settings
    from metering.errors import MeterConfigError
    from metering.keys import MeterIdentity, load_private_key, read_passphrase_file
    from metering.spool import Spool

    _quiet_libraries()
    settings = resolve_chain_settings(deployment, chain_id, exchange)
    opened = Spool(spool)
    known = grid_of_binding(opened.binding(), settings)
    if rpc is not None:
        grid = read_time_grid(rpc, settings)
    elif known is not None:
        grid = known
    else:
        raise MeterConfigError(
            "give --rpc URL (or QUARTIER_RPC_URL): the community's time grid is read from the chain"
        )
    config = AgentConfig(
        api,
        settings.chain_id,
        settings.exchange_address,
        grid,
        read_tolerance_s=read_tolerance_seconds,
    )
    private_key = load_private_key(
        key, read_passphrase_file(passphrase_file) if passphrase_file else None
    )
    meter = adapter_from_spec(adapter, seed=seed)
    agent = MeterAgent(meter, private_key, opened, config)
    identity = MeterIdentity.of(private_key)
    typer.echo(
        f"meter 0x{identity.meter_id.hex()} -> {api} (exchange {settings.exchange_address} on "
        f"chain {settings.chain_id}, {grid.period_intervals} x {grid.interval_seconds} s "
        f"periods, spool {spool})",
        err=True,
    )
    agent.run(max_intervals=max_intervals)


@meter_app.command()
def status(
    spool: Annotated[Path, typer.Option(help="The agent's SQLite spool file.")] = Path(
        "meter-spool.sqlite"
    ),
    as_json: JsonOption = False,
) -> None:
    """Report an agent's spool: readings by status, and every period that is not delivered
    (pending, rejected with the API's problem, or incomplete with the boundaries missing)."""
    from collections import Counter

    from metering.errors import SpoolError
    from metering.spool import SENT, Spool

    if not spool.exists():
        raise SpoolError(f"no spool at {spool}")
    opened = Spool(spool)
    readings = Counter(entry.status for entry in opened.all())
    batches = opened.batches.all()
    report: dict[str, Any] = {
        "community": opened.binding(),
        "readings": dict(sorted(readings.items())),
        "periods": dict(sorted(Counter(b.status for b in batches).items())),
        "periods_not_delivered": [
            {"period_id": b.period_id, "status": b.status, "detail": b.detail}
            for b in batches
            if b.status != SENT
        ],
    }
    _print(report, as_json)
