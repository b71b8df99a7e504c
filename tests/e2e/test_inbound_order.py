"""Inbound webhooks, end to end, with deliveries the test controls: the Pipedrive and Bling
simulators emit their real (Basic-auth / HMAC-signed) webhooks to a capture endpoint, and
the test replays them to the hub twice, newest-first, or as the echo of the hub's own write.

What must hold: a repeated delivery is acknowledged (2xx) and ignored (one ERP write); an
older delivery arriving after a newer one does not roll the ERP back; the CRM's webhook
for a write the hub made itself writes nothing to the ERP and opens no conflict.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf
from support import ERP_HEADERS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PD_TOKEN = {"x-api-token": "pd-api-token"}
BLING_BEARER = {"authorization": "Bearer bling-access-token"}


@dataclass(frozen=True)
class Delivery:
    """One webhook exactly as the provider sent it."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Capture:
    """A local endpoint that records webhook deliveries instead of the hub receiving them."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                keep = {k.lower(): v for k, v in self.headers.items() if k.lower() != "content-length"}
                with capture._lock:
                    capture.deliveries.append(Delivery(keep, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def take(self, match, timeout_s: float = 15.0) -> list[Delivery]:
        """Wait for deliveries matching ``match(payload)``; remove and return them."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                found = [d for d in self.deliveries if match(d.json)]
                if found:
                    self.deliveries = [d for d in self.deliveries if d not in found]
                    return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching webhook in {timeout_s}s ({len(self.deliveries)} others)")
            time.sleep(0.05)

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    server = Capture()
    yield server
    server.close()


def make_tenant(hub, provider: str) -> tuple[str, str]:
    from local.demo import point_erp_at_hub, setup_tenant

    store = f"loja-order-{provider}"
    httpx.post(f"{hub.simulators[provider]}/_sim/config", json={"rate_limit": 60}).raise_for_status()
    key = setup_tenant(
        hub.api_url,
        ADMIN_KEY,
        store=store,
        erp_url=hub.simulators["erp"],
        provider=provider,
        provider_url=hub.simulators[provider],
        rate_limit=30,
    )
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    return store, key


@pytest.fixture(scope="module")
def pipedrive(hub, capture):
    store, key = make_tenant(hub, "pipedrive")
    # Pipedrive delivers to the capture endpoint with the credentials the hub verifies.
    hook = httpx.post(
        f"{hub.simulators['pipedrive']}/v1/webhooks",
        headers=PD_TOKEN,
        json={
            "subscription_url": capture.url,
            "event_action": "*",
            "event_object": "person",
            "version": "2.0",
            "http_auth_user": "crmhub",
            "http_auth_password": "pd-webhook-secret",
        },
    )
    assert hook.status_code == 201, hook.text
    return store, key


@pytest.fixture(scope="module")
def bling(hub, capture):
    store, key = make_tenant(hub, "bling")
    httpx.post(f"{hub.simulators['bling']}/_sim/config", json={"webhook_url": capture.url}).raise_for_status()
    return store, key


def erp(hub, store: str) -> httpx.Client:
    return httpx.Client(base_url=f"{hub.simulators['erp']}/api/v1/stores/{store}", headers=ERP_HEADERS, timeout=30)


def deliver(hub, provider: str, store: str, delivery: Delivery) -> httpx.Response:
    """Hand a captured delivery to the hub, byte for byte (Bling's signature covers them)."""
    headers = {k: v for k, v in delivery.headers.items() if k in ("authorization", "x-bling-signature-256")}
    headers["content-type"] = "application/json"
    return httpx.post(f"{hub.api_url}/webhooks/{provider}/{store}", content=delivery.body, headers=headers, timeout=30)


def linked_customer(hub, provider: str, store: str, key: str, name: str, base9: str) -> tuple[dict, str]:
    """A customer created in the ERP and synced to the provider; returns it and its external id."""
    customer = erp(hub, store).post(
        "/customers", json={"name": name, "document": cpf(base9), "email": f"{base9}@example.com"}
    )
    assert customer.status_code == 201, customer.text
    assert hub.wait_idle(90)
    link = httpx.get(
        f"{hub.api_url}/api/v1/stores/{store}/links/{provider}/customer/local/{customer.json()['id']}",
        headers={"x-api-key": key},
    ).json()
    assert link.get("status") == "linked", link
    return customer.json(), link["external_id"]


def erp_record(hub, store: str, local_id: str) -> dict:
    return erp(hub, store).get(f"/customers/{local_id}").json()


def conflicts_of(hub, store: str, key: str, local_id: str) -> list[dict]:
    listed = httpx.get(
        f"{hub.api_url}/api/v1/stores/{store}/conflicts", params={"status": "all"}, headers={"x-api-key": key}
    ).json()
    return [c for c in listed if c["local_id"] == local_id]


