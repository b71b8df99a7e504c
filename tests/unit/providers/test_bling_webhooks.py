"""Bling webhooks: X-Bling-Signature-256 verification (constant time), parsing, duplicates,
and the simulator's real, signed deliveries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from crmhub.models import Customer, Entity
from crmhub.models.inbound import WebhookMalformed, WebhookRejected
from crmhub.providers.base import References
from crmhub.providers.bling import BlingProvider, parse_webhook
from crmhub.providers.bling.webhooks import sign
from local.simulators import BlingConfig, ControlSettings, make_bling_app

SECRET = {"client_id": "id", "client_secret": "bling-client-secret"}


def event(name: str = "order.updated", **data: Any) -> bytes:
    return json.dumps(
        {
            "eventId": "01J8ZQ",
            "date": "2026-03-01T12:00:00Z",
            "version": "v1",
            "event": name,
            "companyId": "abc",
            "data": {"id": 12345, **data},
        }
    ).encode()


def signed(body: bytes, secret: str = "bling-client-secret") -> dict[str, str]:
    return {"X-Bling-Signature-256": sign(body, secret)}


def test_a_signed_event_becomes_a_change() -> None:
    body = event()
    [change] = parse_webhook(signed(body), body, SECRET)
    assert (change.event_id, change.entity, change.external_id, change.action) == (
        "01J8ZQ",
        Entity.SALE,
        "12345",
        "update",
    )
    assert change.data is None and change.occurred_at.isoformat() == "2026-03-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("name", "entity", "action"),
    [
        ("product.created", Entity.PRODUCT, "create"),
        ("contact.deleted", Entity.CUSTOMER, "delete"),
        ("order.created", Entity.SALE, "create"),
    ],
)
def test_event_names(name: str, entity: Entity, action: str) -> None:
    body = event(name)
    [change] = parse_webhook({"x-bling-signature-256": sign(body, "bling-client-secret")}, body, SECRET)
    assert (change.entity, change.action) == (entity, action)


def test_a_redelivery_has_the_same_event_id() -> None:
    body = event()
    assert (
        parse_webhook(signed(body), body, SECRET)[0].event_id == parse_webhook(signed(body), body, SECRET)[0].event_id
    )


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, event()),  # missing
        (signed(event(), "other-secret"), event()),  # wrong key
        (signed(event("order.created")), event()),  # signature of another body
        ({"X-Bling-Signature-256": "sha256="}, event()),
        ({"X-Bling-Signature-256": sign(event(), "bling-client-secret").removeprefix("sha256=")}, event()),
    ],
)
def test_bad_signatures_are_rejected(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        parse_webhook(headers, body, SECRET)


def test_the_signature_covers_the_raw_bytes() -> None:
    body = event()
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    with pytest.raises(WebhookRejected):
        parse_webhook(signed(body), reformatted, SECRET)


def test_no_secret_no_entry() -> None:
    with pytest.raises(WebhookRejected):
        parse_webhook(signed(event()), event(), {})


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        json.dumps({"event": "order.updated", "data": {"id": 1}}).encode(),
        json.dumps({"eventId": "e", "event": "order", "data": {"id": 1}}).encode(),
        json.dumps({"eventId": "e", "event": "order.exploded", "data": {"id": 1}, "date": "x"}).encode(),
        json.dumps({"eventId": "e", "event": "order.updated", "data": {}}).encode(),
        json.dumps({"eventId": "e", "event": "order.updated", "data": {"id": 1}, "date": "yesterday"}).encode(),
        json.dumps({"eventId": "e", "event": "order.updated", "data": {"id": 1}}).encode(),
    ],
)
def test_malformed_events(body: bytes) -> None:
    with pytest.raises(WebhookMalformed):
        parse_webhook(signed(body), body, SECRET)


def test_events_of_resources_not_synced_are_ignored() -> None:
    body = event("stock.updated")
    assert parse_webhook(signed(body), body, SECRET) == []


# --------------------------------------------------------------------------- simulator deliveries


class _Inbox(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def inbox() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Inbox", (_Inbox,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/bling/store-1", received
    server.shutdown()
    server.server_close()


def test_simulator_deliveries_are_signed_and_parse(inbox: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    url, received = inbox
    app = make_bling_app(BlingConfig(webhook_url=url, controls=ControlSettings(rate_limit_enabled=False)))
    provider = BlingProvider({"access_token": "bling-access-token"}, transport=httpx.WSGITransport(app=app))
    created = provider.create(Entity.CUSTOMER, Customer(id="c1", name="Ana"), References(), intent_id="i")
    provider.deactivate(Entity.CUSTOMER, created.external_id, None)
    provider.delete(Entity.CUSTOMER, created.external_id)
    assert app.extensions["simulator"].sender.flush(5)
    changes = [parse_webhook(headers, body, SECRET)[0] for headers, body in received]
    assert [(c.entity, c.action, c.external_id) for c in changes] == [
        (Entity.CUSTOMER, "create", created.external_id),
        (Entity.CUSTOMER, "update", created.external_id),
        (Entity.CUSTOMER, "delete", created.external_id),
    ]
    with pytest.raises(WebhookRejected):  # and only the right secret verifies them
        parse_webhook(received[0][0], received[0][1], {"client_secret": "guess"})
