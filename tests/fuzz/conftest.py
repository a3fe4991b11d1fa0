"""The fuzz tier's figures, printed at the end of the run whatever pytest captured."""

from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("test_fuzz_api")
    tally = getattr(module, "TALLY", None)
    if tally is not None and tally.requests:
        terminalreporter.write_line(tally.line())
