"""Pipedrive simulator: v2 shapes, cursors, filters, burst limit (real 429s), daily token
budget with costs, x-ratelimit-* headers, the HTML 403 back-off page, webhooks v2."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from local.simulators import ControlSettings, PipedriveConfig, make_pipedrive_app

AUTH = {"x-api-token": "pd-api-token"}
V2 = "/api/v2"


@pytest.fixture
def app() -> Flask:
    return make_pipedrive_app(PipedriveConfig(controls=ControlSettings(rate_limit_enabled=False)))


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return client.post(f"{V2}{path}", json=body, headers=AUTH)


# --------------------------------------------------------------------------- shapes


def test_person_crud_in_v2_shape(client: Any) -> None:
    org = post(client, "/organizations", {"name": "ACME"}).json["data"]
    created = post(
        client,
        "/persons",
        {"name": "Ana Souza", "org_id": org["id"], "emails": [{"value": "ana@acme.example", "primary": True}]},
    )
    assert created.status_code == 200
    person = created.json["data"]
    assert person["id"] == 1 and isinstance(person["id"], int) and person["first_name"] == "Ana"
    assert person["emails"] == [{"value": "ana@acme.example", "primary": True, "label": "work"}]
    assert person["update_time"].endswith("Z") and None not in person.values()
    changed = client.patch(f"{V2}/persons/1", json={"phones": [{"value": "+5511999998888"}]}, headers=AUTH).json
    assert changed["data"]["phones"][0]["primary"] is True and changed["data"]["name"] == "Ana Souza"
    assert client.delete(f"{V2}/persons/1", headers=AUTH).json == {"success": True, "data": {"id": 1}}
    missing = client.get(f"{V2}/persons/1", headers=AUTH)
    assert missing.status_code == 404 and missing.json["success"] is False and missing.json["data"] is None


def test_products_answer_201_and_deals_follow_their_products(client: Any) -> None:
    product = post(
        client, "/products", {"name": "Caneta", "code": "CAN-1", "prices": [{"price": 2.5, "currency": "BRL"}]}
    )
    assert product.status_code == 201 and product.json["data"]["prices"][0]["product_id"] == 1
    person = post(client, "/persons", {"name": "Ana"}).json["data"]
    deal = post(client, "/deals", {"title": "Venda 1", "person_id": person["id"]}).json["data"]
    assert deal["status"] == "open" and deal["value"] == 0 and deal["currency"] == "BRL"
    attached = post(client, f"/deals/{deal['id']}/products", {"product_id": 1, "item_price": 2.5, "quantity": 4})
    assert attached.status_code == 201 and attached.json["data"]["sum"] == 10
    assert client.get(f"{V2}/deals/{deal['id']}", headers=AUTH).json["data"]["value"] == 10
    listed = client.get(f"{V2}/deals/products?deal_ids={deal['id']}", headers=AUTH).json
    assert [p["deal_id"] for p in listed["data"]] == [deal["id"]]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/persons", {"emails": []}, "Name must be given"),
        ("/persons", {"name": "Ana", "emails": "ana@example.com"}, "emails must be an array"),
        ("/persons", {"name": "Ana", "org_id": 99}, "Organization 99 not found"),
        ("/deals", {"title": "x", "status": "closed"}, "status must be"),
        ("/deals", {"value": 1}, "Title must be given"),
    ],
)
def test_invalid_bodies_answer_400_in_pipedrive_shape(
    client: Any, path: str, body: dict[str, Any], message: str
) -> None:
    response = post(client, path, body)
    assert response.status_code == 400 and response.json["success"] is False
    assert message in response.json["error"]


def test_cursor_pagination(client: Any) -> None:
    for i in range(5):
        post(client, "/activities", {"subject": f"A{i}"})
    seen, cursor = [], None
    while True:
        query = f"?limit=2{'&cursor=' + cursor if cursor else ''}"
        body = client.get(f"{V2}/activities{query}", headers=AUTH).json
        seen.append([a["subject"] for a in body["data"]])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [["A0", "A1"], ["A2", "A3"], ["A4"]]
    assert client.get(f"{V2}/activities?limit=501", headers=AUTH).status_code == 400
    assert client.get(f"{V2}/activities?cursor=garbage", headers=AUTH).status_code == 400


def test_updated_since_filters_but_not_products(client: Any, app: Flask) -> None:
    store = app.extensions["simulator"].store
    post(client, "/persons", {"name": "Old"})
    post(client, "/persons", {"name": "New"})
    store.update("persons", 1, lambda r: {**r, "update_time": "2020-01-01T00:00:00Z"})
    recent = client.get(f"{V2}/persons?updated_since=2025-01-01T00:00:00Z", headers=AUTH).json["data"]
    assert [p["name"] for p in recent] == ["New"]
    post(client, "/products", {"name": "P"})
    assert len(client.get(f"{V2}/products?updated_since=2099-01-01T00:00:00Z", headers=AUTH).json["data"]) == 1
    ordered = client.get(f"{V2}/persons?sort_by=update_time&sort_direction=desc", headers=AUTH).json["data"]
    assert [p["name"] for p in ordered] == ["New", "Old"]


def test_search(client: Any) -> None:
    post(client, "/persons", {"name": "Ana", "custom_fields": {"k" * 40: "52998224725"}})
    hits = client.get(f"{V2}/persons/search?term=52998224725&fields=custom_fields&exact_match=true", headers=AUTH).json[
        "data"
    ]["items"]
    assert hits[0]["item"]["id"] == 1 and hits[0]["item"]["custom_fields"] == ["52998224725"]
    assert client.get(f"{V2}/persons/search?term=a", headers=AUTH).status_code == 400
    assert client.get(f"{V2}/persons/search?term=an", headers=AUTH).json["data"]["items"][0]["item"]["name"] == "Ana"


def test_auth(client: Any, app: Flask) -> None:
    assert client.get(f"{V2}/persons").status_code == 401
    assert client.get(f"{V2}/persons", headers={"x-api-token": "wrong"}).json["error"] == "unauthorized access"
    app.extensions["simulator"].config.oauth_access_token = "oauth-token"
    assert client.get(f"{V2}/persons", headers={"Authorization": "Bearer oauth-token"}).status_code == 200


# --------------------------------------------------------------------------- limits


def test_burst_limit_answers_real_429s_with_rate_headers() -> None:
    app = make_pipedrive_app(
        PipedriveConfig(controls=ControlSettings(rate_limit=3, window_s=2.0, retry_after_header=False))
    )
    client = app.test_client()
    answers = [client.get(f"{V2}/persons", headers=AUTH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.json["error"] == "Request over limit" and "Retry-After" not in limited.headers
    assert limited.headers["x-ratelimit-limit"] == "3" and int(limited.headers["x-ratelimit-reset"]) in (1, 2)
    assert app.test_client().get("/_sim/stats").json["responses_429"] == 1


def test_daily_tokens_are_charged_by_operation(client: Any, app: Flask) -> None:
    state = app.extensions["simulator"]
    left = state.tokens_left()
    post(client, "/persons", {"name": "Ana"})  # 5
    client.get(f"{V2}/persons/1", headers=AUTH)  # 1
    client.get(f"{V2}/persons", headers=AUTH)  # 10
    client.get(f"{V2}/persons/search?term=Ana", headers=AUTH)  # 10
    client.patch(f"{V2}/persons/1", json={"name": "Ana B"}, headers=AUTH)  # 5
    answer = client.delete(f"{V2}/persons/1", headers=AUTH)  # 3
    assert left - state.tokens_left() == 34
    assert answer.headers["x-daily-requests-left"] == str(state.tokens_left())


def test_spent_daily_budget_answers_429(client: Any) -> None:
    client.post("/_sim/config", json={"daily_tokens_left": 0})
    refused = client.get(f"{V2}/persons", headers=AUTH)
    assert refused.status_code == 429 and refused.headers["x-daily-requests-left"] == "0"
    assert client.get("/_sim/config").json["daily_tokens_left"] == 0


def test_backoff_page_switch_and_automatic_ban(client: Any) -> None:
    client.post("/_sim/config", json={"backoff_403": True})
    page = client.get(f"{V2}/persons", headers=AUTH)
    assert page.status_code == 403 and page.content_type.startswith("text/html") and b"<html>" in page.data
    client.post("/_sim/config", json={"backoff_403": False})
    assert client.get(f"{V2}/persons", headers=AUTH).status_code == 200
    # clients that keep hitting 429 get the page on their own
    app = make_pipedrive_app(
        PipedriveConfig(backoff_after_429s=2, controls=ControlSettings(rate_limit=1, window_s=2.0))
    )
    eager = app.test_client()
    statuses = [eager.get(f"{V2}/persons", headers=AUTH).status_code for _ in range(5)]
    assert statuses == [200, 429, 429, 403, 403]


# --------------------------------------------------------------------------- webhooks


class _Inbox(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append((dict(self.headers.items()), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def inbox() -> Iterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    received: list[tuple[dict[str, str], dict[str, Any]]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Inbox", (_Inbox,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_webhooks_v2_for_api_and_app_changes(
    client: Any, app: Flask, inbox: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]
) -> None:
    url, received = inbox
    hook = client.post(
        "/v1/webhooks",
        headers=AUTH,
        json={
            "subscription_url": url,
            "event_action": "*",
            "event_object": "person",
            "version": "2.0",
            "http_auth_user": "hub",
            "http_auth_password": "s3cret",
        },
    )
    assert hook.status_code == 201 and hook.json["data"]["version"] == "2.0"
    post(client, "/persons", {"name": "Ana"})
    client.patch("/_sim/app/persons/1", json={"name": "Ana Souza"})  # a user in Pipedrive's UI
    client.delete(f"{V2}/persons/1", headers=AUTH)
    post(client, "/products", {"name": "not followed"})
    assert app.extensions["simulator"].sender.flush(5)
    metas = [body["meta"] for _, body in received]
    assert [(m["action"], m["change_source"], m["entity"]) for m in metas] == [
        ("create", "api", "person"),
        ("change", "app", "person"),
        ("delete", "api", "person"),
    ]
    assert len({m["id"] for m in metas}) == 3 and all(m["version"] == "2.0" for m in metas)
    create, change, delete = (body for _, body in received)
    assert create["previous"] is None and create["data"]["name"] == "Ana"
    assert change["previous"] == {"name": "Ana", "last_name": None}  # only what changed
    assert delete["data"] is None and delete["previous"]["name"] == "Ana Souza"
    expected = "Basic " + base64.b64encode(b"hub:s3cret").decode()
    assert all(headers["Authorization"] == expected for headers, _ in received)


def test_webhook_registration_is_validated(client: Any) -> None:
    bad = client.post(
        "/v1/webhooks",
        headers=AUTH,
        json={"subscription_url": "ftp://x", "event_action": "*", "event_object": "person"},
    )
    assert bad.status_code == 400
    listed = client.get("/v1/webhooks", headers=AUTH).json
    assert listed == {"success": True, "status": "ok", "data": []}
