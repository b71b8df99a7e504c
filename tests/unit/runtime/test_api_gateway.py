"""api_gateway.py: API Gateway REST proxy events, routing, keys, throttling, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.runtime import LocalHub
from local.runtime.api_gateway import ApiGatewayFront, Route, Router, TokenBucket
from local.runtime.template import ApiEvent, load_template

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"
MISSING_TOKEN = {"message": "Missing Authentication Token"}


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    lines: list[str] = []
    with LocalHub(
        FIXTURE / "template.yaml",
        FIXTURE,
        api_port=0,
        aws_port=0,
        run_pollers=False,
        run_schedules=False,
        console=lines.append,
    ) as running:
        running.lines = lines  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def client(hub: LocalHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.api_url, timeout=10) as c:
        yield c


def event_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["event"]


def test_health_gets_env_and_context(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["stage"] == "dev" and body["table"] == "crmhub-local-ItemsTable"
    assert body["function"] == "rt-dev-api" and body["memory"] == 256
    assert 4000 < body["remaining_ms"] <= 5000  # Timeout: 5


def test_proxy_event_shape(client: httpx.Client) -> None:
    r = client.get(
        "/items/42",
        params=[("q", "1"), ("q", "2"), ("name", "a b")],
        headers={"x-custom": "one", "User-Agent": "tests/1.0"},
    )
    event = event_of(r)
    assert event["resource"] == "/items/{item_id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["queryStringParameters"] == {"q": "2", "name": "a b"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"], "name": ["a b"]}
    assert event["headers"]["x-custom"] == "one"  # header names as the client sent them
    assert event["multiValueHeaders"]["x-custom"] == ["one"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["stage"] == "dev" and ctx["resourcePath"] == "/items/{item_id}" and ctx["httpMethod"] == "GET"
    assert ctx["requestId"] and r.headers["x-amzn-RequestId"] == ctx["requestId"]
    assert abs(ctx["requestTimeEpoch"] - time.time() * 1000) < 10_000
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["identity"]["userAgent"] == "tests/1.0"
    assert ctx["identity"]["apiKey"] is None


def test_most_specific_route_wins(client: httpx.Client) -> None:
    assert event_of(client.get("/items/special"))["resource"] == "/items/special"
    special = event_of(client.get("/items/special"))
    assert special["pathParameters"] is None
    assert event_of(client.get("/items/other"))["resource"] == "/items/{item_id}"


def test_greedy_proxy(client: httpx.Client) -> None:
    event = event_of(client.delete("/files/a/b/c.txt"))
    assert event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert client.get("/files").json() == MISSING_TOKEN  # {proxy+} needs at least one segment


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/items/1/extra"), ("DELETE", "/health"), ("POST", "/items/special"), ("GET", "/")],
)
def test_unknown_route_or_method_is_missing_authentication_token(client: httpx.Client, method: str, path: str) -> None:
    r = client.request(method, path)
    assert r.status_code == 403
    assert r.json() == MISSING_TOKEN
    assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_api_key_required(client: httpx.Client) -> None:
    r = client.get("/secure/thing")
    assert r.status_code == 403
    assert r.json() == {"error": {"code": "invalid_api_key"}}  # the template's INVALID_API_KEY body
    event = event_of(client.get("/secure/thing", headers={"x-api-key": "key-for-identity"}))
    assert event["requestContext"]["identity"]["apiKey"] == "key-for-identity"


def test_usage_plan_throttle_per_key(client: httpx.Client) -> None:
    # RateLimit 1/s, BurstLimit 3 (fixture parameters)
    statuses = [client.get("/secure/t", headers={"x-api-key": "throttled-key"}).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]
    r = client.get("/secure/t", headers={"x-api-key": "throttled-key"})
    assert r.status_code == 429 and r.json() == {"error": {"code": "rate_limited"}}
    assert client.get("/secure/t", headers={"x-api-key": "another-key"}).status_code == 200
    assert client.get("/health").status_code == 200  # routes without a key are not in the usage plan


def test_throttle_follows_parameter_overrides() -> None:
    model = load_template(FIXTURE / "template.yaml", {"ApiRateLimitPerSecond": "500", "ApiBurstLimit": "1000"})
    front = ApiGatewayFront(model, invoker=None, port=0)  # type: ignore[arg-type]
    assert (front.throttle.rate_limit, front.throttle.burst_limit) == (500.0, 1000)
    assert ApiGatewayFront(model, invoker=None, port=0, throttle=False).throttle is None  # type: ignore[arg-type]


def test_crash_is_502_with_traceback_on_console(hub: LocalHub, client: httpx.Client) -> None:
    hub.lines.clear()  # type: ignore[attr-defined]
    r = client.get("/crash")
    assert r.status_code == 502
    assert r.json() == {"message": "Internal server error"}
    console = "\n".join(hub.lines)  # type: ignore[attr-defined]
    assert "[ApiFunction]" in console and "RuntimeError: boom (fixture crash)" in console
    assert "Traceback" in console


def test_malformed_proxy_response_is_502(hub: LocalHub, client: httpx.Client) -> None:
    r = client.get("/malformed")
    assert r.status_code == 502 and r.json() == {"message": "Internal server error"}
    assert any("Malformed Lambda proxy response" in line for line in hub.lines)  # type: ignore[attr-defined]


def test_binary_bodies_are_base64_both_ways(client: httpx.Client) -> None:
    payload = bytes(range(256))
    r = client.put("/files/blob.bin", content=payload, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert r.content == payload[::-1]
    assert r.headers.get_list("Set-Cookie") == ["a=1", "b=2"]


def test_text_bodies_are_passed_as_is(client: httpx.Client) -> None:
    event = event_of(client.post("/echo", json={"name": "ação"}))
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"name": "ação"}


def test_console_lines_have_no_payload(hub: LocalHub, client: httpx.Client) -> None:
    hub.lines.clear()  # type: ignore[attr-defined]
    client.get("/items/secret-value", params={"email": "someone@example.com"})
    (line,) = hub.lines  # type: ignore[attr-defined]
    assert "ApiFunction" in line and "GET /items/{item_id}" in line and "200" in line and " ms" in line
    assert "secret-value" not in line and "example.com" not in line


def test_router_specificity_unit() -> None:
    def route(path: str, method: str = "GET") -> Route:
        return Route("F", ApiEvent("E", path, method, False, "Api"), tuple(s for s in path.split("/") if s))

    router = Router([route("/a/{x}/c"), route("/a/b/{y}"), route("/a/{proxy+}", "ANY"), route("/{p}/b/c")])
    assert router.match("GET", "/a/b/c")[0] == "/a/b/{y}"
    assert router.match("GET", "/a/z/c")[0] == "/a/{x}/c"
    assert router.match("POST", "/a/z/q/r")[0] == "/a/{proxy+}"
    resource, matched, _ = router.match("POST", "/a/b/c")
    assert resource == "/a/b/{y}" and matched is None  # resource found, method not defined


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=1000, burst=2)
    assert bucket.take() and bucket.take()
    time.sleep(0.01)
    assert bucket.take()
    assert not TokenBucket(rate=0, burst=0).take()
