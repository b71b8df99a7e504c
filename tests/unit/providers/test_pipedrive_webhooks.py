"""Pipedrive webhooks v2: Basic-auth verification, parsing into ProviderChange, duplicates,
and registration at connection setup (against the simulator, which also emits real ones)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from crmhub.models import Customer
from crmhub.models.common import Entity
from crmhub.models.inbound import WebhookMalformed, WebhookRejected
from crmhub.providers.base import References
from crmhub.providers.pipedrive import PipedriveProvider, parse_webhook, register_webhooks
from local.simulators import ControlSettings, PipedriveConfig, SimulatorServer, make_pipedrive_app

SECRET = {"webhook_user": "hub", "webhook_password": "s3cret"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def delivery(
    action: str = "change", entity: str = "person", data: Any = None, previous: Any = None, **meta: Any
) -> bytes:
    body = {
        "meta": {
            "action": action,
            "entity": entity,
            "entity_id": "7",
            "id": "evt-1",
            "version": "2.0",
            "timestamp": "2026-03-01T12:00:00.000Z",
            "change_source": "app",
            "company_id": "1",
            **meta,
        },
        "data": data if data is not None else ({"id": 7, "name": "Ana"} if action != "delete" else None),
        "previous": previous,
    }
    return json.dumps(body).encode()


def test_valid_change_becomes_a_canonical_change() -> None:
    body = delivery(
        data={"id": 7, "name": "Ana Souza", "emails": [{"value": "ana@example.com", "primary": True}]},
        previous={"name": "Ana"},
    )
    [change] = parse_webhook(basic("hub", "s3cret"), body, SECRET)
    assert (change.event_id, change.entity, change.external_id, change.action) == (
        "evt-1",
        Entity.CUSTOMER,
        "7",
        "update",
    )
    assert change.data is not None and change.data["email"] == "ana@example.com"
    assert change.changed_fields == ["name"] and change.origin == "app"
    assert change.occurred_at.isoformat() == "2026-03-01T12:00:00+00:00"


def test_api_changes_are_marked_as_such() -> None:
    [change] = parse_webhook(basic("hub", "s3cret"), delivery(change_source="api"), SECRET)
    assert change.origin == "api"


def test_a_retried_delivery_has_the_same_event_id() -> None:
    body = delivery()
    first = parse_webhook(basic("hub", "s3cret"), body, SECRET)
    again = parse_webhook({"authorization": basic("hub", "s3cret")["Authorization"]}, body, SECRET)
    assert first[0].event_id == again[0].event_id == "evt-1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("hub", "wrong"),
        basic("other", "s3cret"),
        {"Authorization": "Bearer s3cret"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"hub-s3cret").decode()},
    ],
)
def test_bad_or_missing_credentials_are_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected):
        parse_webhook(headers, delivery(), SECRET)


def test_a_connection_without_webhook_credentials_rejects_everything() -> None:
    with pytest.raises(WebhookRejected):
        parse_webhook(basic("", ""), delivery(), {})


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"data": {}}).encode(),  # no meta
        json.dumps(
            {"meta": {"id": "e", "action": "change", "entity": "person", "version": "1.0", "entity_id": "1"}}
        ).encode(),  # a v1 payload
        json.dumps(
            {"meta": {"action": "change", "entity": "person", "entity_id": "1", "timestamp": "2026-01-01T00:00:00Z"}}
        ).encode(),  # no event id
        json.dumps({"meta": {"id": "e", "action": "merge", "entity": "person", "entity_id": "1"}}).encode(),
        json.dumps(
            {"meta": {"id": "e", "action": "change", "entity": "person", "entity_id": "1"}, "data": "x"}
        ).encode(),
    ],
)
def test_malformed_deliveries_are_refused_after_authentication(body: bytes) -> None:
    with pytest.raises(WebhookMalformed):
        parse_webhook(basic("hub", "s3cret"), body, SECRET)


def test_objects_the_hub_does_not_follow_are_acknowledged_and_ignored() -> None:
    assert parse_webhook(basic("hub", "s3cret"), delivery(entity="note"), SECRET) == []


def test_company_contacts_and_organizations_map_to_the_company_customer() -> None:
    auth = basic("hub", "s3cret")
    [contact] = parse_webhook(auth, delivery(data={"id": 7, "name": "Ana", "org_id": 3}), SECRET)
    assert (contact.external_id, contact.action, contact.data) == ("org:3", "update", None)
    [org] = parse_webhook(
        auth, delivery(entity="organization", action="create", entity_id="3", data={"id": 3, "name": "ACME"}), SECRET
    )
    assert (org.external_id, org.action, org.data) == ("org:3", "create", None)  # fetched whole by the worker
    [gone] = parse_webhook(auth, delivery(action="delete", previous={"id": 7, "name": "Ana", "org_id": 3}), SECRET)
    assert (gone.external_id, gone.action) == ("org:3", "update")  # the company lost its contact


def test_deletes_and_deals_carry_no_data() -> None:
    auth = basic("hub", "s3cret")
    [deleted] = parse_webhook(auth, delivery(action="delete", previous={"id": 7, "name": "Ana"}), SECRET)
    assert (deleted.action, deleted.data, deleted.external_id) == ("delete", None, "7")
    [deal] = parse_webhook(auth, delivery(entity="deal", data={"id": 7, "title": "Venda", "person_id": 1}), SECRET)
    assert deal.entity is Entity.SALE and deal.data is None  # its products come with a fetch


def test_unreadable_data_leaves_the_fetch_to_the_worker() -> None:
    [change] = parse_webhook(
        basic("hub", "s3cret"), delivery(entity="activity", data={"id": 7, "due_date": "x"}), SECRET
    )
    assert change.entity is Entity.ACTIVITY and change.data is None


# --------------------------------------------------------------------------- registration + real deliveries


class _Inbox(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def inbox() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Inbox", (_Inbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/pipedrive/store-1", received
    server.shutdown()
    server.server_close()


def test_registration_is_idempotent_and_simulator_deliveries_parse(
    inbox: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    # Given a connection set up twice against the simulator
    url, received = inbox
    app = make_pipedrive_app(PipedriveConfig(controls=ControlSettings(rate_limit_enabled=False)))
    with SimulatorServer(app) as server:
        provider = PipedriveProvider({"api_token": "pd-api-token"}, base_url=f"{server.url}/api/v2")
        first = register_webhooks(provider, url, "hub", "s3cret")
        second = register_webhooks(provider, url, "hub", "s3cret")
        assert first == second and len(first) == 5
        assert {w["event_object"] for w in provider.list_webhooks()} == {
            "person",
            "organization",
            "deal",
            "product",
            "activity",
        }
        assert all(w["version"] == "2.0" and w["event_action"] == "*" for w in provider.list_webhooks())
        # When a record changes through the API
        created = provider.create(Entity.CUSTOMER, Customer(id="c1", name="Ana"), References(), intent_id="i")
        provider.update(Entity.CUSTOMER, created.external_id, Customer(id="c1", name="Ana B"), References())
        assert app.extensions["simulator"].sender.flush(5)
    # Then real-shaped, authenticated deliveries arrive and parse, marked as API changes
    changes = [parse_webhook(headers, body, SECRET)[0] for headers, body in received]
    assert [(c.action, c.origin) for c in changes] == [("create", "api"), ("update", "api")]
    assert changes[1].changed_fields and "name" in changes[1].changed_fields
    assert len({c.event_id for c in changes}) == 2
