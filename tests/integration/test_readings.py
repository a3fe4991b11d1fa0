"""Meter readings signed in Python (cryptography, P-256) and verified on-chain by P256VERIFY.

Runs on its own Anvil node: the tests move the chain clock past the intervals they read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.errors import revert_class
from ledger.market import MarketClient
from ledger.meter_chain import ChainValues, chain_link
from ledger.registry import RegistryClient
from metering.reading import (
    PublicKey,
    Reading,
    SignedReading,
    meter_id_of,
    reading_digest,
    sign_reading,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as running:
        yield running


@dataclass
class Setup:
    relayer: MarketClient
    registry: RegistryClient
    chain_id: int
    market_address: str
    deploy_block: int

    def meter(self) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        household = Account.create().address
        self.registry.admit_household(household)
        key = ec.generate_private_key(ec.SECP256R1())
        public = PublicKey.from_cryptography(key.public_key())
        return key, self.registry.admit_meter(household, public.x, public.y)

    def sign(self, key: ec.EllipticCurvePrivateKey, reading: Reading) -> SignedReading:
        return sign_reading(key, reading, self.chain_id, self.market_address)

    def another_relayer(self) -> MarketClient:
        return MarketClient(self.relayer.sender, self.market_address, self.deploy_block)


@pytest.fixture
def setup(node: AnvilNode) -> Setup:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    deployment = deploy_community(manager)
    market_address = deployment.address("QuartierMarket")
    return Setup(
        MarketClient(manager, market_address, deployment.deploy_block),
        RegistryClient(manager, deployment.address("CommunityRegistry")),
        w3.eth.chain_id,
        market_address,
        deployment.deploy_block,
    )


def _past_interval(setup: Setup) -> int:
    """An interval that ended before the chain's current time."""
    now = int(setup.relayer.sender.w3.eth.get_block("latest")["timestamp"])
    return now // 900 - 10


def test_reading_signed_in_python_is_accepted_on_chain(setup: Setup) -> None:
    key, meter_id = setup.meter()
    k = _past_interval(setup)
    reading = Reading(meter_id, k, 12_345, 678, 1)
    # The contract computes the same EIP-712 digest as metering.reading.
    on_chain = setup.relayer.contract.functions.readingDigest(
        meter_id, ChainValues.of(reading).as_abi()
    ).call()
    assert bytes(on_chain) == reading_digest(reading, setup.chain_id, setup.market_address)

    result = setup.relayer.submit_readings([setup.sign(key, reading)])

    assert [
        (a.meter_id, a.interval_id, a.import_wh_total, a.export_wh_total, a.seq)
        for a in result.accepted
    ] == [(meter_id, k, 12_345, 678, 1)]
    expected_head = chain_link(bytes(32), ChainValues.of(reading))
    assert setup.relayer.reading_head(meter_id) == expected_head


def test_tampered_reading_is_rejected_with_a_decoded_error(setup: Setup) -> None:
    key, meter_id = setup.meter()
    k = _past_interval(setup)
    signed = setup.sign(key, Reading(meter_id, k, 12_345, 678, 1))
    inflated = replace(signed, reading=replace(signed.reading, export_wh_total=9_999))
    with pytest.raises(revert_class("MarketInvalidReadingSignature")) as refused:
        setup.relayer.submit_readings([inflated])
    assert refused.value.arguments == {"meterId": meter_id, "intervalId": k}
    assert setup.relayer.reading_head(meter_id) == bytes(32)


def test_unknown_meter_is_rejected(setup: Setup) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    meter_id = meter_id_of(PublicKey.from_cryptography(key.public_key()))
    signed = setup.sign(key, Reading(meter_id, _past_interval(setup), 1, 1, 1))
    with pytest.raises(revert_class("MarketUnknownMeter")) as refused:
        setup.relayer.submit_readings([signed])
    assert refused.value.arguments == {"meterId": meter_id}


def test_revoked_meter_is_rejected(setup: Setup) -> None:
    key, meter_id = setup.meter()
    setup.registry.revoke_meter(meter_id)
    with pytest.raises(revert_class("MarketMeterRevoked")):
        setup.relayer.submit_readings(
            [setup.sign(key, Reading(meter_id, _past_interval(setup), 1, 1, 1))]
        )


def test_reading_for_the_future_is_rejected(setup: Setup) -> None:
    key, meter_id = setup.meter()
    now = int(setup.relayer.sender.w3.eth.get_block("latest")["timestamp"])
    current = now // 900  # still running: its registers are not final
    with pytest.raises(revert_class("MarketReadingFromFuture")) as refused:
        setup.relayer.submit_readings([setup.sign(key, Reading(meter_id, current + 1, 1, 1, 1))])
    assert refused.value.arguments["availableAt"] == (current + 2) * 900


def test_replay_and_decreasing_registers_are_rejected(setup: Setup) -> None:
    key, meter_id = setup.meter()
    k = _past_interval(setup)
    first = setup.sign(key, Reading(meter_id, k, 1_000, 500, 7))
    setup.relayer.submit_readings([first])
    with pytest.raises(revert_class("MarketSeqNotIncreasing")):
        setup.relayer.submit_readings([first])
    with pytest.raises(revert_class("MarketRegisterDecreased")) as decreased:
        setup.relayer.submit_readings([setup.sign(key, Reading(meter_id, k + 1, 999, 500, 8))])
    assert decreased.value.arguments["previousWhTotal"] == 1_000


def test_batch_of_several_meters_and_a_backlog(setup: Setup) -> None:
    meters = [setup.meter() for _ in range(3)]
    k = _past_interval(setup)
    batch = [
        setup.sign(key, Reading(meter_id, k + step, 100 * step, 10 * step, step + 1))
        for step in range(3)
        for key, meter_id in meters
    ]
    result = setup.relayer.submit_readings(batch)
    assert len(result.accepted) == 9
    for _, meter_id in meters:
        chain = setup.another_relayer().meter_chain(meter_id)
        assert [values.interval_id for values in chain.entries] == [k, k + 1, k + 2]
    print(f"\nsubmitReadings on Anvil: {result.gas_used / 9:.0f} gas per reading (batch of 9)")


def test_a_second_relayer_extends_the_chain_from_events(setup: Setup) -> None:
    key, meter_id = setup.meter()
    k = _past_interval(setup)
    first_relayer, second_relayer = setup.relayer, setup.another_relayer()
    first_relayer.submit_readings([setup.sign(key, Reading(meter_id, k, 10, 0, 1))])
    second_relayer.submit_readings([setup.sign(key, Reading(meter_id, k + 1, 20, 0, 2))])
    # The first relayer's cached chain is stale now: it refreshes from events and retries.
    first_relayer.submit_readings([setup.sign(key, Reading(meter_id, k + 2, 30, 0, 3))])
    assert first_relayer.reading_head(meter_id) == first_relayer.meter_chain(meter_id).head
    assert len(first_relayer.meter_chain(meter_id).entries) == 3
