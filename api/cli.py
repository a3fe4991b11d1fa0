"""The `quartier` console script: one entry point, each package contributing sub-commands.

This is the composition root, so it lives in the top-most package (`api` may import `ledger`
and `metering`; they never import `api`). Every package raises errors under its own root
exception; `main` turns those into one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated

import typer

from api.audit_cli import audit
from api.demo.cli import demo_app
from api.errors import ApiError
from api.service_cli import relayer, serve
from ledger.cli import chain_app
from ledger.community_cli import community_app, household_app
from ledger.errors import LedgerError
from metering.cli import meter_app
from metering.errors import MeteringError

app = typer.Typer(
    name="quartier",
    help="Quartier: peer-to-peer neighbourhood energy trading on a verifiable ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        try:
            print(f"quartier {package_version('quartier')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("quartier (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """Quartier: peer-to-peer neighbourhood energy trading on a verifiable ledger."""


app.add_typer(chain_app, name="chain")
app.add_typer(community_app, name="community")
app.add_typer(household_app, name="household")
app.add_typer(meter_app, name="meter")
app.command("serve")(serve)
app.command("relayer")(relayer)
app.command("audit")(audit)
app.add_typer(demo_app)

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
    try:
        app()
    except REPORTED_ERRORS as error:
        print(f"quartier: {error}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", EXIT_FAILURE))
    except KeyboardInterrupt:
        sys.exit(130)
