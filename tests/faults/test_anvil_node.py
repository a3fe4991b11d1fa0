"""AnvilNode leaves nothing on disk: its state folder is its own, stays empty however many
blocks the node makes, and is gone once stop() ran, also after a SIGKILL or a SIGSTOP."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from ledger.anvil import AnvilNode
from ledger.chain import connect

#: More blocks than Anvil keeps in memory by default (500): without `--max-persisted-states 0`
#: the node writes every evicted state to disk (megabytes a block on a real community).
BLOCKS = 600


def _files_under(path: Path) -> list[Path]:
    return [entry for entry in path.rglob("*") if entry.is_file()] if path.exists() else []


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own, so Anvil's default folder (~/.foundry/anvil/tmp) is
    observable without other processes' nodes in it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_a_node_writes_no_state_file_and_its_folder_goes_at_stop(home: Path) -> None:
    node = AnvilNode().start()
    try:
        folder = node.cache_dir
        assert folder is not None
        assert folder.is_dir()
        w3 = connect(node.url)
        w3.provider.make_request("anvil_mine", [hex(1)])  # one block at a time: one state each
        for _ in range(BLOCKS - 1):
            w3.provider.make_request("anvil_mine", [hex(1)])
        assert w3.eth.block_number == BLOCKS
        assert _files_under(folder) == []
        assert _files_under(home / ".foundry") == []
        # Logs and receipts do not need the dropped states: recent state still answers.
        assert w3.eth.get_balance(w3.eth.accounts[0], block_identifier=BLOCKS - 1) > 0
    finally:
        node.stop()
    assert not folder.exists()
    assert node.cache_dir is None


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_a_killed_or_hung_node_leaves_nothing_once_stop_runs(
    home: Path, how: signal.Signals
) -> None:
    node = AnvilNode().start()
    folder = node.cache_dir
    assert folder is not None
    process = node.process
    assert process is not None
    os.kill(process.pid, how)
    if how == signal.SIGKILL:
        process.wait(timeout=5)
    node.stop()  # bounded: a stopped process is resumed so SIGTERM can act, else killed
    assert process.poll() is not None
    assert not folder.exists()
    assert _files_under(home / ".foundry") == []
    # The node starts again on its port, with a fresh folder of its own.
    node.start()
    try:
        assert node.cache_dir is not None
        assert node.cache_dir != folder
        assert connect(node.url).eth.block_number == 0
    finally:
        node.stop()
