"""What a settled period did, quarter-hour by quarter-hour, replayed from the chain alone.

The events carry per-interval community totals (PeriodCleared) and per-period household
totals (HouseholdSettled); the pages need each household's quarter-hours too. The
settlePeriod transaction's calldata holds every input of the settlement (each posting, each
meter's deltas), so `api.settlement.settle_period` run on it gives the same outcome the
contract computed, per interval and household, as any auditor could. A settled period never
changes: its replay is kept in memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.types import FilterParams

from api import settlement
from api.relayer.context import V2Chain
from api.settlement_calldata import settled_inputs
from ledger.events_v2 import PeriodSettled, decode_log_v2

_SELL = int(settlement.Side.SELL)
_BUY = int(settlement.Side.BUY)


@dataclass(frozen=True)
class HouseholdQuarter:
    """One household's quarter-hour: metered Wh, Wh traded with neighbours, money."""

    interval_id: int
    import_wh: int
    export_wh: int
    from_neighbours_wh: int
    to_neighbours_wh: int
    #: What the quarter-hour paid (positive) or charged (negative), in milli token units.
    money_milli: int
    #: The household's entry: "sell", "buy" or "none", with its limit price.
    side: str
    limit_per_kwh: int
    #: The quarter-hour's clearing price (0 under pay-as-bid).
    price_per_kwh: int
    #: False: not settled yet, only the meter's live readings (no neighbours' share).
    settled: bool = True

    @property
    def from_grid_wh(self) -> int:
        return self.import_wh - self.from_neighbours_wh

    @property
    def to_grid_wh(self) -> int:
        return self.export_wh - self.to_neighbours_wh


@dataclass(frozen=True)
class CommunityQuarter:
    """A quarter-hour of the community: sums over the households that took part, and how
    many households contributed a non-zero amount to each sum (for anonymisation)."""

    interval_id: int
    production_wh: int
    producers: int
    consumption_wh: int
    consumers: int
    shared_wh: int
    #: Households that delivered to, and received from, neighbours in the quarter-hour.
    sellers: int
    buyers: int
    clearing_price_per_kwh: int


@dataclass(frozen=True)
class SettledPeriod:
    """A settled period replayed: the community's quarter-hours and each household's."""

    period_id: int
    community: tuple[CommunityQuarter, ...]
    households: dict[str, tuple[HouseholdQuarter, ...]]


def _side_name(side: int) -> str:
    return "sell" if side == _SELL else "buy" if side == _BUY else "none"


def replay_settlement(
    rules: settlement.Rules,
    grid: settlement.TimeGrid,
    period_id: int,
    inputs: list[settlement.HouseholdInput],
) -> SettledPeriod:
    """Settle `inputs` as the contract did and keep what the pages show (pure: the unit
    tests call it directly on made-up communities)."""
    result = settlement.settle_period(rules, grid, period_id, inputs)
    ordered = settlement.order_households(inputs)
    metered = [settlement.metered_of_period(h.meters, grid, period_id) for h in ordered]
    addresses = [Web3.to_checksum_address(h.address) for h in ordered]
    per_household: dict[str, list[HouseholdQuarter]] = {a: [] for a in addresses}
    community = []
    for offset, interval in enumerate(result.intervals):
        book, netting = interval.book, interval.netting
        imports = [household_imports[offset] for household_imports, _ in metered]
        exports = [household_exports[offset] for _, household_exports in metered]
        for h, address in enumerate(addresses):
            side = book.sides[h]
            delivered = netting.delivered_wh[h]
            per_household[address].append(
                HouseholdQuarter(
                    interval_id=interval.interval_id,
                    import_wh=imports[h],
                    export_wh=exports[h],
                    from_neighbours_wh=delivered if side == _BUY else 0,
                    to_neighbours_wh=delivered if side == _SELL else 0,
                    money_milli=netting.money_milli[h] if delivered else 0,
                    side=_side_name(side),
                    limit_per_kwh=book.prices_per_kwh[h],
                    price_per_kwh=interval.price_per_kwh,
                )
            )
        community.append(
            CommunityQuarter(
                interval_id=interval.interval_id,
                production_wh=sum(exports),
                producers=sum(1 for wh in exports if wh),
                consumption_wh=sum(imports),
                consumers=sum(1 for wh in imports if wh),
                shared_wh=interval.delivered_wh,
                sellers=sum(
                    1 for h, d in enumerate(netting.delivered_wh) if d and book.sides[h] == _SELL
                ),
                buyers=sum(
                    1 for h, d in enumerate(netting.delivered_wh) if d and book.sides[h] == _BUY
                ),
                clearing_price_per_kwh=interval.price_per_kwh,
            )
        )
    return SettledPeriod(
        period_id,
        tuple(community),
        {address: tuple(quarters) for address, quarters in per_household.items()},
    )


class SettledPeriods:
    """The community's settled periods, replayed once each (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._periods: dict[int, SettledPeriod] = {}
        self._settle_txs: dict[int, bytes] | None = None
        self._scanned_to = -1

    def settled_ids(self, chain: V2Chain) -> list[int]:
        """Every settled period id (PeriodSettled events, read incrementally)."""
        with self._lock:
            self._scan(chain)
            assert self._settle_txs is not None
            return sorted(self._settle_txs)

    def get(self, chain: V2Chain, period_id: int) -> SettledPeriod | None:
        """The replay of `period_id`, or None while it is not settled."""
        with self._lock:
            cached = self._periods.get(period_id)
            if cached is not None:
                return cached
            self._scan(chain)
            assert self._settle_txs is not None
            tx = self._settle_txs.get(period_id)
            if tx is None:
                return None
            replayed = _replay(chain, period_id, tx)
            self._periods[period_id] = replayed
            return replayed

    def _scan(self, chain: V2Chain) -> None:
        exchange = chain.exchange
        w3 = chain.sender.w3
        latest = int(w3.eth.block_number)
        start = max(self._scanned_to + 1, chain.deployment.deploy_block)
        if self._settle_txs is None:
            self._settle_txs = {}
        if start > latest:
            return
        entry = next(
            item
            for item in exchange.contract.abi
            if item["type"] == "event" and item["name"] == "PeriodSettled"
        )
        params: FilterParams = {
            "address": exchange.contract.address,
            "fromBlock": start,
            "toBlock": latest,
            "topics": [HexBytes(event_abi_to_log_topic(entry))],
        }
        for log in w3.eth.get_logs(params):
            event = decode_log_v2(exchange.contract, log)
            if isinstance(event, PeriodSettled):
                self._settle_txs[event.period_id] = bytes(log["transactionHash"])
        self._scanned_to = latest


def _replay(chain: V2Chain, period_id: int, tx_hash: bytes) -> SettledPeriod:
    exchange, community = chain.exchange, chain.community
    data = bytes(chain.sender.w3.eth.get_transaction(HexBytes(tx_hash))["input"])
    called_period, inputs = settled_inputs(exchange, community, data, strict_meters=False)
    if called_period != period_id:
        raise ValueError(f"the settlement of period {period_id} settled {called_period}")
    return replay_settlement(
        settlement.Rules.of(chain.rules(period_id)),
        settlement.TimeGrid.of(chain.grid),
        period_id,
        inputs,
    )
