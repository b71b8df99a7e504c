"""PipedriveProvider: token costs, rate-limit headers (429, HTML 403, daily budget), error
mapping, pagination end conditions, incremental import, OAuth refresh."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmhub.errors import AuthenticationFailed, NotFound, PermanentError, ProviderRejected, RateLimited, TransientError
from crmhub.models import Activity, Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.pipedrive import PipedriveProvider
from crmhub.providers.pipedrive.rate_limits import BACKOFF_PAGE_RETRY_S, seconds_until_daily_reset
from local.simulators import ControlSettings, PipedriveConfig, make_pipedrive_app

Handler = Callable[[httpx.Request], httpx.Response]


class FakeLimiter:
    """Records what the provider drew from, and told, the shared budget."""

    def __init__(self) -> None:
        self.costs: list[int] = []
        self.throttles: list[float] = []

    def acquire(self, cost: int = 1) -> float:
        self.costs.append(cost)
        return 0.0

    def throttle(self, retry_after_s: float) -> None:
        self.throttles.append(retry_after_s)


def provider_with(handler: Handler, limiter: FakeLimiter | None = None, **kwargs: Any) -> PipedriveProvider:
    return PipedriveProvider(
        {"api_token": "t", **kwargs.pop("credentials", {})},
        limiter=limiter,  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def ok(data: Any, next_cursor: str | None = None, status: int = 200, **headers: str) -> httpx.Response:
    body = {"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def sim() -> Any:
    return make_pipedrive_app(PipedriveConfig(controls=ControlSettings(rate_limit_enabled=False)))


def sim_provider(app: Any, limiter: FakeLimiter | None = None, **kwargs: Any) -> PipedriveProvider:
    return PipedriveProvider(
        {"api_token": "pd-api-token"},
        limiter=limiter,  # type: ignore[arg-type]
        transport=httpx.WSGITransport(app=app),
        **kwargs,
    )


# --------------------------------------------------------------------------- costs and limits


def test_each_operation_draws_its_token_cost(sim: Any) -> None:
    limiter = FakeLimiter()
    provider = sim_provider(sim, limiter)
    created = provider.create(Entity.CUSTOMER, Customer(id="c1", name="Ana"), References(), intent_id="i")
    provider.get(Entity.CUSTOMER, created.external_id)
    provider.update(Entity.CUSTOMER, created.external_id, Customer(id="c1", name="Ana B"), References())
    provider.list_page(Entity.PRODUCT)
    provider.delete(Entity.CUSTOMER, created.external_id)
    assert limiter.costs == [5, 1, 5, 10, 3]


def test_429_raises_rate_limited_with_the_reset_and_throttles_everyone() -> None:
    limiter = FakeLimiter()
    provider = provider_with(
        lambda r: httpx.Response(
            429,
            json={"success": False, "error": "Request over limit"},
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"},
        ),
        limiter,
    )
    with pytest.raises(RateLimited) as caught:
        provider.get(Entity.PRODUCT, "1")
    assert caught.value.retry_after == 2.0 and limiter.throttles == [2.0]


def test_html_403_is_the_backoff_page_not_bad_credentials() -> None:
    limiter = FakeLimiter()
    provider = provider_with(
        lambda r: httpx.Response(
            403, text="<!DOCTYPE html><html><body>Forbidden</body></html>", headers={"content-type": "text/html"}
        ),
        limiter,
    )
    with pytest.raises(RateLimited) as caught:
        provider.get(Entity.PRODUCT, "1")
    assert caught.value.retry_after == BACKOFF_PAGE_RETRY_S and limiter.throttles == [BACKOFF_PAGE_RETRY_S]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (403, {"success": False, "error": "Scope and URL mismatch"}, AuthenticationFailed),
        (401, {"success": False, "error": "unauthorized access"}, AuthenticationFailed),
        (400, {"success": False, "error": "Name must be given", "error_info": "see docs"}, ProviderRejected),
        (500, {"success": False, "error": "Internal"}, TransientError),
        (503, {"success": False, "error": "Unavailable"}, TransientError),
    ],
)
def test_error_mapping(status: int, body: dict[str, Any], error: type[Exception]) -> None:
    provider = provider_with(lambda r: httpx.Response(status, json=body))
    with pytest.raises(error) as caught:
        provider.create(Entity.PRODUCT, Product(name="x"), References(), intent_id="i")
    if status == 400:
        assert str(caught.value) == "Name must be given (see docs)"


def test_remaining_zero_on_a_success_paces_the_next_request() -> None:
    limiter = FakeLimiter()
    provider = provider_with(
        lambda r: ok({"id": 1, "name": "x"}, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}), limiter
    )
    assert provider.get(Entity.PRODUCT, "1") is not None
    assert limiter.throttles == [1.0] and provider.budget.remaining == 0


def test_daily_budget_exhausted_refuses_until_the_reset() -> None:
    # Given an answer saying the day's tokens are spent, at 22:00 UTC
    calls: list[str] = []
    limiter = FakeLimiter()
    now = datetime(2026, 5, 1, 22, 0, tzinfo=UTC).timestamp()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return ok({"id": 1, "name": "x"}, **{"x-daily-requests-left": "0"})

    provider = provider_with(handler, limiter, clock=lambda: now)
    provider.get(Entity.PRODUCT, "1")
    # When the next request comes
    with pytest.raises(RateLimited) as caught:
        provider.get(Entity.PRODUCT, "2")
    # Then it is refused locally (no HTTP call), for the two hours left, and everyone is told
    assert calls == ["/api/v2/products/1"]
    assert caught.value.retry_after == pytest.approx(7200)
    assert limiter.throttles == [pytest.approx(7200)]


def test_daily_reset_is_next_midnight_utc() -> None:
    assert seconds_until_daily_reset(datetime(2026, 5, 1, 23, 59, 30, tzinfo=UTC)) == 30


def test_simulator_daily_budget_answers_429_and_the_client_stops(sim: Any) -> None:
    sim.extensions["simulator"].set_tokens_left(0)
    provider = sim_provider(sim)
    with pytest.raises(RateLimited):
        provider.list_page(Entity.PRODUCT)
    assert provider.budget.blocked_for() > 0


# --------------------------------------------------------------------------- pagination


def test_customer_listing_walks_persons_then_organizations(sim: Any) -> None:
    # Given two PF persons, a company with its contact person
    provider = sim_provider(sim, page_size=1)
    for name in ("Ana", "Bia"):
        provider.create(Entity.CUSTOMER, Customer(id=name, name=name), References(), intent_id="i")
    company = provider.create(
        Entity.CUSTOMER,
        Customer(id="c", name="ACME", document="11222333000181", email="acme@example.com"),
        References(),
        intent_id="i",
    )
    # When every page is read
    pages, cursor = [], None
    while True:
        page = provider.list_page(Entity.CUSTOMER, cursor)
        pages.append([i.external_id for i in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    # Then persons come first (the contact is skipped: it belongs to the company), then organizations
    assert pages == [["1"], ["2"], [], [company.external_id]]
    assert company.external_id == "org:1" and company.record.email == "acme@example.com"


def test_last_page_is_the_one_without_next_cursor() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        seen.append(cursor)
        return ok([{"id": 1 if cursor is None else 2, "subject": "x"}], "abc" if cursor is None else None)

    provider = provider_with(handler)
    first = provider.list_page(Entity.ACTIVITY)
    second = provider.list_page(Entity.ACTIVITY, first.next_cursor)
    assert (first.next_cursor, second.next_cursor) == ("abc", None) and seen == [None, "abc"]


def test_incremental_products_stop_at_since() -> None:
    # Given products sorted by update time, newest first, on a page that has a next cursor
    since = datetime(2026, 1, 10, tzinfo=UTC)
    rows = [
        {"id": i, "name": f"p{i}", "update_time": t}
        for i, t in ((3, "2026-01-12T00:00:00Z"), (2, "2026-01-10T00:00:00Z"), (1, "2026-01-09T23:59:59Z"))
    ]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return ok(rows, "more")

    page = provider_with(handler).list_changed(Entity.PRODUCT, since, None)
    # Then the walk ends at the first older product
    assert [i.external_id for i in page.items] == ["3", "2"] and page.next_cursor is None
    assert requests[0].url.params["sort_by"] == "update_time" and requests[0].url.params["sort_direction"] == "desc"
    assert "updated_since" not in requests[0].url.params


def test_incremental_import_uses_updated_since_and_reports_companies_for_contacts(sim: Any) -> None:
    provider = sim_provider(sim)
    before = datetime.now(UTC) - timedelta(seconds=5)
    person = provider.create(Entity.CUSTOMER, Customer(id="p", name="Ana"), References(), intent_id="i")
    company_pj = Customer(id="c", name="ACME", document="11222333000181", email="a@acme.example")
    company = provider.create(Entity.CUSTOMER, company_pj, References(), intent_id="i")
    page = provider.list_changed(Entity.CUSTOMER, before, None)
    # the changed contact person (person 2) is reported as its company
    assert [i.external_id for i in page.items] == [person.external_id, company.external_id]
    assert page.next_cursor == "o:"
    orgs = provider.list_changed(Entity.CUSTOMER, before, page.next_cursor)
    assert [i.external_id for i in orgs.items] == [company.external_id] and orgs.next_cursor is None
    later = provider.list_changed(Entity.CUSTOMER, datetime.now(UTC) + timedelta(minutes=1), None)
    assert later.items == []


# --------------------------------------------------------------------------- reads, writes, auth


def test_get_of_a_missing_or_deleted_record_is_none(sim: Any) -> None:
    provider = sim_provider(sim)
    assert provider.get(Entity.CUSTOMER, "99") is None and provider.get(Entity.CUSTOMER, "org:99") is None
    deleted = provider_with(lambda r: ok({"id": 1, "name": "x", "is_deleted": True}))
    assert deleted.get(Entity.CUSTOMER, "1") is None
    with pytest.raises(NotFound):
        sim_provider(sim)._numeric("abc")


def test_deactivate_needs_somewhere_to_write_the_flag(sim: Any) -> None:
    provider = sim_provider(sim)
    person = provider.create(Entity.CUSTOMER, Customer(id="c1", name="Ana"), References(), intent_id="i")
    with pytest.raises(PermanentError, match="custom field"):
        provider.deactivate(Entity.CUSTOMER, person.external_id, None)
    with pytest.raises(PermanentError):
        provider.deactivate(Entity.ACTIVITY, "1", None)
    mapped = PipedriveProvider(
        {"api_token": "pd-api-token", "custom_fields": {"person": {"active": "k" * 40}}},
        transport=httpx.WSGITransport(app=sim),
    )
    mapped.deactivate(Entity.CUSTOMER, person.external_id, None)
    assert mapped.get(Entity.CUSTOMER, person.external_id).record.active is False  # type: ignore[union-attr]


def test_find_existing_ignores_contacts_of_companies(sim: Any) -> None:
    provider = sim_provider(sim)
    provider.create(
        Entity.CUSTOMER,
        Customer(id="c", name="ACME", document="11222333000181", email="ana@example.com"),
        References(),
        intent_id="i",
    )
    # a PF customer with the same e-mail as the company's contact is not that contact
    assert (
        provider.find_existing(Entity.CUSTOMER, Customer(id="x", name="Ana", email="ana@example.com"), intent_id="i")
        is None
    )


def test_activity_cannot_be_found_before_its_customer_is_linked(sim: Any) -> None:
    provider = sim_provider(sim)
    assert (
        provider.find_existing(
            Entity.ACTIVITY, Activity(id="a", customer_id="c", subject="x"), intent_id="i", refs=References()
        )
        is None
    )


class FakeTokens:
    def __init__(self) -> None:
        self.refreshed: list[str] = []

    def access_token(self) -> str:
        return "old"

    def refresh(self, stale_token: str) -> str:
        self.refreshed.append(stale_token)
        return "new"


def test_oauth_token_is_refreshed_once_on_401() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer old":
            return httpx.Response(401, json={"success": False, "error": "expired"})
        return ok({"id": 1, "name": "x"})

    tokens = FakeTokens()
    provider = PipedriveProvider(
        {"access_token": "old", "api_domain": "https://acme.pipedrive.com"},
        tokens=tokens,
        transport=httpx.MockTransport(handler),
    )
    assert provider.get(Entity.PRODUCT, "1") is not None
    assert seen == ["Bearer old", "Bearer new"] and tokens.refreshed == ["old"]
    assert provider.base_url == "https://acme.pipedrive.com/api/v2"


def test_credentials_need_a_token() -> None:
    with pytest.raises(PermanentError):
        PipedriveProvider({})
    with pytest.raises(PermanentError):
        PipedriveProvider({"api_token": "t", "custom_fields": {"person": "nope"}})


def test_request_bodies_are_json_the_spec_accepts() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return ok({"id": 1, "name": "Ana"})

    provider_with(handler).create(
        Entity.CUSTOMER, Customer(name="Ana", email="a@example.com"), References(), intent_id="i"
    )
    assert bodies == [{"name": "Ana", "emails": [{"value": "a@example.com", "primary": True}], "phones": []}]


# --------------------------------------------------------------------------- projection


def no_io(request: httpx.Request) -> httpx.Response:
    raise AssertionError("project() must not call Pipedrive")


@pytest.mark.parametrize(
    ("entity", "record"),
    [
        (Entity.CUSTOMER, Customer(id="c1", name="Ana", email="ana@example.com", phones=["11999998888"])),
        (Entity.CUSTOMER, Customer(id="c2", name="ACME", document="11222333000181", email="a@acme.example")),
        (Entity.PRODUCT, Product(id="p1", sku="CAN-1", name="Caneta", price="2.5")),
        (
            Entity.SALE,
            Sale(
                id="v1",
                customer_id="c-9",
                date="2026-01-01",
                items=[{"product_id": "p-1", "quantity": 2, "unit_price": "3"}],
            ),
        ),
        (Entity.ACTIVITY, Activity(id="a1", customer_id="c-9", subject="Ligar", type="call")),
    ],
)
def test_projection_is_the_record_as_pipedrive_keeps_it(entity: Entity, record: Any) -> None:
    provider = provider_with(no_io, credentials={"custom_fields": {"organization": {"document": "d" * 40}}})
    projected = provider.project(entity, record)
    # ids and references stay the caller's; what Pipedrive keeps round-trips
    assert projected.id == record.id and projected.comparable() == record.comparable()


def test_projection_drops_what_the_connection_cannot_store(caplog: pytest.LogCaptureFixture) -> None:
    customer = Customer(id="c1", name="Ana", document="52998224725", notes="VIP", price_list="B2B")
    with caplog.at_level("WARNING"):
        projected = provider_with(no_io).project(Entity.CUSTOMER, customer)
    assert projected.document is None and projected.notes is None and projected.unmapped_fields() == {}
    assert "pipedrive_unmapped_fields" not in caplog.text  # a projection is not a push: no warning
    mapped = provider_with(no_io, credentials={"custom_fields": {"person": {"extra": "e" * 40}}})
    assert mapped.project(Entity.CUSTOMER, customer).comparable() == customer.comparable()
