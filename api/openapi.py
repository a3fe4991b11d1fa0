"""The OpenAPI document to FastAPI's conventions: tag descriptions, a summary on every
operation, realistic examples on every schema and parameter, and (with `api.problems`)
every error documented as an RFC 9457 problem.

The examples are the test vectors of ledger/FORMATS.md (tests/vectors: public test keys,
period 20625 = 2026-06-21), so Swagger's "Try it out" starts from a body that really is
signed, never from a generated `9223372036854776000`; tests/api/test_openapi_conventions.py
holds them to the vectors and to the models.

Summaries of the intake and households routers live here too, in one table (those files
hold hot paths and handlers that change often); `/health` sets its own in its decorator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

TAGS: list[dict[str, str]] = [
    {
        "name": "schedules (v2)",
        "description": "Households' EIP-712 signed day-ahead schedules (ledger/FORMATS.md §3):"
        " checked as the exchange's postSchedules will, then posted by the relayer before"
        " their gates. Periods' public books.",
    },
    {
        "name": "meter batches (v2)",
        "description": "A meter's P-256 signed batch of one settlement period (FORMATS.md §6),"
        " the data each period settles on.",
    },
    {
        "name": "readings",
        "description": "Live per-interval meter readings, P-256 signed (FORMATS.md §7), for"
        " households to follow their data; not what settles.",
    },
    {
        "name": "households",
        "description": "Admission and erasure of a household's off-chain profile (manager-"
        "signed requests, FORMATS.md §9), sign-in (§8) and a household's own data (bearer"
        " token: use Authorize).",
    },
    {
        "name": "health",
        "description": "Whether the chain and the database answer, within bounded waits.",
    },
]

#: (method, path) -> summary (a route's own `summary=` is replaced: one table to read).
SUMMARIES: dict[tuple[str, str], str] = {
    ("post", "/schedules"): "Submit a signed schedule",
    ("get", "/schedules/{schedule_hash}"): "One stored schedule and its status",
    ("get", "/periods/{period_id}/schedules"): "The public book of a period",
    ("post", "/meter-batches"): "Submit a meter's signed period batch",
    ("get", "/meters/{meter_id}/batches/{period_id}"): "A meter's stored batch of a period",
    ("post", "/readings"): "Submit a meter's signed live reading",
    ("post", "/households"): "Admit a household (manager-signed)",
    ("delete", "/households/{address}/profile"): "Erase a household's personal data (manager)",
    ("post", "/auth/challenge"): "Get a one-time sign-in message",
    ("post", "/auth/token"): "Trade the signed sign-in message for a token",
    ("get", "/households/{address}"): "My profile",
    ("get", "/households/{address}/readings"): "My meter readings",
    ("get", "/households/{address}/escrow"): "My escrow (free and locked)",
    ("get", "/households/{address}/schedules"): "My schedules and how they ended",
    ("get", "/households/{address}/settlements"): "My period settlements",
}

CHAIN_ID = 31337
EXCHANGE = "0xf0E38dBF027442ba3002a90E210f8EC65a291E89"
HOUSEHOLD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
METER_ID = "0xe4f4e4dd596be500e192ebafb00b474e4c2c7e710034901eececd51b811e25fd"
METER_KEY = {
    "x": "0xf1357a75a19cd43c177d070bab0f028577efd7fc4e351c3d1ad09a03cf825910",
    "y": "0xceb7409e9293eeadad38cbacba47510240ec60ab5419bc58e19b45b6e5cf95a2",
}
PERIOD_ID = 20625
SCHEDULE_HASH = "0x56c111b764d661192895894783189e47f7602ffbb2a14f3225e88da8c4589529"
SCHEDULE_SIGNATURE = (
    "0x2f9964bf891c5bf3259f0e08296c0b8283c3b6a6379257d31cc9ad48f20c5e1d"
    "7d7fa229fec8dc22f503f6c692ac435788ef9d51e601f23392d294e33a595e011c"
)
ENTRIES = [
    {"side": "sell", "energy_wh": 1200, "price_per_kwh": 180000},
    {"side": "none", "energy_wh": 0, "price_per_kwh": 0},
    {"side": "buy", "energy_wh": 800, "price_per_kwh": 260000},
    {"side": "buy", "energy_wh": 1500, "price_per_kwh": 250000},
]
SCHEDULE_IN = {
    "household": HOUSEHOLD,
    "period_id": PERIOD_ID,
    "version": 1,
    "first_interval_id": 1980040,
    "entries": ENTRIES,
    "signature": SCHEDULE_SIGNATURE,
}
SCHEDULE_OUT = {
    "schedule_hash": SCHEDULE_HASH,
    **SCHEDULE_IN,
    "lock_units": 583000,
    "status": "posted",
    "reason": None,
    "tx_hash": "0x9a3f1c0e5b7d2a4f6e8c0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a",
}


def _deltas() -> list[dict[str, int]]:
    # The vector's sunny day (tests/vectors/make_vectors.py): import at night, export at noon.
    deltas = []
    for k in range(96):
        export_wh = max(0, 400 - abs(k - 52) * 16)
        import_wh = 0 if export_wh > 150 else 90 + (k * 7) % 40
        deltas.append({"import_wh": import_wh, "export_wh": export_wh})
    return deltas


BATCH_SIGNATURE = {
    "r": "0x71d74ca9432e5e9e94b363af2834f7605564a86b6578b7d7e30a237f4b294cd2",
    "s": "0x2d1db7eb35e3c29f36c8142a6af2412d9d56a036a0386663e0027d9c13befd5b",
}
METER_BATCH_IN = {
    "meter_id": METER_ID,
    "period_id": PERIOD_ID,
    "start_import_wh": 1234567,
    "start_export_wh": 456789,
    "deltas": _deltas(),
    "public_key": METER_KEY,
    "signature": BATCH_SIGNATURE,
}
METER_BATCH_OUT = {
    "meter_id": METER_ID,
    "period_id": PERIOD_ID,
    "household": HOUSEHOLD,
    "start_import_wh": 1234567,
    "start_export_wh": 456789,
    "end_import_wh": 1241653,
    "end_export_wh": 466789,
    "deltas": _deltas(),
    "signature": BATCH_SIGNATURE,
    "batch_hash": "0x0f00f01dfbac92a278d7936264a664380a69eb0cdd976f63776f2f812596b82f",
}
READING_OUT = {
    "meter_id": METER_ID,
    "interval_id": 1980041,
    "import_wh_total": 1236020,
    "export_wh_total": 460211,
    "seq": 42,
}
READING_IN = {
    **READING_OUT,
    "public_key": METER_KEY,
    "signature": {
        "r": "0x55cb9b1928d4bfbba1d8162a849ab1cc3dae6f1fab0e6d3e84ba5d1e5553f973",
        "s": "0x5b4198a817a374618c5b3d5c8aefe79eeb573b547d0c80cc37c6f7587b1e562c",
    },
}
SIGN_IN_NONCE = "5f1c2a9b8e7d6c5b4a39281f"
SIGN_IN_MESSAGE = (
    f"quartier wants you to sign in with your Ethereum account:\n{HOUSEHOLD}\n\n"
    "Sign in to read your own Quartier data.\n\n"
    f"URI: quartier:api\nVersion: 1\nChain ID: {CHAIN_ID}\n"
    f"Nonce: {SIGN_IN_NONCE}\nIssued At: 2026-06-20T18:00:00Z\n"
    "Expiration Time: 2026-06-20T18:05:00Z"
)
TOKEN = f"{HOUSEHOLD}.1781979300.K1xo9ZOT7fX-qU4AkmVls4ZGJKCMSYE4eRVrYWXgYyg"
PROFILE = {
    "address": HOUSEHOLD,
    "name": "Maison Dupont",
    "ean": "541449000000000010",
    "contact": "dupont@example.org",
}

#: Component schema name -> one realistic instance.
SCHEMA_EXAMPLES: dict[str, Any] = {
    "EntryOut": ENTRIES[2],
    "ScheduleOut": SCHEDULE_OUT,
    "PeriodBookOut": {"period_id": PERIOD_ID, "schedules": [SCHEDULE_OUT]},
    "DeltaIn": {"import_wh": 90, "export_wh": 0},
    "DeltaOut": {"import_wh": 0, "export_wh": 400},
    "PublicKeyIn": METER_KEY,
    "P256SignatureIn": BATCH_SIGNATURE,
    "MeterBatchIn": METER_BATCH_IN,
    "MeterBatchOut": METER_BATCH_OUT,
    "ReadingOut": READING_OUT,
    "AdmitIn": PROFILE,
    "HouseholdOut": {**PROFILE, "admitted_at": 1781978400, "erased_at": None},
    "ChallengeIn": {"address": HOUSEHOLD},
    "ChallengeOut": {
        "message": SIGN_IN_MESSAGE,
        "nonce": SIGN_IN_NONCE,
        "expires_at": 1781978700,
    },
    "TokenIn": {
        "nonce": SIGN_IN_NONCE,
        "signature": "0xb6d49f770d55977cbc19ffe08ae5491bda14c613e8fa509ab6b35af6c02b6433"
        "0224911873a0289e4d5d36d807ed7dc2ebd2cbbe6866b611a500f46c87224b8f1b",
    },
    "TokenOut": {"access_token": TOKEN, "token_type": "bearer", "expires_at": 1781979300},
    "EscrowOut": {"household": HOUSEHOLD, "free_units": 4417000, "locked_units": 583000},
    "SettlementOut": {
        "period_id": PERIOD_ID,
        "delivered_wh": 1200,
        "received_wh": 2300,
        "change_units": -366000,
        "released_units": 583000,
    },
    "HouseholdScheduleOut": {
        **SCHEDULE_OUT,
        "status": "settled",
        "settlement": {
            "period_id": PERIOD_ID,
            "delivered_wh": 1200,
            "received_wh": 2300,
            "change_units": -366000,
            "released_units": 583000,
        },
    },
    "ChainHealth": {
        "reachable": True,
        "chain_id": CHAIN_ID,
        "block_number": 18342,
        "exchange": EXCHANGE,
        "detail": None,
    },
    "DatabaseHealth": {"reachable": True, "detail": None},
    "HealthOut": {
        "status": "ok",
        "chain": {
            "reachable": True,
            "chain_id": CHAIN_ID,
            "block_number": 18342,
            "exchange": EXCHANGE,
            "detail": None,
        },
        "database": {"reachable": True, "detail": None},
    },
    "Problem": {
        "type": "urn:quartier:problem:validation-failed",
        "title": "Request body is invalid",
        "status": 422,
        "detail": "body.entries.0.energy_wh: Input should be less than or equal to 16777215",
        "instance": "/schedules",
        "errors": [
            {
                "location": ["body", "entries", "0", "energy_wh"],
                "message": "Input should be less than or equal to 16777215",
            }
        ],
    },
}

#: Request bodies the routers declare inline (raw-body hot paths): (method, path) -> example.
BODY_EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/schedules"): SCHEDULE_IN,
    ("post", "/readings"): READING_IN,
}

#: Parameter name -> example value.
PARAMETER_EXAMPLES: dict[str, Any] = {
    "schedule_hash": SCHEDULE_HASH,
    "period_id": PERIOD_ID,
    "meter_id": METER_ID,
    "address": HOUSEHOLD,
    "from_interval": 1980000,
    "to_interval": 1980095,
    "x-quartier-timestamp": 1781978400,
}


def _document(schema: dict[str, Any]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    for name, example in SCHEMA_EXAMPLES.items():
        if name in components:
            components[name]["examples"] = [example]
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in PARAMETER_EXAMPLES:
                    parameter["example"] = PARAMETER_EXAMPLES[parameter["name"]]
            summary = SUMMARIES.get((method, path))
            if summary is not None:
                operation["summary"] = summary
            body = BODY_EXAMPLES.get((method, path))
            if body is not None:
                operation["requestBody"]["content"]["application/json"]["example"] = body


def install_openapi(app: FastAPI, *transforms: Callable[[dict[str, Any]], Any]) -> None:
    """Serve the document with summaries, examples and `transforms` (the problems') applied
    once, on first use."""
    build = app.openapi
    lock = threading.Lock()
    done: list[bool] = []

    def openapi() -> dict[str, Any]:
        with lock:
            schema = build()
            if not done:
                for transform in transforms:
                    transform(schema)
                _document(schema)
                done.append(True)
            return schema

    app.openapi = openapi  # type: ignore[method-assign]
