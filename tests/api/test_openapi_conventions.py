"""The served OpenAPI document follows FastAPI's conventions (issue 13): a summary and a
described tag on every operation, an RFC 9457 problem in application/problem+json on every
error response, security schemes for the Authorize button, realistic examples (the test
vectors of ledger/FORMATS.md) that the models accept, docs whose assets are served locally,
`GET /health` bounded against a hung node, CORS only when configured."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

import api.health
import api.households.schemas
import api.meter_batches.schemas
import api.openapi
import api.readings.schemas
import api.schedules.schemas
from api.app import create_app
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.anvil import AnvilNode
from ledger.deployment import Deployment
from metering.reading import SignedReading

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
#: Integers past this lose digits in a browser (Swagger showed 9223372036854776000).
JS_SAFE = 2**53 - 1


def vector(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return loaded


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_operation_has_a_summary_and_described_tags(document: dict[str, Any]) -> None:
    described = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert len(list(operations(document))) >= 16
    for method, path, operation in operations(document):
        summary = operation.get("summary", "")
        assert summary, (method, path)
        # FastAPI's fallback is the function name in Title Case ("Post Schedule").
        assert summary[0].isupper(), (method, path, summary)
        assert not summary.istitle(), (method, path, summary)
        assert operation.get("tags"), (method, path)
        for tag in operation["tags"]:
            assert len(described.get(tag, "")) > 20, (method, path, tag)


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}
    assert problem["properties"]["status"]["type"] == "integer"
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "HTTPValidationError" not in json.dumps(document)
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert responses["default"]["content"] == PROBLEM_CONTENT, (method, path)
        for code, response in responses.items():
            if code[0] in "45":
                assert response["content"] == PROBLEM_CONTENT, (method, path, code)
                assert response["description"] not in ("Validation Error", "Not Found")
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in responses, (method, path)


def test_a_served_422_is_the_documented_problem(client: TestClient) -> None:
    response = client.post("/auth/challenge", json={"address": "not an address"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["errors"][0]["location"] == ["body", "address"]


def test_security_schemes_drive_the_authorize_button(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["householdToken"] == {
        **schemes["householdToken"],
        "type": "http",
        "scheme": "bearer",
    }
    assert schemes["managerSignature"]["type"] == "apiKey"
    assert schemes["managerSignature"]["in"] == "header"
    assert schemes["managerSignature"]["name"] == "X-Quartier-Signature"
    for method, path, operation in operations(document):
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "authorization" not in names, (method, path)  # the scheme carries it
        security = operation.get("security", [])
        if path.startswith("/households/{address}") and method == "get":
            assert security == [{"householdToken": []}], (method, path)
        if (method, path) in (("post", "/households"), ("delete", "/households/{address}/profile")):
            assert security == [{"managerSignature": []}], (method, path)
            assert "x-quartier-timestamp" in names


def test_the_bearer_scheme_is_what_the_service_checks(client: TestClient) -> None:
    address = "0x" + "ab" * 20
    missing = client.get(f"/households/{address}")
    assert missing.status_code == 401
    assert missing.json()["type"] == "urn:quartier:problem:token-required"
    wrong = client.get(f"/households/{address}", headers={"Authorization": "Bearer x.1.y"})
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "urn:quartier:problem:invalid-token"


def _numbers(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for module in (
        api.schedules.schemas,
        api.meter_batches.schemas,
        api.readings.schemas,
        api.households.schemas,
        api.health,
    ):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                found[name] = value
    return found


def test_every_schema_and_parameter_has_a_realistic_example(document: dict[str, Any]) -> None:
    models = _models()
    for name, schema in document["components"]["schemas"].items():
        examples = schema.get("examples")
        assert examples, name
        for example in examples:
            assert all(abs(n) <= JS_SAFE for n in _numbers(example)), name
            if name in models:
                models[name].model_validate(example)  # the models accept it
            elif name != "Problem":
                pytest.fail(f"no model for the example of {name}")
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert "example" in parameter, (method, path, parameter["name"])
            assert all(abs(n) <= JS_SAFE for n in _numbers(parameter["example"]))
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and "$ref" not in body["schema"]:
            assert "example" in body, (method, path)


def test_the_examples_are_the_test_vectors(document: dict[str, Any]) -> None:
    bodies = {
        path: item["post"]["requestBody"]["content"]["application/json"]
        for path, item in document["paths"].items()
        if "post" in item and "requestBody" in item["post"]
    }
    schedule = bodies["/schedules"]["example"]
    assert schedule == vector("schedule")["api_body"]
    api.schedules.schemas.ScheduleIn.model_validate(schedule)
    reading = bodies["/readings"]["example"]
    assert reading == vector("reading")["api_body"]
    SignedReading.from_json(reading)
    components = document["components"]["schemas"]
    assert components["MeterBatchIn"]["examples"] == [vector("meter_batch")["api_body"]]
    assert components["ChallengeOut"]["examples"][0]["message"] == vector("sign_in")["message"]
    assert (
        components["TokenOut"]["examples"][0]["access_token"]
        == (vector("sign_in")["token"]["token"])
    )
    manager = vector("manager_request")
    assert components["AdmitIn"]["examples"] == [json.loads(manager["body_utf8"])]


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    parser = _Assets()
    parser.feed(html)
    assert len(parser.urls) >= 2
    for url in parser.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    # No other origin anywhere in the page (inline scripts included).
    assert not re.search(r"https?://", html), html


def test_health_reports_the_chain_and_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["chain"]["reachable"] is True
    assert body["chain"]["chain_id"] == 31337
    assert body["chain"]["block_number"] >= 1
    assert body["database"] == {"reachable": True, "detail": None}


@pytest.fixture
def silent_node() -> Iterator[str]:
    # Accepts connections (the kernel's backlog) and never answers: a hung node.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_health_with_a_hung_node_answers_503_within_its_bound(
    settings: Settings, community: Deployment, silent_node: str
) -> None:
    hung = settings.model_copy(update={"rpc_url": silent_node, "health_timeout_seconds": 1.0})
    app = create_app(hung, chain=V2Chain.from_settings(hung, community))
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.get("/health")
        took = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:quartier:problem:unhealthy"
    assert body["chain"]["reachable"] is False
    assert body["database"]["reachable"] is True
    assert took < 4, took


def test_cors_is_off_unless_origins_are_configured(
    settings: Settings, community: Deployment, anvil: AnvilNode
) -> None:
    preflight = {
        "Origin": "https://wallet.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    plain = create_app(settings, chain=V2Chain.from_settings(settings, community))
    with TestClient(plain) as client:
        answer = client.get("/health", headers={"Origin": "https://wallet.example"})
        assert "access-control-allow-origin" not in answer.headers
    allowed = settings.model_copy(update={"cors_origins": ("https://wallet.example",)})
    app = create_app(allowed, chain=V2Chain.from_settings(allowed, community))
    with TestClient(app) as client:
        answer = client.options("/schedules", headers=preflight)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://wallet.example"
        other = client.options(
            "/schedules", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        refused = client.post(
            "/auth/challenge", json={}, headers={"Origin": "https://wallet.example"}
        )
        assert refused.status_code == 422
        assert refused.headers["access-control-allow-origin"] == "https://wallet.example"


def test_the_document_version_is_the_package_version(document: dict[str, Any]) -> None:
    from importlib.metadata import version

    assert document["info"]["version"] == version("quartier")
    assert document["info"]["license"]["identifier"] == "MIT"
    assert "ledger/FORMATS.md" in document["info"]["description"]
    assert set(api.openapi.SUMMARIES) <= {(m, p) for m, p, _ in operations(document)}
