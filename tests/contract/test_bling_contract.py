"""Bling contract: every request BlingProvider builds and every answer the Bling simulator
gives is checked against the Bling API v3 spec (error bodies included)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openapi_core.validation.request.exceptions import RequestValidationError
from openapi_core.validation.response.exceptions import ResponseValidationError

from crmhub.errors import ProviderRejected
from crmhub.models import Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.bling import BlingProvider, contacts
from local.simulators import BlingConfig, ControlSettings, make_bling_app

pytestmark = pytest.mark.contract

BLING_BASE = "https://api.bling.com.br/Api/v3"  # the spec's server (reached over a WSGI transport)
Contract = RecordingTransport = Any  # fixtures from conftest.py (see it for the spec patches)
TOKEN = "bling-access-token"


@pytest.fixture
def app() -> Any:
    return make_bling_app(BlingConfig(controls=ControlSettings(rate_limit_enabled=False)))


@pytest.fixture
def recorder(record: Any, app: Any) -> RecordingTransport:
    return record(app)


@pytest.fixture
def provider(recorder: RecordingTransport) -> Iterator[BlingProvider]:
    client = BlingProvider({"access_token": TOKEN}, transport=recorder, page_size=2)
    yield client
    client.close()


def _template(exchange: Any) -> str:
    parts = ["{id}" if p.isdigit() else p for p in exchange.request.url.path.split("/")]
    return f"{exchange.request.method} {'/'.join(parts)}"


def test_every_request_and_answer_of_a_full_workflow_matches_the_spec(
    provider: BlingProvider, recorder: RecordingTransport, bling_contract: Contract
) -> None:
    # Given a workflow that touches every operation the provider uses
    pf = Customer(
        id="c1",
        name="João Silva",
        email="joao@example.com",
        document="52998224725",
        phones=["11999998888", "1133334444"],
        birth_date="1990-05-01",
        address={"street": "Rua A", "number": "10", "city": "São Paulo", "state": "SP", "zip": "01001000"},
    )
    pj = Customer(id="c2", name="ACME Ltda", trade_name="ACME", document="11222333000181")
    named = Customer(id="c3", name="Maria Souza")
    ids = {}
    for record in (pf, pj, named):
        ids[record.id] = provider.create(Entity.CUSTOMER, record, References(), intent_id="i").external_id
    caneta = provider.create(
        Entity.PRODUCT,
        Product(id="p1", sku="CAN-1", name="Caneta", price="2.50", cost="1", unit="UN"),
        References(),
        intent_id="i",
    )
    lapis = provider.create(Entity.PRODUCT, Product(id="p2", name="Lápis", price="1"), References(), intent_id="i")
    refs = References(
        {
            (Entity.CUSTOMER, "c1"): ids["c1"],
            (Entity.PRODUCT, "p1"): caneta.external_id,
            (Entity.PRODUCT, "p2"): lapis.external_id,
        }
    )
    sale = Sale(
        id="v1",
        customer_id="c1",
        date="2026-03-01",
        status="confirmed",
        notes="entregar cedo",
        items=[{"product_id": "p1", "quantity": 2, "unit_price": "2.50"}],
    )
    order = provider.create(Entity.SALE, sale, refs, intent_id="i")
    provider.update(
        Entity.SALE,
        order.external_id,
        Sale(
            id="v1",
            customer_id="c1",
            date="2026-03-01",
            status="cancelled",
            items=[{"product_id": "p2", "quantity": 1, "unit_price": "1", "description": "Lápis HB"}],
        ),
        refs,
    )
    provider.update(Entity.CUSTOMER, ids["c1"], pf.model_copy(update={"name": "João S."}), References())
    provider.update(
        Entity.PRODUCT,
        caneta.external_id,
        Product(id="p1", sku="CAN-1", name="Caneta azul", price="2.75"),
        References(),
    )
    for entity, record in (
        (Entity.CUSTOMER, pf),
        (Entity.CUSTOMER, named),
        (Entity.PRODUCT, Product(sku="CAN-1", name="x")),
        (Entity.PRODUCT, Product(name="Lápis")),
        (Entity.SALE, sale),
        (Entity.SALE, Sale(id="v9", customer_id="c1", date="2026-03-01")),
    ):
        provider.find_existing(entity, record, intent_id="again", refs=refs)
    long_ago = datetime.now(UTC) - timedelta(days=800)  # three ≤ 1-year windows
    for entity in (Entity.CUSTOMER, Entity.PRODUCT, Entity.SALE):
        for lister in (
            lambda c, e=entity: provider.list_page(e, c),
            lambda c, e=entity: provider.list_changed(e, long_ago, c),
        ):
            cursor: str | None = None
            while True:
                cursor = lister(cursor).next_cursor
                if cursor is None:
                    break
    provider.deactivate(Entity.CUSTOMER, ids["c3"], None)
    provider.deactivate(Entity.PRODUCT, lapis.external_id, None)
    provider.deactivate(Entity.SALE, order.external_id, None)
    provider.delete(Entity.SALE, order.external_id)
    provider.delete(Entity.PRODUCT, lapis.external_id)
    provider.delete(Entity.CUSTOMER, ids["c3"])
    assert provider.get(Entity.CUSTOMER, ids["c3"]) is None  # a 404 answer, checked too
    assert provider.test_connection().ok

    # When every recorded exchange is validated against the spec
    checked = bling_contract.check_all(recorder)

    # Then nothing violates it, and the workflow covered the operations we use
    operations = {_template(e) for e in recorder.in_spec()}
    expected = {
        "POST /Api/v3/contatos",
        "GET /Api/v3/contatos",
        "GET /Api/v3/contatos/{id}",
        "PUT /Api/v3/contatos/{id}",
        "PATCH /Api/v3/contatos/{id}/situacoes",
        "DELETE /Api/v3/contatos/{id}",
        "POST /Api/v3/produtos",
        "GET /Api/v3/produtos",
        "GET /Api/v3/produtos/{id}",
        "PATCH /Api/v3/produtos/{id}",
        "PATCH /Api/v3/produtos/{id}/situacoes",
        "DELETE /Api/v3/produtos/{id}",
        "POST /Api/v3/pedidos/vendas",
        "GET /Api/v3/pedidos/vendas",
        "GET /Api/v3/pedidos/vendas/{id}",
        "PUT /Api/v3/pedidos/vendas/{id}",
        "PATCH /Api/v3/pedidos/vendas/{id}/situacoes/{id}",
        "DELETE /Api/v3/pedidos/vendas/{id}",
    }
    assert expected <= operations, expected - operations
    assert checked == len(list(recorder.in_spec())) > 50


def test_error_answers_match_the_spec(recorder: RecordingTransport, app: Any, bling_contract: Contract) -> None:
    # Given requests that fail in each documented way
    client = httpx.Client(base_url=BLING_BASE, transport=recorder, headers={"authorization": f"Bearer {TOKEN}"})
    invalid = client.post("/contatos", json={"nome": "", "situacao": "A", "tipo": "F"})  # 400 (spec-valid request)
    missing = client.get("/contatos/999")  # 404
    unauthorized = client.get("/contatos", headers={"authorization": "Bearer expired"})  # 401
    app.extensions["simulator"].controls.update({"rate_limit_enabled": True, "rate_limit": 3})
    limited = [client.get("/produtos", params={"pagina": 1, "limite": 1}) for _ in range(5)][-1]  # 429
    # Then declared statuses validate against their operation…
    assert (invalid.status_code, missing.status_code) == (400, 404)
    assert invalid.json()["error"]["fields"][0]["element"] == "nome"
    for response in (invalid, missing):
        assert bling_contract.check_response(response.request, response)
    # …and undeclared ones (429, 401) against the spec's ErrorResponse schema
    assert (limited.status_code, unauthorized.status_code) == (429, 401)
    for response in (limited, unauthorized):
        assert bling_contract.schema_errors("ErrorResponse", response.json()) == []
    assert limited.json()["error"]["type"] == "TOO_MANY_REQUESTS"


# --------------------------------------------------------------------------- negative cases


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"situacao": "A", "tipo": "F"}, "'nome' is a required property"),
        ({"nome": "Ana", "situacao": "A", "tipo": "X"}, "'X' is not one of"),
        ({"nome": "Ana", "situacao": "A", "tipo": "F", "id": 7}, "read-only"),
    ],
)
def test_spec_rejects_a_wrong_contato(bling_contract: Contract, body: dict[str, Any], problem: str) -> None:
    request = httpx.Request("POST", f"{BLING_BASE}/contatos", headers={"authorization": "Bearer t"}, json=body)
    with pytest.raises(RequestValidationError) as caught:
        bling_contract.check_request(request)
    assert problem in repr(caught.value.__cause__)


def test_a_client_that_builds_a_wrong_body_fails_the_contract_check(
    provider: BlingProvider, recorder: RecordingTransport, bling_contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a regression in the contact transform (an invalid person type)…
    original = contacts.to_provider
    monkeypatch.setattr(contacts, "to_provider", lambda customer: {**original(customer), "tipo": "PF"})
    # …sent through the client (the simulator refuses it too, but a lenient server might not)
    with pytest.raises(ProviderRejected):
        provider.create(Entity.CUSTOMER, Customer(id="c1", name="Ana"), References(), intent_id="i")
    # Then the contract suite catches the request
    with pytest.raises(RequestValidationError):
        bling_contract.check_all(recorder, responses=False)


def test_spec_rejects_an_answer_missing_required_fields(bling_contract: Contract) -> None:
    request = httpx.Request("GET", f"{BLING_BASE}/contatos/1", headers={"authorization": "Bearer t"})
    response = httpx.Response(200, json={"data": {"id": 1, "nome": "Ana"}}, request=request)  # no situacao/tipo
    with pytest.raises(ResponseValidationError):
        bling_contract.check_response(request, response)


def test_spec_patches_still_apply(bling_contract: Contract) -> None:
    assert [p.split()[0] for p in bling_contract.patches] == ["B1", "B2", "B3", "B4", "B4", "B4", "B4", "B5"]
