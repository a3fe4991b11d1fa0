"""The `quartier` console script: one entry point, each package contributing sub-commands.

This is the composition root, so it lives in the top-most package (`api` may import `ledger`
and `metering`; they never import `api`). Every package raises errors under its own root
exception; `main` turns those into one line on stderr and a non-zero exit, never a traceback.

Sub-commands are loaded lazily: a command's module (web3, FastAPI, the compiler's artifacts,
...) is imported only when that command runs, so `quartier --help` imports typer alone and
`quartier meter read-p1` only the metering package (importing every command cost seconds of
CPU on each call). The one-line help shown by `quartier --help` is kept here for that reason;
tests/unit/test_cli_lazy.py checks it against each command's own.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import typer
import typer.core
from typer import _click as click

from api.errors import ApiError
from ledger.errors import LedgerError
from metering.errors import MeteringError


@dataclass(frozen=True)
class LazyCommand:
    """Where a sub-command lives (a `typer.Typer` or a command function) and its short help."""

    module: str
    attribute: str
    help: str

    def load(self, name: str) -> click.Command:
        """Import the module and build the click command (only now)."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        if not isinstance(target, typer.Typer):
            single = typer.Typer()
            single.command(name)(target)
            target = single
        target._add_completion = False  # as before: no --install-completion on sub-commands
        command = typer.main.get_command(target)
        command.name = name
        return command


COMMANDS: dict[str, LazyCommand] = {
    "audit": LazyCommand(
        "api.audit_cli",
        "audit",
        "Replay every rule change, admission, posting, meter batch and settlement of a v2"
        " community from the chain, and check it.",
    ),
    "chain": LazyCommand(
        "ledger.cli", "chain_app", "Run a local chain or deploy Quartier's contracts."
    ),
    "community": LazyCommand(
        "ledger.community_cli",
        "community_app",
        "A community as a file (community.toml): create it, deploy it, read its status; the"
        " manager's day-to-day commands.",
    ),
    "demo": LazyCommand(
        "api.demo.cli",
        "demo_app",
        "Run a neighbourhood day on protocol v2 (a fresh Anvil, or --rpc)",
    ),
    "dso": LazyCommand(
        "api.dso_cli",
        "dso_app",
        "The grid operator's monthly workbook: import it, reconcile it with the signed meters"
        " on chain, check its shared volumes against the community's key.",
    ),
    "household": LazyCommand(
        "ledger.community_cli",
        "household_app",
        "A household's own commands: escrow, schedules, and its statement.",
    ),
    "meter": LazyCommand(
        "metering.cli", "meter_app", "Meter keys, one-shot meter reads and the meter agent."
    ),
    "relayer": LazyCommand(
        "api.service_cli",
        "relayer",
        "Post accepted schedules before their gates and settle every period that has ended",
    ),
    "statement": LazyCommand(
        "api.statements.cli",
        "statement",
        "A member's monthly statement (fr, nl, en) as HTML or PDF, from the chain and the"
        " tariff file.",
    ),
    "serve": LazyCommand(
        "api.service_cli",
        "serve",
        "Run the API (OpenAPI at /docs); settings from QUARTIER_* variables.",
    ),
}


class LazyGroup(typer.core.TyperGroup):
    """The top-level group: lists COMMANDS without importing them, loads the one invoked.
    Usage errors keep typer's formatting (its `main`); the top-level help is click's plain
    list, which needs no command loaded (typer's rich help loads every command)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = COMMANDS.get(cmd_name)
        return None if lazy is None else lazy.load(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        click.Command.format_help(self, ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name].help) for name in self.list_commands(ctx)])


app = LazyGroup(
    name="quartier",
    help="Quartier: peer-to-peer neighbourhood energy trading on a verifiable ledger."
    " `quartier --version` prints the version.",
    no_args_is_help=True,
)


def _version() -> str:
    """The installed package's version (its metadata)."""
    try:
        return package_version("quartier")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


#: Exit code for an error the user can act on (bad URL, missing file, refused input).
EXIT_FAILURE = 1

#: The package roots whose errors are reported as one line; anything else is a bug and keeps
#: its traceback.
REPORTED_ERRORS: tuple[type[Exception], ...] = (
    ApiError,
    LedgerError,
    MeteringError,
)


def main() -> None:
    """Run the CLI, reporting domain errors as one line on stderr."""
    if sys.argv[1:] == ["--version"]:
        # Answered before the group parses anything: no command is loaded for it.
        print(f"quartier {_version()}")
        return
    try:
        app()
    except REPORTED_ERRORS as error:
        print(f"quartier: {error}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", EXIT_FAILURE))
    except KeyboardInterrupt:
        sys.exit(130)
