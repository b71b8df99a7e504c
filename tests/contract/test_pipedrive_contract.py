"""Pipedrive contract: every request PipedriveProvider builds and every answer the Pipedrive
simulator gives is checked against the official API v2 spec."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openapi_core.validation.request.exceptions import RequestValidationError
from openapi_core.validation.response.exceptions import ResponseValidationError

from crmhub.errors import ProviderRejected
from crmhub.models import Activity, Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.pipedrive import PipedriveProvider, persons, register_webhooks
from local.simulators import ControlSettings, PipedriveConfig, make_pipedrive_app

pytestmark = pytest.mark.contract

PIPEDRIVE_BASE = "https://api.pipedrive.com/api/v2"  # the spec's server (reached over a WSGI transport)
Contract = RecordingTransport = Any  # fixtures from conftest.py (see it for the spec patches)

KEY = "0123456789abcdef0123456789abcdef0123"  # 36 chars: + 4 below = a 40-char custom-field key
CREDENTIALS = {
    "api_token": "pd-api-token",
    "custom_fields": {
        "person": {"document": KEY + "pdoc", "hub_id": KEY + "phub", "extra": KEY + "pext"},
        "organization": {"document": KEY + "odoc", "hub_id": KEY + "ohub", "extra": KEY + "oext"},
        "product": {"hub_id": KEY + "rhub", "extra": KEY + "rext"},
        "deal": {"hub_id": KEY + "dhub", "extra": KEY + "dext"},
    },
}


@pytest.fixture
def recorder(record: Any) -> RecordingTransport:
    return record(make_pipedrive_app(PipedriveConfig(controls=ControlSettings(rate_limit_enabled=False))))


@pytest.fixture
def provider(recorder: RecordingTransport) -> Iterator[PipedriveProvider]:
    client = PipedriveProvider(CREDENTIALS, base_url=PIPEDRIVE_BASE, transport=recorder, page_size=2)
    yield client
    client.close()


def _template(exchange: Any) -> str:
    parts = ["{id}" if p.isdigit() else p for p in exchange.request.url.path.split("/")]
    return f"{exchange.request.method} {'/'.join(parts)}"


def test_every_request_and_answer_of_a_full_workflow_matches_the_spec(
    provider: PipedriveProvider, recorder: RecordingTransport, pipedrive_contract: Contract
) -> None:
    # Given a workflow that touches every operation the provider uses
    pf = Customer(
        id="c1",
        name="João Silva",
        email="joao@example.com",
        document="52998224725",
        phones=["11999998888"],
        birth_date="1990-05-01",
        notes="cliente antigo",
    )
    pj = Customer(
        id="c2",
        name="ACME Ltda",
        document="11222333000181",
        email="compras@acme.example",
        address={"street": "Av. Paulista", "number": "1000", "city": "São Paulo", "state": "SP", "zip": "01310-100"},
    )
    person = provider.create(Entity.CUSTOMER, pf, References(), intent_id="i1")
    company = provider.create(Entity.CUSTOMER, pj, References(), intent_id="i2")
    product = provider.create(
        Entity.PRODUCT, Product(id="p1", sku="CAN-1", name="Caneta", price="2.50"), References(), intent_id="i3"
    )
    other = provider.create(
        Entity.PRODUCT, Product(id="p2", sku="LAP-1", name="Lápis", price="1"), References(), intent_id="i4"
    )
    refs = References(
        {
            (Entity.CUSTOMER, "c1"): person.external_id,
            (Entity.CUSTOMER, "c2"): company.external_id,
            (Entity.PRODUCT, "p1"): product.external_id,
            (Entity.PRODUCT, "p2"): other.external_id,
        }
    )
    sale = Sale(
        id="v1", customer_id="c2", date="2026-03-01", items=[{"product_id": "p1", "quantity": 2, "unit_price": "2.50"}]
    )
    deal = provider.create(Entity.SALE, sale, refs, intent_id="i5")
    changed = Sale(
        id="v1",
        customer_id="c2",
        date="2026-03-01",
        status="confirmed",
        items=[
            {"product_id": "p2", "quantity": 3, "unit_price": "1"},
            {"product_id": "p1", "quantity": 1, "unit_price": "2.50"},
        ],
    )
    provider.update(Entity.SALE, deal.external_id, changed, refs)
    activity = provider.create(
        Entity.ACTIVITY,
        Activity(id="a1", customer_id="c1", type="call", subject="Ligar", due_at="2026-03-02T14:30:00Z"),
        refs,
        intent_id="i6",
    )
    provider.update(Entity.CUSTOMER, person.external_id, pf.model_copy(update={"name": "João S."}), References())
    provider.update(Entity.CUSTOMER, company.external_id, pj.model_copy(update={"trade_name": "ACME"}), References())
    provider.update(
        Entity.PRODUCT,
        product.external_id,
        Product(id="p1", sku="CAN-1", name="Caneta azul", price="2.75"),
        References(),
    )
    provider.update(
        Entity.ACTIVITY, activity.external_id, Activity(id="a1", customer_id="c1", subject="Ligar", done=True), refs
    )
    for entity, record in (
        (Entity.CUSTOMER, pf),
        (Entity.CUSTOMER, pj),
        (Entity.PRODUCT, Product(id="p2", sku="LAP-1", name="Lápis")),
        (Entity.SALE, sale),
        (Entity.ACTIVITY, Activity(id="a1", customer_id="c1", subject="x")),
    ):
        assert provider.find_existing(entity, record, intent_id="again", refs=refs) is not None
    since = datetime.now(UTC) - timedelta(hours=1)
    for entity in Entity:
        for lister in (
            lambda c, e=entity: provider.list_page(e, c),
            lambda c, e=entity: provider.list_changed(e, since, c),
        ):
            cursor: str | None = None
            while True:
                page = lister(cursor)
                cursor = page.next_cursor
                if cursor is None:
                    break
    for entity, external in (
        (Entity.CUSTOMER, person.external_id),
        (Entity.CUSTOMER, company.external_id),
        (Entity.PRODUCT, product.external_id),
        (Entity.SALE, deal.external_id),
        (Entity.ACTIVITY, activity.external_id),
    ):
        assert provider.get(entity, external) is not None
    provider.deactivate(Entity.CUSTOMER, person.external_id, None)
    provider.deactivate(Entity.SALE, deal.external_id, None)
    register_webhooks(provider, "https://hub.example/webhooks/pipedrive/s1", "hub", "s3cret")
    for entity, external in (
        (Entity.ACTIVITY, activity.external_id),
        (Entity.SALE, deal.external_id),
        (Entity.CUSTOMER, company.external_id),
        (Entity.PRODUCT, other.external_id),
    ):
        provider.delete(entity, external)
    assert provider.get(Entity.CUSTOMER, company.external_id) is None  # a 404 answer, checked too
    assert provider.test_connection().ok

    # When every recorded exchange is validated against the spec
    checked = pipedrive_contract.check_all(recorder)

    # Then nothing violates it, and the workflow really covered the operations we use
    operations = {_template(e) for e in recorder.in_spec()}
    expected = {
        "POST /api/v2/persons",
        "PATCH /api/v2/persons/{id}",
        "GET /api/v2/persons/{id}",
        "GET /api/v2/persons",
        "DELETE /api/v2/persons/{id}",
        "GET /api/v2/persons/search",
        "POST /api/v2/organizations",
        "PATCH /api/v2/organizations/{id}",
        "GET /api/v2/organizations/{id}",
        "GET /api/v2/organizations",
        "DELETE /api/v2/organizations/{id}",
        "GET /api/v2/organizations/search",
        "POST /api/v2/products",
        "PATCH /api/v2/products/{id}",
        "GET /api/v2/products/{id}",
        "GET /api/v2/products",
        "DELETE /api/v2/products/{id}",
        "GET /api/v2/products/search",
        "POST /api/v2/deals",
        "PATCH /api/v2/deals/{id}",
        "GET /api/v2/deals/{id}",
        "GET /api/v2/deals",
        "DELETE /api/v2/deals/{id}",
        "GET /api/v2/deals/search",
        "GET /api/v2/deals/products",
        "GET /api/v2/deals/{id}/products",
        "POST /api/v2/deals/{id}/products",
        "PATCH /api/v2/deals/{id}/products/{id}",
        "POST /api/v2/activities",
        "PATCH /api/v2/activities/{id}",
        "GET /api/v2/activities/{id}",
        "GET /api/v2/activities",
        "DELETE /api/v2/activities/{id}",
    }
    assert expected <= operations, expected - operations
    assert checked == len(list(recorder.in_spec())) > 60
    assert any(e.outside_spec for e in recorder.exchanges)  # the v1 webhooks calls


def test_simulator_answers_to_list_filters_and_searches_match_the_spec(
    recorder: RecordingTransport, pipedrive_contract: Contract
) -> None:
    # Given a simulator with a few records, called directly with the filters the spec lists
    client = httpx.Client(base_url=PIPEDRIVE_BASE, transport=recorder, headers={"x-api-token": "pd-api-token"})
    org = client.post("/organizations", json={"name": "ACME", "address": {"value": "Av. Paulista, 1000"}}).json()
    person = client.post(
        "/persons",
        json={"name": "Ana", "org_id": org["data"]["id"], "emails": [{"value": "ana@acme.example", "primary": True}]},
    ).json()
    product = client.post(
        "/products", json={"name": "Caneta", "code": "CAN-1", "prices": [{"price": 2.5, "currency": "BRL"}]}
    ).json()
    deal = client.post("/deals", json={"title": "Venda 1", "org_id": org["data"]["id"]}).json()
    client.post(
        f"/deals/{deal['data']['id']}/products",
        json={"product_id": product["data"]["id"], "item_price": 2.5, "quantity": 4},
    )
    client.post(
        "/activities",
        json={
            "subject": "Visita",
            "type": "meeting",
            "person_id": person["data"]["id"],
            "due_date": "2026-03-01",
            "due_time": "10:00",
        },
    )
    # When lists, filters, sorts and searches are asked for
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.get("/persons", params={"org_id": org["data"]["id"], "updated_since": since, "limit": 1})
    client.get("/organizations", params={"sort_by": "update_time", "sort_direction": "desc"})
    client.get("/products", params={"sort_by": "update_time", "sort_direction": "desc", "limit": 500})
    client.get("/deals", params={"status": "open", "updated_since": since})
    client.get("/deals/products", params={"deal_ids": [deal["data"]["id"]]})
    client.get("/activities", params={"person_id": person["data"]["id"], "done": "false"})
    client.get("/persons/search", params={"term": "ana@acme.example", "fields": "email", "exact_match": "true"})
    client.get("/organizations/search", params={"term": "ACME", "fields": "name"})
    client.get("/products/search", params={"term": "CAN-1", "fields": "code", "exact_match": "true"})
    client.get("/deals/search", params={"term": "Venda", "organization_id": org["data"]["id"]})
    # Then every request and answer is in the spec
    assert pipedrive_contract.check_all(recorder) == len(recorder.exchanges) == 16
    assert all(e.response.status_code < 300 for e in recorder.exchanges)


# --------------------------------------------------------------------------- negative cases


def test_spec_rejects_a_person_with_emails_as_a_string(pipedrive_contract: Contract) -> None:
    # Given a request a buggy client could send
    request = httpx.Request(
        "POST",
        f"{PIPEDRIVE_BASE}/persons",
        headers={"x-api-token": "t"},
        json={"name": "Ana", "emails": "ana@example.com"},
    )
    # Then the contract check refuses it
    with pytest.raises(RequestValidationError, match="not of type 'array'"):
        pipedrive_contract.check_request(request)


def test_a_client_that_builds_a_wrong_body_fails_the_contract_check(
    provider: PipedriveProvider,
    recorder: RecordingTransport,
    pipedrive_contract: Contract,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a regression in the person transform (e-mails flattened to a string)…
    original = persons.contact_payload

    def broken(customer: Customer) -> dict[str, Any]:
        return {**original(customer), "emails": customer.email}

    monkeypatch.setattr(persons, "contact_payload", broken)
    # …sent through the client (the simulator refuses it too, but a lenient server might not)
    with pytest.raises(ProviderRejected):
        provider.create(
            Entity.CUSTOMER, Customer(id="c1", name="Ana", email="ana@example.com"), References(), intent_id="i"
        )
    # Then the contract suite catches the request
    with pytest.raises(RequestValidationError):
        pipedrive_contract.check_all(recorder, responses=False)


def test_spec_rejects_a_request_without_credentials(pipedrive_contract: Contract) -> None:
    request = httpx.Request("GET", f"{PIPEDRIVE_BASE}/persons")
    with pytest.raises(AssertionError, match="without credentials"):
        pipedrive_contract.check_request(request)


def test_spec_rejects_an_answer_with_a_string_id(pipedrive_contract: Contract) -> None:
    # Given an answer a buggy simulator could give
    request = httpx.Request("GET", f"{PIPEDRIVE_BASE}/persons/1", headers={"x-api-token": "t"})
    response = httpx.Response(200, json={"success": True, "data": {"id": "1", "name": "Ana"}}, request=request)
    # Then the contract check refuses it
    with pytest.raises(ResponseValidationError):
        pipedrive_contract.check_response(request, response)


def test_spec_patches_still_apply(pipedrive_contract: Contract) -> None:
    # Every documented patch was needed (each asserts the bug it fixes is still there)
    assert [p.split()[0] for p in pipedrive_contract.patches] == ["P1", "P1", "P2", "P3", "P4"]
