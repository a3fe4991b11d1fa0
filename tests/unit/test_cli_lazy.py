"""`quartier` loads a sub-command's module only when it runs (api.cli.COMMANDS): the top-level
help names every command without importing web3 or FastAPI, and its one-line help is each
command's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from api.cli import COMMANDS

HEAVY = ("web3", "fastapi", "sqlalchemy", "uvicorn", "eth_account")


def _modules_after(*arguments: str) -> set[str]:
    script = (
        "import sys\n"
        f"sys.argv = ['quartier', *{list(arguments)!r}]\n"
        "from api.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    return set(done.stderr.split())


def test_the_top_level_help_imports_no_command_module() -> None:
    loaded = _modules_after("--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not {lazy.module for lazy in COMMANDS.values()} & loaded


def test_a_meter_command_imports_the_metering_package_only() -> None:
    loaded = _modules_after("meter", "--help")
    assert "metering.cli" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_short_help_is_the_commands_own(name: str) -> None:
    command = COMMANDS[name].load(name)
    own = " ".join((command.help or "").split())
    assert own.startswith(COMMANDS[name].help), (own, COMMANDS[name].help)
