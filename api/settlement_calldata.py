"""The settlement inputs of one `settlePeriod` call, read back from its calldata and the
community's registry (the households, their postings and their meters' signed deltas), for
whoever replays a settled period with `api.settlement`: the demo's chain facts and the
household's page."""

from __future__ import annotations

from web3 import Web3

from api import settlement
from ledger.chain import decode_calldata
from ledger.community import CommunityClient
from ledger.exchange import ExchangeClient


def settled_inputs(
    exchange: ExchangeClient,
    community: CommunityClient,
    calldata: bytes,
    *,
    strict_meters: bool,
) -> tuple[int, list[settlement.HouseholdInput]]:
    """(period id, household inputs) of the `settlePeriod` call `calldata`. `strict_meters`
    refuses a household whose registry meter list and supplied meters differ in length (a
    fresh community); without it, meters admitted since the settlement are left out."""
    signature = exchange.contract.functions.settlePeriod.signature
    period_id, households, _hints = decode_calldata(signature, calldata)
    inputs = []
    for address, postings, meters in households:
        household = Web3.to_checksum_address(address)
        meter_inputs = []
        for meter_id, (source, _start_import, _start_export, deltas, _signature) in zip(
            community.meters_of(household), meters, strict=strict_meters
        ):
            window = community.meter(meter_id).window
            meter_inputs.append(
                settlement.MeterInput(
                    settlement.Window(window.admitted_at, window.removed_at),
                    bytes(deltas) if source else None,
                )
            )
        member = community.membership(household)
        inputs.append(
            settlement.HouseholdInput(
                household,
                settlement.Window(member.admitted_at, member.removed_at),
                [settlement.Posting(v, first, bytes(e)) for v, first, e in postings],
                meter_inputs,
            )
        )
    return period_id, inputs
