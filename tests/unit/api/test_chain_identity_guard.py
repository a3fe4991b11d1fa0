"""api.chain_identity.IdentityGuard: when it reads the chain, and what it concludes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from api.chain_identity import ChainReplacedError, IdentityGuard

EXCHANGE = "0x" + "11" * 20


class FakeNode:
    """Answers the three identity calls; `genesis` and `code` can change (a replaced chain).
    Counts eth_getCode calls (one per identity read); `hold` makes reads wait."""

    def __init__(self) -> None:
        self.genesis = "0x" + "aa" * 32
        self.code = "0x6001"
        self.reads = 0
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return "0x7a69"
        if method == "eth_getBlockByNumber":
            return {"hash": self.genesis}
        assert method == "eth_getCode"
        self.reads += 1
        self.entered.set()
        assert self.hold.wait(5)
        return self.code


def test_a_fresh_comparison_reads_nothing_and_an_expired_one_reads_once() -> None:
    node = FakeNode()
    guard = IdentityGuard(check_seconds=0.2)
    guard.check(node, EXCHANGE)
    guard.check(node, EXCHANGE)
    assert node.reads == 1
    time.sleep(0.25)
    guard.check(node, EXCHANGE)
    assert node.reads == 2
    guard.check(node, EXCHANGE, force=True)
    assert node.reads == 3


def test_a_replaced_chain_is_refused_by_name_once_the_cache_expires() -> None:
    node = FakeNode()
    guard = IdentityGuard(check_seconds=0.1)
    guard.check(node, EXCHANGE)
    node.genesis = "0x" + "bb" * 32
    time.sleep(0.15)
    with pytest.raises(ChainReplacedError) as raised:
        guard.check(node, EXCHANGE)
    assert raised.value.facts["now"] == node.genesis
    # The verdict is cached too: refused again without reading the chain.
    reads = node.reads
    with pytest.raises(ChainReplacedError):
        guard.check(node, EXCHANGE)
    assert node.reads == reads


def test_while_one_request_refreshes_the_others_keep_the_last_verdict() -> None:
    node = FakeNode()
    guard = IdentityGuard(check_seconds=0.05)
    guard.check(node, EXCHANGE)
    time.sleep(0.1)
    node.hold.clear()
    node.entered.clear()
    refresher = threading.Thread(target=guard.check, args=(node, EXCHANGE))
    refresher.start()
    assert node.entered.wait(5)
    # The cache has expired, but one read is under way: no second read, no waiting. The
    # other request answers while the refresher's read is still held (it could not, had it
    # waited for that read or made its own: the node holds every eth_getCode).
    other = threading.Thread(target=guard.check, args=(node, EXCHANGE))
    other.start()
    other.join(5)
    assert not other.is_alive()
    assert refresher.is_alive()
    assert node.reads == 2
    node.hold.set()
    refresher.join(5)
    assert not refresher.is_alive()