def event_status(hub, event_id: str) -> str | None:
    item = hub.boto3("dynamodb").get_item(
        TableName=hub.table("EventsTable"), Key={"event_id": {"S": event_id}}, ConsistentRead=True
    )
    return item.get("Item", {}).get("status", {}).get("S")


def erp_customers_named(hub, store: str, prefix: str) -> list[dict]:
    rows = erp(hub, store).get("/customers", params={"per_page": 100}).json()["data"]
    return [c for c in rows if c["name"].startswith(prefix)]


# ------------------------------------------------------------------------ Pipedrive


def pd_person_edit(hub, person_id: str, body: dict) -> None:
    """Someone edits the person in Pipedrive's UI (change_source "app")."""
    response = httpx.patch(f"{hub.simulators['pipedrive']}/_sim/app/persons/{person_id}", json=body)
    assert response.status_code == 200, response.text


def pd_change_of(person_id: str, source: str):
    def match(payload: dict) -> bool:
        meta = payload.get("meta") or {}
        return (
            meta.get("entity_id") == str(person_id)
            and meta.get("action") == "change"
            and meta.get("change_source") == source
        )

    return match


def test_pipedrive_duplicate_delivery_is_acknowledged_and_applied_once(hub, capture, pipedrive):
    store, key = pipedrive
    customer, person_id = linked_customer(hub, "pipedrive", store, key, "Helena Duarte", "251849376")
    capture.take(lambda p: True, timeout_s=5)  # the create's own webhook: not this test's subject
    version = erp_record(hub, store, customer["id"])["version"]
    # Given one change in Pipedrive, delivered once
    pd_person_edit(hub, person_id, {"name": "Helena Duarte Reis"})
    [delivery] = capture.take(pd_change_of(person_id, "app"))
    first = deliver(hub, "pipedrive", store, delivery)
    assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0}, first.text
    assert hub.wait_idle(60)
    assert erp_record(hub, store, customer["id"])["name"] == "Helena Duarte Reis"
    assert erp_record(hub, store, customer["id"])["version"] == version + 1
    # When Pipedrive delivers it again (a retry after a lost acknowledgement)
    second = deliver(hub, "pipedrive", store, delivery)
    # Then it is acknowledged, recognised as a duplicate and not applied again
    assert second.status_code == 200 and second.json() == {"accepted": 0, "duplicates": 1}, second.text
    assert hub.wait_idle(60)
    assert erp_record(hub, store, customer["id"])["version"] == version + 1
    assert event_status(hub, f"pipedrive:{delivery.json['meta']['id']}") == "processed"
    assert len(erp_customers_named(hub, store, "Helena Duarte")) == 1


def test_pipedrive_newest_first_keeps_the_newest(hub, capture, pipedrive):
    store, key = pipedrive
    customer, person_id = linked_customer(hub, "pipedrive", store, key, "Igor Mendes", "318274659")
    capture.take(lambda p: True, timeout_s=5)
    version = erp_record(hub, store, customer["id"])["version"]
    # Given two edits of the same person: v1, then v2 (later meta.timestamp)
    pd_person_edit(hub, person_id, {"name": "Igor Mendes v1"})
    [v1] = capture.take(pd_change_of(person_id, "app"))
    time.sleep(0.05)
    pd_person_edit(hub, person_id, {"name": "Igor Mendes v2", "emails": [{"value": "igor.v2@example.com"}]})
    [v2] = capture.take(pd_change_of(person_id, "app"))
    assert v2.json["meta"]["timestamp"] > v1.json["meta"]["timestamp"]
    # When they arrive newest first
    assert deliver(hub, "pipedrive", store, v2).status_code == 200
    assert hub.wait_idle(60)
    assert deliver(hub, "pipedrive", store, v1).status_code == 200
    assert hub.wait_idle(60)
    # Then the ERP ends with v2 (written once), and Pipedrive was not rolled back either
    final = erp_record(hub, store, customer["id"])
    assert (final["name"], final["email"]) == ("Igor Mendes v2", "igor.v2@example.com")
    assert final["version"] == version + 1
    person = httpx.get(f"{hub.simulators['pipedrive']}/api/v2/persons/{person_id}", headers=PD_TOKEN).json()["data"]
    assert person["name"] == "Igor Mendes v2"
    assert event_status(hub, f"pipedrive:{v1.json['meta']['id']}") == "processed"


