"""Read back a meter batch someone posted straight to the exchange (forced inclusion).

Settlement must re-supply a posted batch field for field (`postedBatchHash`). When the
service never received it, its fields are in the calldata of the postMeterBatches
transaction that emitted MeterBatchAccepted for (meter, period): decoded here and checked
against the posted hash. A batch posted through another contract cannot be read this way
(IQuartierExchange's known limit) and stays unknown.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3.types import FilterParams

from api.relayer.context import V2Chain
from ledger.chain import decode_calldata
from metering.errors import ReadingFormatError
from metering.period import MeterPeriod, struct_hash


def posted_batch(
    chain: V2Chain, meter_id: bytes, period_id: int, posted: bytes
) -> MeterPeriod | None:
    """The batch of (meter, period) whose struct hash is `posted`, from calldata, or None."""
    exchange = chain.exchange
    abi: Any = next(
        item
        for item in exchange.contract.abi
        if item["type"] == "event" and item["name"] == "MeterBatchAccepted"
    )
    params: FilterParams = {
        "address": exchange.contract.address,
        "fromBlock": chain.deployment.deploy_block,
        "toBlock": "latest",
        "topics": [
            HexBytes(event_abi_to_log_topic(abi)),
            HexBytes(meter_id),
            HexBytes(abi_encode(["uint64"], [period_id])),
        ],
    }
    w3 = chain.sender.w3
    signature = exchange.contract.functions.postMeterBatches.signature
    for entry in w3.eth.get_logs(params):
        transaction = w3.eth.get_transaction(entry["transactionHash"])
        if transaction.get("to") != exchange.contract.address:
            continue
        try:
            (items,) = decode_calldata(signature, bytes(transaction["input"]))
        except ValueError:  # a settlement accepted it inline: not a posted batch
            continue
        for item_meter, item_period, start_import, start_export, deltas, _signature in items:
            if bytes(item_meter) != meter_id or item_period != period_id:
                continue
            try:
                batch = MeterPeriod.from_deltas_bytes(
                    meter_id, period_id, start_import, start_export, bytes(deltas)
                )
            except ReadingFormatError:
                continue
            if struct_hash(batch) == posted:
                return batch
    return None
