"""Gas per fully verified trade and per verified reading, Quartier's design next to a naive one.

Both designs run on the same Anvil in the same run, against the same registry, with the same
checks (EIP-712 orders verified with ecrecover, P-256 readings with P256VERIFY). The naive
design (NaiveMarket.sol beside this file) stores one struct per trade and per reading;
QuartierMarket stores one hash per interval and one chain head per meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.compiler import compile_contracts
from ledger.deploy import deploy_community
from ledger.market import MarketClient
from ledger.meter_chain import ChainValues
from ledger.orders import Order, Side, SignedOrder, Trade, sign_order, sort_for_commit
from ledger.registry import RegistryClient
from ledger.token import TokenClient
from metering.reading import PublicKey, Reading, SignedReading, sign_reading

HERE = Path(__file__).resolve().parent
PRICE_PER_KWH = 250_000  # 0.25 EUR/kWh in 6-decimal token units
ENERGY_WH = 400
ZERO_VALUES = ChainValues(0, 0, 0, 0).as_abi()


@dataclass(frozen=True)
class GasFigure:
    """Gas per item of one batch size for both designs."""

    what: str
    batch: int
    quartier_gas_per_item: int
    naive_gas_per_item: int


@dataclass
class Member:
    account: LocalAccount
    meter_key: ec.EllipticCurvePrivateKey
    meter_id: bytes
    seq: int = 0
    import_wh: int = 0
    export_wh: int = 0


def measure_gas(batches: tuple[int, ...]) -> list[GasFigure]:
    """Deploy both designs on a fresh Anvil and measure every batch size."""
    with AnvilNode() as node:
        w3 = connect(node.url)
        manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
        deployment = deploy_community(manager)
        market_address = deployment.address("QuartierMarket")
        naive = _deploy_naive(manager, deployment.address("CommunityRegistry"))
        largest = max(batches)
        sellers = [_member(manager, deployment.contracts) for _ in range(largest)]
        buyers = [_member(manager, deployment.contracts, market_address) for _ in range(largest)]
        market = MarketClient(manager, market_address, deployment.deploy_block)
        # Intervals well in the past: their gates are closed and their readings are due.
        first_interval = int(w3.eth.get_block("latest")["timestamp"]) // 900 - 10 * len(batches)
        figures = []
        for n, batch in enumerate(batches):
            interval_id = first_interval + n
            figures.append(
                _trade_figure(market, naive, manager, sellers, buyers, batch, interval_id, n)
            )
        # Warm-up: a meter's first reading creates its chain head (a fresh slot); the figures
        # measure the steady state, every later reading.
        readings_interval = first_interval
        _submit_both(market, naive, manager, sellers, largest, readings_interval)
        for batch in batches:
            readings_interval += 1
            quartier_gas, naive_gas = _submit_both(
                market, naive, manager, sellers, batch, readings_interval
            )
            figures.append(GasFigure("reading", batch, quartier_gas // batch, naive_gas // batch))
    return figures


def _deploy_naive(manager: Sender, registry: str):  # type: ignore[no-untyped-def]
    compiled = compile_contracts((HERE,))["NaiveMarket"]
    factory = manager.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    receipt = manager.transact(factory.constructor(registry))
    return manager.w3.eth.contract(address=receipt["contractAddress"], abi=compiled.abi)


def _member(manager: Sender, contracts: dict[str, str], fund_market: str | None = None) -> Member:
    w3 = manager.w3
    account = Account.create()
    registry = RegistryClient(manager, contracts["CommunityRegistry"])
    registry.admit_household(account.address)
    meter_key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(meter_key.public_key())
    meter_id = registry.admit_meter(account.address, public.x, public.y)
    if fund_market is not None:
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**18)])
        funds_units = 10**12
        TokenClient(manager, contracts["QuartierToken"]).mint(account.address, funds_units)
        household = Sender(w3, account)
        TokenClient(household, contracts["QuartierToken"]).approve(fund_market, funds_units)
        MarketClient(household, fund_market).deposit(funds_units)
    return Member(account, meter_key, meter_id)


def _orders(
    members: list[Member], side: Side, batch: int, interval_id: int, nonce: int, domain: str
) -> list[SignedOrder]:
    chain_id = 31337
    return [
        sign_order(
            member.account.key,
            Order(member.account.address, side, interval_id, ENERGY_WH, PRICE_PER_KWH, nonce),
            chain_id,
            domain,
        )
        for member in members[:batch]
    ]


def _trade_figure(
    market: MarketClient,
    naive,  # type: ignore[no-untyped-def]
    manager: Sender,
    sellers: list[Member],
    buyers: list[Member],
    batch: int,
    interval_id: int,
    nonce: int,
) -> GasFigure:
    trades = [Trade(i, batch + i, ENERGY_WH, PRICE_PER_KWH) for i in range(batch)]
    orders = [
        *_orders(sellers, Side.SELL, batch, interval_id, nonce, market.address),
        *_orders(buyers, Side.BUY, batch, interval_id, nonce, market.address),
    ]
    quartier_gas = market.commit_interval(interval_id, orders, trades).gas_used
    naive_orders = [
        *_orders(sellers, Side.SELL, batch, interval_id, nonce, naive.address),
        *_orders(buyers, Side.BUY, batch, interval_id, nonce, naive.address),
    ]
    sorted_orders, sorted_trades = sort_for_commit(naive_orders, trades)
    receipt = manager.transact(
        naive.functions.commitInterval(
            interval_id,
            [signed.as_abi() for signed in sorted_orders],
            [trade.as_abi() for trade in sorted_trades],
        )
    )
    return GasFigure("trade", batch, quartier_gas // batch, int(receipt["gasUsed"]) // batch)


def _submit_both(
    market: MarketClient,
    naive,  # type: ignore[no-untyped-def]
    manager: Sender,
    meters: list[Member],
    batch: int,
    interval_id: int,
) -> tuple[int, int]:
    quartier_batch, naive_batch = [], []
    for member in meters[:batch]:
        member.seq += 1
        member.import_wh += 120
        member.export_wh += 450
        reading = Reading(
            member.meter_id, interval_id, member.import_wh, member.export_wh, member.seq
        )
        key = member.meter_key
        quartier_batch.append(sign_reading(key, reading, 31337, market.address))
        naive_batch.append(_naive_abi(sign_reading(key, reading, 31337, naive.address)))
    quartier_gas = market.submit_readings(quartier_batch).gas_used
    receipt = manager.transact(naive.functions.submitReadings(naive_batch))
    return quartier_gas, int(receipt["gasUsed"])


def _naive_abi(signed: SignedReading) -> tuple[object, ...]:
    # The naive design reads no predecessor: those fields travel as zeros.
    return (
        signed.public_key.x,
        signed.public_key.y,
        ChainValues.of(signed.reading).as_abi(),
        signed.r.to_bytes(32, "big"),
        signed.s.to_bytes(32, "big"),
        bytes(32),
        ZERO_VALUES,
    )