def test_pipedrive_echo_of_our_own_write_changes_nothing(hub, capture, pipedrive):
    store, key = pipedrive
    customer, person_id = linked_customer(hub, "pipedrive", store, key, "Júlia Prates", "402918375")
    [created_echo] = capture.take(
        lambda p: p["meta"]["entity_id"] == str(person_id) and p["meta"]["action"] == "create"
    )
    # Given the ERP renames the customer, and the hub writes that to Pipedrive
    assert erp(hub, store).patch(f"/customers/{customer['id']}", json={"name": "Júlia Prates Lins"}).status_code == 200
    assert hub.wait_idle(60)
    [update_echo] = capture.take(pd_change_of(person_id, "api"))
    assert update_echo.json["data"]["name"] == "Júlia Prates Lins"
    before = erp_record(hub, store, customer["id"])
    # When Pipedrive's webhooks for the hub's own writes (the create and the update) come back
    for echo in (created_echo, update_echo):
        response = deliver(hub, "pipedrive", store, echo)
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
        assert hub.wait_idle(60)
    # Then nothing is written to the ERP, no customer is created there, no conflict is opened
    after = erp_record(hub, store, customer["id"])
    assert after["version"] == before["version"] and after["name"] == "Júlia Prates Lins"
    assert len(erp_customers_named(hub, store, "Júlia Prates")) == 1
    assert conflicts_of(hub, store, key, customer["id"]) == []
    for echo in (created_echo, update_echo):
        assert event_status(hub, f"pipedrive:{echo.json['meta']['id']}") == "processed"


# ------------------------------------------------------------------------ Bling


def bling_edit(hub, contato_id: str, **changes: Any) -> None:
    simulator = hub.simulators["bling"]
    current = httpx.get(f"{simulator}/Api/v3/contatos/{contato_id}", headers=BLING_BEARER).json()["data"]
    response = httpx.put(f"{simulator}/Api/v3/contatos/{contato_id}", headers=BLING_BEARER, json={**current, **changes})
    assert response.status_code in (200, 204), response.text


def bling_event(contato_id: str, event: str = "contact.updated"):
    return lambda p: p.get("event") == event and str((p.get("data") or {}).get("id")) == str(contato_id)


def test_bling_duplicate_signed_delivery_is_applied_once(hub, capture, bling):
    store, key = bling
    customer, contato_id = linked_customer(hub, "bling", store, key, "Karina Lopes", "513627480")
    capture.take(lambda p: True, timeout_s=5)
    version = erp_record(hub, store, customer["id"])["version"]
    bling_edit(hub, contato_id, nome="Karina Lopes Dias")
    [delivery] = capture.take(bling_event(contato_id))
    assert "x-bling-signature-256" in delivery.headers
    first = deliver(hub, "bling", store, delivery)
    assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0}, first.text
    assert hub.wait_idle(60)
    assert erp_record(hub, store, customer["id"])["name"] == "Karina Lopes Dias"
    second = deliver(hub, "bling", store, delivery)
    assert second.status_code == 200 and second.json() == {"accepted": 0, "duplicates": 1}, second.text
    assert hub.wait_idle(60)
    assert erp_record(hub, store, customer["id"])["version"] == version + 1
    # A tampered copy of it is refused and changes nothing
    forged = Delivery(delivery.headers, delivery.body.replace(b"contact.updated", b"contact.deleted"))
    assert deliver(hub, "bling", store, forged).status_code == 401
    assert hub.wait_idle(60)
    assert erp_record(hub, store, customer["id"])["active"] is True


def test_bling_newest_first_keeps_the_newest(hub, capture, bling):
    store, key = bling
    customer, contato_id = linked_customer(hub, "bling", store, key, "Lauro Tavares", "624738591")
    capture.take(lambda p: True, timeout_s=5)
    version = erp_record(hub, store, customer["id"])["version"]
    bling_edit(hub, contato_id, nome="Lauro Tavares v1")
    [v1] = capture.take(bling_event(contato_id))
    time.sleep(1.1)  # Bling stamps webhooks in whole seconds
    bling_edit(hub, contato_id, nome="Lauro Tavares v2")
    [v2] = capture.take(bling_event(contato_id))
    assert v2.json["date"] > v1.json["date"]
    assert deliver(hub, "bling", store, v2).status_code == 200
    assert hub.wait_idle(60)
    assert deliver(hub, "bling", store, v1).status_code == 200
    assert hub.wait_idle(60)
    final = erp_record(hub, store, customer["id"])
    assert final["name"] == "Lauro Tavares v2" and final["version"] == version + 1


def test_bling_echo_of_our_own_write_changes_nothing(hub, capture, bling):
    store, key = bling
    customer, contato_id = linked_customer(hub, "bling", store, key, "Mirela Campos", "735849602")
    [created_echo] = capture.take(bling_event(contato_id, "contact.created"))
    assert erp(hub, store).patch(f"/customers/{customer['id']}", json={"name": "Mirela Campos Luz"}).status_code == 200
    assert hub.wait_idle(60)
    [update_echo] = capture.take(bling_event(contato_id))
    before = erp_record(hub, store, customer["id"])
    for echo in (created_echo, update_echo):
        assert deliver(hub, "bling", store, echo).status_code == 200
        assert hub.wait_idle(60)
    after = erp_record(hub, store, customer["id"])
    assert after["version"] == before["version"] and after["name"] == "Mirela Campos Luz"
    assert len(erp_customers_named(hub, store, "Mirela Campos")) == 1
    assert conflicts_of(hub, store, key, customer["id"]) == []
