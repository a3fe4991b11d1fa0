"""`quartier --version` prints the installed package's version (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

QUARTIER = str(Path(sys.executable).parent / "quartier")


def test_version_is_the_installed_package_metadata() -> None:
    done = subprocess.run([QUARTIER, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"quartier {version('quartier')}\n"
    assert done.stderr == ""
