"""The adversarial tier: every property of protocol v2 (issue 11) attacked on a real Anvil node.

The tier reuses the integration tier's v2 world (`tests/integration/v2_support.py`: a
60-second, 4-interval grid, members with P-256 meters), so that directory is importable
here too. Every test deploys its own community on the session's one Anvil node (the clock
only moves forward, so a test never shares a period with another).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from v2_support import World

from ledger.chain import Sender


@pytest.fixture
def world(manager: Sender) -> World:
    """A freshly deployed v2 community (pay-as-clear, gate lead 0, deadline 600 s)."""
    return World.deploy(manager)
