"""BlingProvider: pagination end conditions, ≤ 1-year change windows, error mapping,
refresh-once on 401, PUT that keeps Bling-only data, statuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmhub.errors import AuthenticationFailed, NotFound, ProviderRejected, RateLimited, TransientError
from crmhub.models import Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.bling import BlingProvider
from crmhub.providers.bling.client import MAX_WINDOW, brt
from local.simulators import BlingConfig, ControlSettings, make_bling_app

TOKEN = "bling-access-token"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeLimiter:
    def __init__(self) -> None:
        self.costs: list[int] = []
        self.throttles: list[float] = []

    def acquire(self, cost: int = 1) -> float:
        self.costs.append(cost)
        return 0.0

    def throttle(self, retry_after_s: float) -> None:
        self.throttles.append(retry_after_s)


class FakeTokens:
    def __init__(self, fresh: str = "new") -> None:
        self.fresh = fresh
        self.refreshed: list[str] = []

    def access_token(self) -> str:
        return "old"

    def refresh(self, stale_token: str) -> str:
        self.refreshed.append(stale_token)
        return self.fresh


@pytest.fixture
def sim() -> Any:
    return make_bling_app(BlingConfig(controls=ControlSettings(rate_limit_enabled=False)))


def sim_provider(app: Any, **kwargs: Any) -> BlingProvider:
    return BlingProvider({"access_token": TOKEN}, transport=httpx.WSGITransport(app=app), **kwargs)


def mock_provider(handler: Handler, **kwargs: Any) -> BlingProvider:
    kwargs.setdefault("tokens", FakeTokens())
    return BlingProvider({"access_token": "old"}, transport=httpx.MockTransport(handler), **kwargs)


def bling_error(status: int, kind: str, fields: list[dict[str, Any]] | None = None) -> httpx.Response:
    error: dict[str, Any] = {"type": kind, "message": kind.lower(), "description": f"{kind} happened"}
    if fields:
        error["fields"] = fields
    return httpx.Response(status, json={"error": error})


def seed(app: Any, resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = app.test_client().post(f"/_sim/records/{resource}", json=records)
    assert response.status_code == 201, response.json
    return response.json["data"]


def contato(nome: str, **extra: Any) -> dict[str, Any]:
    return {"nome": nome, "tipo": "F", "situacao": "A", **extra}


# --------------------------------------------------------------------------- pagination


@pytest.mark.parametrize(("count", "pages"), [(3, [2, 1]), (4, [2, 2, 0]), (0, [0])])
def test_listing_ends_on_a_short_or_empty_page(sim: Any, count: int, pages: list[int]) -> None:
    seed(sim, "contatos", [contato(f"C{i}") for i in range(count)])
    provider = sim_provider(sim, page_size=2)
    sizes, cursor = [], None
    while True:
        page = provider.list_page(Entity.CUSTOMER, cursor)
        sizes.append(len(page.items))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sizes == pages


def test_list_rows_are_hydrated_to_full_records(sim: Any) -> None:
    seed(sim, "contatos", [contato("Ana", email="ana@example.com")])
    [item] = sim_provider(sim).list_page(Entity.CUSTOMER).items
    assert item.record.email == "ana@example.com"  # not in the list row: came from GET /contatos/{id}


def test_change_windows_never_exceed_a_year() -> None:
    # Given an import 800 days behind
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    since = now - timedelta(days=800)
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"data": []})

    provider = mock_provider(handler, clock=lambda: now)
    cursor, pages = None, 0
    while True:
        cursor = provider.list_changed(Entity.PRODUCT, since, cursor).next_cursor
        pages += 1
        if cursor is None:
            break
    # Then three windows were asked for, each ≤ 1 year, the last one open-ended
    assert pages == 3
    assert [p["dataAlteracaoInicial"] for p in seen] == [
        brt(since),
        brt(since + MAX_WINDOW),
        brt(since + 2 * MAX_WINDOW),
    ]
    assert [p.get("dataAlteracaoFinal") for p in seen] == [brt(since + MAX_WINDOW), brt(since + 2 * MAX_WINDOW), None]


def test_a_full_page_stays_in_its_window(sim: Any) -> None:
    seed(sim, "produtos", [{"nome": f"P{i}", "tipo": "P", "situacao": "A", "formato": "S"} for i in range(3)])
    provider = sim_provider(sim, page_size=2)
    since = datetime.now(UTC) - timedelta(minutes=1)
    first = provider.list_changed(Entity.PRODUCT, since, None)
    assert len(first.items) == 2 and first.next_cursor == f"{since.isoformat()}|2"
    second = provider.list_changed(Entity.PRODUCT, since, first.next_cursor)
    assert len(second.items) == 1 and second.next_cursor is None
    assert provider.list_changed(Entity.PRODUCT, datetime.now(UTC) + timedelta(minutes=1)).items == []


def test_the_simulator_refuses_ranges_over_a_year(sim: Any) -> None:
    client = httpx.Client(
        transport=httpx.WSGITransport(app=sim),
        base_url="http://bling/Api/v3",
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    response = client.get(
        "/contatos", params={"dataAlteracaoInicial": "2024-01-01 00:00:00", "dataAlteracaoFinal": "2025-06-01 00:00:00"}
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "VALIDATION_ERROR"


# --------------------------------------------------------------------------- errors


def test_validation_error_is_permanent_with_the_field_messages() -> None:
    fields = [{"code": 49, "msg": "O nome do contato não pode ser vazio", "element": "nome", "namespace": "CONTATO"}]
    provider = mock_provider(lambda r: bling_error(400, "VALIDATION_ERROR", fields))
    with pytest.raises(ProviderRejected) as caught:
        provider.create(Entity.CUSTOMER, Customer(name="x"), References(), intent_id="i")
    assert caught.value.status == 400 and "nome: O nome do contato não pode ser vazio" in caught.value.message
    assert caught.value.details["type"] == "VALIDATION_ERROR" and caught.value.details["fields"] == fields


def test_not_found() -> None:
    provider = mock_provider(lambda r: bling_error(404, "RESOURCE_NOT_FOUND"))
    assert provider.get(Entity.CUSTOMER, "1") is None
    provider.delete(Entity.CUSTOMER, "1")  # already gone
    with pytest.raises(NotFound):
        provider.update(Entity.CUSTOMER, "1", Customer(name="x"), References())


def test_rate_limit_is_transient_and_paces_everyone() -> None:
    limiter = FakeLimiter()
    body = {"error": {"type": "TOO_MANY_REQUESTS", "message": "x", "description": "y", "limit": 3, "period": "second"}}
    provider = mock_provider(lambda r: httpx.Response(429, json=body), limiter=limiter)
    with pytest.raises(RateLimited) as caught:
        provider.get(Entity.PRODUCT, "1")
    assert caught.value.retry_after == 1.0 and limiter.throttles == [1.0] and limiter.costs == [1]


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (500, "SERVER_ERROR", TransientError),
        (502, "UNKNOWN_ERROR", TransientError),
        (403, "FORBIDDEN", AuthenticationFailed),
    ],
)
def test_other_errors(status: int, kind: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        mock_provider(lambda r: bling_error(status, kind)).get(Entity.PRODUCT, "1")


def test_a_refused_token_is_refreshed_once_then_the_request_retried() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer old":
            return bling_error(401, "UNAUTHORIZED")
        return httpx.Response(200, json={"data": {"id": 1, "nome": "P", "situacao": "A"}})

    tokens = FakeTokens()
    assert mock_provider(handler, tokens=tokens).get(Entity.PRODUCT, "1") is not None
    assert seen == ["Bearer old", "Bearer new"] and tokens.refreshed == ["old"]


def test_a_token_still_refused_after_refresh_fails_the_connection() -> None:
    tokens = FakeTokens()
    with pytest.raises(AuthenticationFailed):
        mock_provider(lambda r: bling_error(401, "UNAUTHORIZED"), tokens=tokens).get(Entity.PRODUCT, "1")
    assert tokens.refreshed == ["old"]  # once, not in a loop


def test_a_client_that_cannot_store_tokens_never_refreshes(sim: Any) -> None:
    sim.extensions["simulator"].expire_tokens()
    with pytest.raises(AuthenticationFailed, match="cannot refresh"):
        sim_provider(sim).get(Entity.CUSTOMER, "1")
    assert sim.test_client().get("/_sim/tokens").json["refresh_tokens_used"] == 0


# --------------------------------------------------------------------------- writes


def test_put_keeps_what_only_bling_knows(sim: Any) -> None:
    [stored] = seed(
        sim,
        "contatos",
        [contato("Ana", ie="123", vendedor={"id": 7}, endereco={"cobranca": {"endereco": "Rua Cobrança"}})],
    )
    provider = sim_provider(sim)
    provider.update(Entity.CUSTOMER, stored["id"], Customer(id="c1", name="Ana Souza"), References())
    after = sim.extensions["simulator"].store.get("contatos", stored["id"])
    assert after["nome"] == "Ana Souza" and after["codigo"] == "c1"
    assert after["vendedor"] == {"id": 7} and after["endereco"]["cobranca"]["endereco"] == "Rua Cobrança"


def test_sale_status_goes_through_the_situacoes_endpoint(sim: Any) -> None:
    [cliente] = seed(sim, "contatos", [contato("Ana")])
    [produto] = seed(sim, "produtos", [{"nome": "Caneta", "tipo": "P", "situacao": "A", "formato": "S"}])
    refs = References({(Entity.CUSTOMER, "c1"): cliente["id"], (Entity.PRODUCT, "p1"): produto["id"]})
    provider = sim_provider(sim)
    sale = Sale(
        id="v1",
        customer_id="c1",
        date="2026-03-01",
        status="confirmed",
        items=[{"product_id": "p1", "quantity": 1, "unit_price": "2"}],
    )
    created = provider.create(Entity.SALE, sale, refs, intent_id="i")
    assert created.record.status == "confirmed"
    stored = sim.extensions["simulator"].store.get("pedidos_vendas", created.external_id)
    assert stored["situacao"] == {"id": 9, "valor": 1} and stored["itens"][0]["descricao"] == "Caneta"
    provider.deactivate(Entity.SALE, created.external_id, None)
    assert provider.get(Entity.SALE, created.external_id).record.status == "cancelled"  # type: ignore[union-attr]
    found = provider.find_existing(Entity.SALE, sale, intent_id="again", refs=refs)
    assert found is not None and found.external_id == created.external_id


def test_deactivate_and_find(sim: Any) -> None:
    provider = sim_provider(sim)
    product = provider.create(Entity.PRODUCT, Product(id="p1", sku="CAN-1", name="Caneta"), References(), intent_id="i")
    provider.deactivate(Entity.PRODUCT, product.external_id, None)
    assert provider.get(Entity.PRODUCT, product.external_id).record.active is False  # type: ignore[union-attr]
    assert provider.find_existing(Entity.PRODUCT, Product(sku="CAN-1", name="?"), intent_id="i") is not None
    assert provider.find_existing(Entity.PRODUCT, Product(sku="NOPE", name="?"), intent_id="i") is None


def test_requests_carry_the_bearer_token_and_json() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(201, json={"data": {"id": 1}})

    mock_provider(handler).create(Entity.PRODUCT, Product(name="Caneta"), References(), intent_id="i")
    assert requests[0].headers["authorization"] == "Bearer old"
    assert json.loads(requests[0].content)["nome"] == "Caneta"


# --------------------------------------------------------------------------- projection


def no_io(request: httpx.Request) -> httpx.Response:
    raise AssertionError("project() must not call Bling")


def test_projection_is_the_record_as_bling_keeps_it() -> None:
    provider = mock_provider(no_io)
    customer = Customer(
        id="c1", name="Ana", email="ana@example.com", phones=["11999998888", "11988887777"], notes="VIP"
    )
    projected = provider.project(Entity.CUSTOMER, customer)
    assert projected.id == "c1" and projected.notes is None and projected.phones == ["+5511999998888"]
    product = Product(id="p1", sku="CAN-1", name="Caneta", price="2.5", stock=3, color="blue")
    kept = provider.project(Entity.PRODUCT, product)
    assert kept.stock is None and kept.unmapped_fields() == {"color": "blue"} and kept.price == product.price
    sale = Sale(
        id="v1",
        customer_id="c-9",
        date="2026-01-01",
        status="confirmed",
        notes="n",
        items=[{"product_id": "p-1", "quantity": 2, "unit_price": "3"}],
    )
    assert provider.project(Entity.SALE, sale).comparable() == sale.comparable()
