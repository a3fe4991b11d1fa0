"""The market client's incremental event index and lean chain access, against Anvil.

The index (`ledger.market_index`) must give what a rebuild from every event since deployment
gives (`ledger.meter_chain.load_chain`, the registry's own records), whoever sent the events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, chain_call, connect, encode_call, lean_call
from ledger.deploy import deploy_community
from ledger.errors import revert_class
from ledger.events import ReadingAccepted, decode_receipt, only
from ledger.market import MarketClient
from ledger.meter_chain import load_chain
from ledger.registry import MeterStatus, RegistryClient
from metering.reading import PublicKey, Reading, SignedReading, sign_reading

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as running:
        yield running


@dataclass
class Community:
    manager: Sender
    registry: RegistryClient
    market_address: str
    deploy_block: int
    chain_id: int

    def client(self, gas_limit: int | None = None) -> MarketClient:
        return MarketClient(self.manager, self.market_address, self.deploy_block, gas_limit)

    def meter(self, household: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        public = PublicKey.from_cryptography(key.public_key())
        return key, self.registry.admit_meter(household, public.x, public.y)

    def household(self) -> str:
        address = str(Account.create().address)
        self.registry.admit_household(address)
        return address

    def signed(
        self, key: ec.EllipticCurvePrivateKey, meter_id: bytes, k: int, seq: int
    ) -> SignedReading:
        reading = Reading(meter_id, k, 1_000 * seq, 200 * seq, seq)
        return sign_reading(key, reading, self.chain_id, self.market_address)

    def past_interval(self) -> int:
        now = int(self.manager.w3.eth.get_block("latest")["timestamp"])
        return now // 900 - 20


@pytest.fixture
def community(node: AnvilNode) -> Community:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    deployment = deploy_community(manager)
    return Community(
        manager,
        RegistryClient(manager, deployment.address("CommunityRegistry")),
        deployment.address("QuartierMarket"),
        deployment.deploy_block,
        int(w3.eth.chain_id),
    )


def test_incremental_chain_equals_a_rebuild_after_readings_by_other_relayers(
    community: Community,
) -> None:
    household = community.household()
    (key_a, meter_a), (key_b, meter_b) = community.meter(household), community.meter(household)
    k = community.past_interval()
    ours, theirs = community.client(), community.client()

    ours.submit_readings([community.signed(key_a, meter_a, k, 1)])
    assert len(ours.meter_chain(meter_a).entries) == 1  # index synced up to here
    # Another relayer extends both chains: only a refresh of ours can know.
    theirs.submit_readings(
        [community.signed(key_a, meter_a, k + 1, 2), community.signed(key_b, meter_b, k, 1)]
    )
    ours.submit_readings([community.signed(key_a, meter_a, k + 2, 3)])  # stale, then retried
    theirs.submit_readings([community.signed(key_b, meter_b, k + 1, 2)])

    for meter_id in (meter_a, meter_b):
        incremental = ours.meter_chain(meter_id, refresh=True)
        rebuilt = load_chain(ours.contract, meter_id, community.deploy_block)
        assert incremental.entries == rebuilt.entries
        assert incremental.links == rebuilt.links
        assert incremental.head == ours.reading_head(meter_id)
    assert [v.seq for v in ours.meter_chain(meter_a).entries] == [1, 2, 3]
    assert ours.meter_chain(meter_a).proof(k + 2).readings[0].interval_id == k + 1


def test_a_revoked_meter_drops_out_of_the_households_active_meters(
    community: Community,
) -> None:
    household, other = community.household(), community.household()
    meters = sorted(community.meter(household)[1] for _ in range(3))
    other_meter = community.meter(other)[1]
    client = community.client()
    assert client.active_meters(household) == meters
    assert client.active_meters(other) == [other_meter]

    community.registry.revoke_meter(meters[1])
    active = client.active_meters(household.lower())  # any spelling of the address
    assert active == [meters[0], meters[2]]
    assert [community.registry.meter(m).status for m in active] == [MeterStatus.ACTIVE] * 2
    assert client.active_meters(other) == [other_meter]


def test_lean_calls_answer_as_web3s_contract_layer(community: Community) -> None:
    client = community.client()
    household = community.household()
    calls = [
        client.contract.functions.escrowOf(household),
        client.contract.functions.isNonceCancelled(household, 7),
        client.contract.functions.domainSeparator(),
        community.registry.contract.functions.isMember(household),
    ]
    for fn in calls:
        assert encode_call(fn) == bytes.fromhex(fn._encode_transaction_data()[2:])
        expected = chain_call(fn)
        assert lean_call(fn) == (tuple(expected) if isinstance(expected, list) else (expected,))
    assert community.registry.is_member(household) is True


def test_a_fixed_gas_relayer_still_names_reverts_and_decodes_events(
    community: Community,
) -> None:
    household = community.household()
    key, meter_id = community.meter(household)
    k = community.past_interval()
    fixed = community.client(gas_limit=5_000_000)
    signed = community.signed(key, meter_id, k, 1)
    forged = replace(signed, reading=replace(signed.reading, import_wh_total=9))
    with pytest.raises(revert_class("MarketInvalidReadingSignature")):
        fixed.submit_readings([forged])

    result = fixed.submit_readings([signed])
    assert [(a.meter_id, a.seq, a.import_wh_total) for a in result.accepted] == [
        (meter_id, 1, 1_000)
    ]
    # The table decoder (ledger.events) gives what web3.py's own event decoding gives.
    logs = fixed.contract.events.ReadingAccepted().get_logs(from_block=community.deploy_block)
    receipt = community.manager.w3.eth.get_transaction_receipt(logs[-1]["transactionHash"])
    by_web3 = [
        (bytes(log["args"]["meterId"]), log["args"]["intervalId"], log["args"]["seq"])
        for log in fixed.contract.events.ReadingAccepted().process_receipt(receipt)
    ]
    assert [
        (e.meter_id, e.interval_id, e.seq)
        for e in only(decode_receipt(fixed.contract, receipt), ReadingAccepted)
    ] == by_web3
