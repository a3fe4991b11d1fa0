"""Off-chain evidence: signed readings and orders from a directory or the API.

A directory holds `*.json` files (one object or a list) and `*.jsonl` files (one object a
line). An object with the fixed signed-reading keys is a reading; one with `household`,
`side`, `nonce` and `signature` ({v, r, s}) is an order (the API's `OrderOut` shape). The
API source reads the public book of each committed interval (`GET /intervals/{k}/orders`).
Evidence is checked like chain data (signatures) and must agree with the commitments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.audit.model import AuditError
from ledger.orders import Order, OrderFormatError, Side, SignedOrder
from metering.errors import MeteringError
from metering.reading import SignedReading

_SIDES = {"sell": Side.SELL, "buy": Side.BUY, 0: Side.SELL, 1: Side.BUY}


@dataclass
class Evidence:
    """Signed messages with where each came from (a file, a URL)."""

    readings: list[tuple[str, SignedReading]] = field(default_factory=list)
    orders: list[tuple[str, SignedOrder]] = field(default_factory=list)


def _order(data: dict[str, Any]) -> SignedOrder:
    signature = data["signature"]
    order = Order(
        data["household"],
        _SIDES[data["side"]],
        data["interval_id"],
        data["energy_wh"],
        data["price_per_kwh"],
        data["nonce"],
    )
    return SignedOrder(order, int(signature["v"]), int(signature["r"], 16), int(signature["s"], 16))


def _add(evidence: Evidence, source: str, data: object) -> None:
    if not isinstance(data, dict):
        raise AuditError(f"evidence {source}: expected a JSON object, got {type(data).__name__}")
    try:
        if "meter_id" in data:
            evidence.readings.append((source, SignedReading.from_json(data)))
        elif "household" in data:
            evidence.orders.append((source, _order(data)))
        else:
            raise AuditError(f"evidence {source}: neither a signed reading nor a signed order")
    except (MeteringError, OrderFormatError, KeyError, TypeError, ValueError) as error:
        raise AuditError(f"evidence {source}: {error}") from error


def _objects(path: Path) -> Iterator[tuple[str, object]]:
    try:
        text = path.read_text()
    except OSError as error:
        raise AuditError(f"evidence {path} is unreadable: {error}") from error
    try:
        if path.suffix == ".jsonl":
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    yield f"{path.name}:{number}", json.loads(line)
            return
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AuditError(f"evidence {path} is not JSON: {error}") from error
    for number, item in enumerate(data if isinstance(data, list) else [data], start=1):
        yield f"{path.name}#{number}", item


def load_evidence(directory: Path) -> Evidence:
    """Every signed reading and order in `directory` (recursively); AuditError when bad."""
    if not directory.is_dir():
        raise AuditError(f"evidence directory {directory} does not exist")
    evidence = Evidence()
    for path in sorted(directory.rglob("*")):
        if path.suffix in (".json", ".jsonl") and path.is_file():
            for source, data in _objects(path):
                _add(evidence, source, data)
    return evidence


def fetch_evidence(api_url: str, interval_ids: Iterable[int]) -> Evidence:
    """The public order book of each interval from a Quartier API."""
    import httpx  # only needed for this source

    evidence = Evidence()
    base = api_url.rstrip("/")
    try:
        with httpx.Client(timeout=10.0) as client:
            for interval_id in interval_ids:
                url = f"{base}/intervals/{interval_id}/orders"
                response = client.get(url)
                if response.status_code != 200:
                    raise AuditError(f"{url} answered {response.status_code}")
                for number, data in enumerate(response.json().get("orders", []), start=1):
                    _add(evidence, f"{url}#{number}", data)
    except httpx.HTTPError as error:
        raise AuditError(f"the API at {api_url} does not answer: {error}") from error
    except ValueError as error:
        raise AuditError(f"the API at {api_url} did not answer JSON: {error}") from error
    return evidence
