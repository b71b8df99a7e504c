"""Pipedrive API v2 client (httpx). Auth: ``x-api-token`` header, or an OAuth2 bearer token.

Official contract: ``../shared/reference/specs/pipedrive-openapi-v2.yaml`` (the contract
tests validate every request built here against it). Facts used here:

- lists are cursor-paginated (``cursor``/``limit`` ≤ 500, ``additional_data.next_cursor``
  null on the last page); ``updated_since`` (RFC 3339) filters persons, organizations,
  deals and activities — **not products**, which are listed by ``update_time``
  descending and cut at ``since``;
- every operation has a token cost charged to the connection's shared limiter, and the
  ``x-ratelimit-*``/``x-daily-requests-left`` headers pace it (:mod:`.rate_limits`);
- webhooks are registered with the v1 endpoint ``POST /v1/webhooks`` (not in the v2 spec).

Credentials (the connection's secret): ``api_token`` or ``access_token`` (OAuth; with
``api_domain``), and optionally ``custom_fields`` (``{"person"|"organization"|"product"|
"deal": {canonical field: custom-field key}}``), ``currency`` (default BRL),
``activity_types`` (canonical → Pipedrive type key), ``webhook_user``/``webhook_password``.
See :mod:`.organizations` for the external-id convention of PJ customers (``org:<id>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from crmhub.errors import AuthenticationFailed, HubError, NotFound, PermanentError
from crmhub.models.activity import Activity
from crmhub.models.base import CanonicalRecord
from crmhub.models.common import Entity
from crmhub.models.customer import Customer
from crmhub.models.product import Product
from crmhub.models.sale import Sale
from crmhub.observability import logger
from crmhub.providers.base import ConnectionTest, ExternalRecord, Page, References
from crmhub.providers.pipedrive import activities, deals, organizations, persons, products
from crmhub.providers.pipedrive.persons import ACTIVE, EXTRA, FieldMap
from crmhub.providers.pipedrive.rate_limits import OPERATION_COSTS, Operation, PipedriveBudget, PipedriveHttp
from crmhub.rate_limit import RateLimiter

DEFAULT_BASE_URL = "https://api.pipedrive.com/api/v2"
DEFAULT_PAGE_SIZE = 100  # ≤ 500; a list costs the same tokens whatever its size
MAX_SEARCH_PAGES = 3  # find_existing looks at the best few pages of hits only

_PERSON, _ORG = "p", "o"  # customer list phases in cursors: "p:<cursor>" then "o:<cursor>"


class TokenSource(Protocol):
    """An OAuth access-token holder (e.g. :class:`crmhub.providers.bling.oauth.TokenManager`)."""

    def access_token(self) -> str: ...

    def refresh(self, stale_token: str) -> str: ...


@dataclass(frozen=True)
class PipedriveOptions:
    """The non-secret parts of a Pipedrive connection's credentials."""

    person_fields: FieldMap = field(default_factory=dict)
    organization_fields: FieldMap = field(default_factory=dict)
    product_fields: FieldMap = field(default_factory=dict)
    deal_fields: FieldMap = field(default_factory=dict)
    currency: str = "BRL"
    activity_types: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any]) -> PipedriveOptions:
        """Read (and check) the options stored beside the token."""
        custom = credentials.get("custom_fields") or {}
        if not isinstance(custom, dict) or not all(isinstance(v, dict) for v in custom.values()):
            raise PermanentError("Pipedrive custom_fields must map entity → {field: key}")
        return cls(
            person_fields=dict(custom.get("person") or {}),
            organization_fields=dict(custom.get("organization") or {}),
            product_fields=dict(custom.get("product") or {}),
            deal_fields=dict(custom.get("deal") or {}),
            currency=str(credentials.get("currency") or "BRL"),
            activity_types=dict(credentials.get("activity_types") or {}),
        )


def _error_message(response: httpx.Response) -> str:
    """Pipedrive's ``{success: false, error, error_info}`` as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and body.get("error"):
        info = body.get("error_info")
        return f"{body['error']}" + (f" ({info})" if info else "")
    return str(body)[:500]


def rfc3339(moment: datetime) -> str:
    """``2025-01-31T10:20:30Z`` (what ``updated_since`` takes)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PipedriveProvider:
    """The Pipedrive provider: customers (persons/organizations), products, sales (deals),
    activities."""

    name = "pipedrive"
    entities = frozenset({Entity.CUSTOMER, Entity.PRODUCT, Entity.SALE, Entity.ACTIVITY})
    supports_updated_since = True
    supports_webhooks = True

    def __init__(
        self,
        credentials: dict[str, Any],
        *,
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        tokens: TokenSource | None = None,
        operation_costs: dict[Operation, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        headers: dict[str, str] = {}
        if tokens is None:
            if credentials.get("api_token"):
                headers["x-api-token"] = str(credentials["api_token"])
            elif credentials.get("access_token"):
                headers["authorization"] = f"Bearer {credentials['access_token']}"
            else:
                raise PermanentError("Pipedrive credentials need 'api_token' or 'access_token'")
        # OAuth apps talk to the company domain, whose v1 endpoints live under /api/v1.  # [?]
        self._company_domain = base_url is None and bool(credentials.get("api_domain"))
        if self._company_domain:
            base_url = f"{str(credentials['api_domain']).rstrip('/')}/api/v2"
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.options = PipedriveOptions.from_credentials(credentials)
        self._tokens = tokens
        self._costs = {**OPERATION_COSTS, **(operation_costs or {})}
        self._page_size = max(1, min(page_size, 500))
        self._http = PipedriveHttp(
            self.base_url,
            headers=headers,
            limiter=limiter,
            timeout_s=timeout_s,
            error_message=_error_message,
            transport=transport,
            budget=PipedriveBudget(clock=clock),
        )

    # -- plumbing -------------------------------------------------------------------
    @property
    def budget(self) -> PipedriveBudget:
        """What the last answers' rate-limit headers said."""
        return self._http.budget

    @property
    def v1_base_url(self) -> str:
        """Base of the v1 endpoints still needed (webhooks)."""
        root = self.base_url.removesuffix("/api/v2")
        return f"{root}/api/v1" if self._company_domain else f"{root}/v1"

    def _send(self, operation: Operation, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request at ``operation``'s token cost (OAuth: refresh once on 401)."""
        cost = self._costs[operation]
        if self._tokens is None:
            return self._http.request(method, path, cost=cost, **kwargs)
        token = self._tokens.access_token()
        try:
            return self._http.request(method, path, cost=cost, headers={"authorization": f"Bearer {token}"}, **kwargs)
        except AuthenticationFailed:
            token = self._tokens.refresh(token)
            return self._http.request(method, path, cost=cost, headers={"authorization": f"Bearer {token}"}, **kwargs)

    def _data(self, operation: Operation, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(operation, method, path, **kwargs).json().get("data")

    def _list(self, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        body = self._send(Operation.LIST, "GET", path, params={"limit": self._page_size, **params}).json()
        return list(body.get("data") or []), (body.get("additional_data") or {}).get("next_cursor") or None

    def _all(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            items, cursor = self._list(path, {**params, **({"cursor": cursor} if cursor else {})})
            yield from items
            if not cursor:
                return

    # -- writes ---------------------------------------------------------------------
    def create(self, entity: Entity, record: CanonicalRecord, refs: References, *, intent_id: str) -> ExternalRecord:
        """Create the record (a PJ customer: organization, then its contact person; a sale:
        deal, then its products)."""
        if isinstance(record, Customer) and organizations.is_company(record):
            org = self._data(
                Operation.CREATE,
                "POST",
                organizations.RESOURCE,
                json=organizations.to_provider(record, self.options.organization_fields),
            )
            contact = self._sync_contact(int(org["id"]), record, current=None)
            return self._external(Entity.CUSTOMER, org, company=True, contact=contact)
        if isinstance(record, Sale):
            deal = self._data(Operation.CREATE, "POST", deals.RESOURCE, json=self._deal_payload(record, refs))
            items = self._sync_items(int(deal["id"]), record, refs, current=[])
            return self._external(Entity.SALE, deal, items=items)
        resource = self._resource(entity)
        created = self._data(Operation.CREATE, "POST", resource, json=self._payload(entity, record, refs))
        return self._external(entity, created)

    def update(self, entity: Entity, external_id: str, record: CanonicalRecord, refs: References) -> ExternalRecord:
        """PATCH the record (and its contact person / deal products)."""
        org_id = organizations.org_id_of(external_id) if entity is Entity.CUSTOMER else None
        if org_id is not None:
            customer = self._as(record, Customer)
            org = self._data(
                Operation.UPDATE,
                "PATCH",
                f"{organizations.RESOURCE}/{org_id}",
                json=organizations.to_provider(customer, self.options.organization_fields),
            )
            contact = self._sync_contact(org_id, customer, current=self._contact_of(org_id))
            return self._external(Entity.CUSTOMER, org, company=True, contact=contact)
        record_id = self._numeric(external_id)
        if entity is Entity.SALE:
            sale = self._as(record, Sale)
            deal = self._data(
                Operation.UPDATE, "PATCH", f"{deals.RESOURCE}/{record_id}", json=self._deal_payload(sale, refs)
            )
            items = self._sync_items(record_id, sale, refs, current=self._deal_products(record_id))
            return self._external(Entity.SALE, deal, items=items)
        updated = self._data(
            Operation.UPDATE, "PATCH", f"{self._resource(entity)}/{record_id}", json=self._payload(entity, record, refs)
        )
        return self._external(entity, updated)

    def delete(self, entity: Entity, external_id: str) -> None:
        """DELETE the record (already gone counts as deleted). A PJ customer takes its
        contact person with it, which would otherwise resurface as a PF customer."""
        org_id = organizations.org_id_of(external_id) if entity is Entity.CUSTOMER else None
        try:
            if org_id is not None:
                contact = self._contact_of(org_id)
                if contact is not None:
                    self._send(Operation.DELETE, "DELETE", f"{persons.RESOURCE}/{contact['id']}")
                self._send(Operation.DELETE, "DELETE", f"{organizations.RESOURCE}/{org_id}")
                return
            self._send(Operation.DELETE, "DELETE", f"{self._resource(entity)}/{self._numeric(external_id)}")
        except NotFound:
            return

    def deactivate(self, entity: Entity, external_id: str, record: CanonicalRecord | None) -> None:
        """Sales become lost deals. Customers and products have no inactive state in
        Pipedrive: the flag goes to the mapped ``active`` (or ``extra``) custom field."""
        if entity is Entity.ACTIVITY:
            raise PermanentError("Pipedrive activities cannot be deactivated; delete them instead")
        if entity is Entity.SALE:
            try:
                self._send(
                    Operation.UPDATE,
                    "PATCH",
                    f"{deals.RESOURCE}/{self._numeric(external_id)}",
                    json={"status": "lost", "lost_reason": "Cancelada"},
                )
            except NotFound:
                return
            return
        org_id = organizations.org_id_of(external_id) if entity is Entity.CUSTOMER else None
        fields = {
            Entity.CUSTOMER: self.options.organization_fields if org_id is not None else self.options.person_fields,
            Entity.PRODUCT: self.options.product_fields,
        }[entity]
        if ACTIVE not in fields and EXTRA not in fields:
            raise PermanentError(
                f"Pipedrive has no inactive {entity}: map an 'active' or 'extra' custom field for this connection"
            )
        if record is None:
            current = self.get(entity, external_id)
            if current is None:
                return
            record = current.record
        inactive = record.model_copy(update={"active": False})
        try:
            self.update(entity, external_id, inactive, References())
        except NotFound:
            return

    # -- reads ----------------------------------------------------------------------
    def get(self, entity: Entity, external_id: str) -> ExternalRecord | None:
        """One record, or None when Pipedrive has no such id (or it is deleted)."""
        try:
            org_id = organizations.org_id_of(external_id) if entity is Entity.CUSTOMER else None
            if org_id is not None:
                org = self._data(Operation.GET, "GET", f"{organizations.RESOURCE}/{org_id}")
                if org.get("is_deleted"):
                    return None
                return self._external(Entity.CUSTOMER, org, company=True, contact=self._contact_of(org_id))
            record_id = self._numeric(external_id)
            raw = self._data(Operation.GET, "GET", f"{self._resource(entity)}/{record_id}")
        except NotFound:
            return None
        if raw.get("is_deleted") and entity is not Entity.PRODUCT:
            return None
        if entity is Entity.SALE:
            return self._external(Entity.SALE, raw, items=self._deal_products(record_id))
        return self._external(entity, raw)

    def list_page(self, entity: Entity, cursor: str | None = None) -> Page:
        """One page of every record (customers: persons without organization, then
        organizations with their contact)."""
        return self._page(entity, cursor, filters={})

    def list_changed(self, entity: Entity, since: datetime | None, cursor: str | None = None) -> Page:
        """One page of the records changed since ``since`` (all records when None).

        Persons, organizations, deals, activities: ``updated_since``. Products: sorted by
        ``update_time`` descending, the page cut at the first product older than ``since``.
        A changed contact person reports its organization's customer.
        """
        if since is None:
            return self.list_page(entity, cursor)
        if entity is Entity.PRODUCT:
            params: dict[str, Any] = {"sort_by": "update_time", "sort_direction": "desc"}
            if cursor:
                params["cursor"] = cursor
            items, next_cursor = self._list(products.RESOURCE, params)
            fresh = []
            for raw in items:
                updated = persons.timestamp(raw.get("update_time"))
                if updated is not None and updated < since:
                    next_cursor = None  # everything after this one is older
                    break
                fresh.append(self._external(Entity.PRODUCT, raw))
            return Page(items=fresh, next_cursor=next_cursor)
        return self._page(entity, cursor, filters={"updated_since": rfc3339(since)})

    def _page(self, entity: Entity, cursor: str | None, filters: dict[str, Any]) -> Page:
        if entity is Entity.CUSTOMER:
            return self._customer_page(cursor, filters)
        resource = self._resource(entity)
        params = {**filters, **({"cursor": cursor} if cursor else {})}
        items, next_cursor = self._list(resource, params)
        if entity is Entity.SALE:
            attached = self._products_of_deals([int(d["id"]) for d in items])
            records = [self._external(Entity.SALE, d, items=attached.get(int(d["id"]), [])) for d in items]
        else:
            records = [self._external(entity, raw) for raw in items]
        return Page(items=records, next_cursor=next_cursor)

    def _customer_page(self, cursor: str | None, filters: dict[str, Any]) -> Page:
        phase, _, inner = (cursor or f"{_PERSON}:").partition(":")
        params = {**filters, **({"cursor": inner} if inner else {})}
        if phase == _PERSON:
            items, next_inner = self._list(persons.RESOURCE, params)
            records: list[ExternalRecord] = []
            seen_orgs: set[int] = set()
            for raw in items:
                if not raw.get("org_id"):
                    records.append(self._external(Entity.CUSTOMER, raw))
                elif filters and int(raw["org_id"]) not in seen_orgs:
                    # a contact changed: its company customer changed
                    seen_orgs.add(int(raw["org_id"]))
                    company = self.get(Entity.CUSTOMER, organizations.external_id(raw["org_id"]))
                    if company is not None:
                        records.append(company)
            return Page(items=records, next_cursor=f"{_PERSON}:{next_inner}" if next_inner else f"{_ORG}:")
        items, next_inner = self._list(organizations.RESOURCE, params)
        records = [
            self._external(Entity.CUSTOMER, org, company=True, contact=self._contact_of(int(org["id"])))
            for org in items
        ]
        return Page(items=records, next_cursor=f"{_ORG}:{next_inner}" if next_inner else None)

    def find_existing(
        self, entity: Entity, record: CanonicalRecord, *, intent_id: str, refs: References | None = None
    ) -> ExternalRecord | None:
        """Search by natural key (customers: CPF/CNPJ, the hub's id, e-mail or name;
        products: SKU, hub id, name; sales: hub id or title within the customer's deals;
        activities: the note marker within the customer's activities)."""
        refs = refs or References()
        if isinstance(record, Customer):
            return self._find_customer(record)
        if isinstance(record, Product):
            fields = self.options.product_fields
            for hit in self._search(products.SEARCH, products.search_params(record, fields)):
                found = self.get(Entity.PRODUCT, str(hit["id"]))
                if found and products.same_record(found.raw, found.record, record, fields):  # type: ignore[arg-type]
                    return found
            return None
        if isinstance(record, Sale):
            try:
                searches = deals.search_params(record, refs, self.options.deal_fields)
            except KeyError:
                return None  # the customer is not linked yet: the sale cannot exist
            for hit in self._search(deals.SEARCH, searches):
                found = self.get(Entity.SALE, str(hit["id"]))
                if found and deals.same_record(found.raw, record, self.options.deal_fields):
                    return found
            return None
        if isinstance(record, Activity):
            if not record.customer_id or not record.id:
                return None
            try:
                scope = deals.customer_ref(refs.external(Entity.CUSTOMER, record.customer_id))
            except KeyError:
                return None
            for raw in self._all(activities.RESOURCE, dict(scope)):
                if activities.marker_local_id(raw) == record.id:
                    return self._external(Entity.ACTIVITY, raw)
        return None

    def _find_customer(self, customer: Customer) -> ExternalRecord | None:
        if organizations.is_company(customer):
            fields, path = self.options.organization_fields, organizations.SEARCH
            searches = organizations.search_params(customer, fields)
        else:
            fields, path = self.options.person_fields, persons.SEARCH
            searches = persons.search_params(customer, fields)
        for hit in self._search(path, searches):
            if path == persons.SEARCH and hit.get("organization"):
                continue  # a company's contact, not a PF customer
            external = str(hit["id"]) if path == persons.SEARCH else organizations.external_id(hit["id"])
            found = self.get(Entity.CUSTOMER, external)
            if found and persons.same_record(found.raw, found.record, customer, fields):  # type: ignore[arg-type]
                return found
        return None

    def _search(self, path: str, searches: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """Hits (``data.items[].item``) of each search in turn, best first."""
        seen: set[Any] = set()
        for params in searches:
            if len(params.get("term", "")) < 2 and params.get("exact_match") != "true":
                continue  # Pipedrive needs 2 characters (1 with exact_match)
            cursor: str | None = None
            for _ in range(MAX_SEARCH_PAGES):
                body = self._send(
                    Operation.SEARCH,
                    "GET",
                    path,
                    params={**params, "limit": self._page_size, **({"cursor": cursor} if cursor else {})},
                ).json()
                for entry in (body.get("data") or {}).get("items") or []:
                    item = entry.get("item") or {}
                    if item.get("id") is not None and item["id"] not in seen:
                        seen.add(item["id"])
                        yield item
                cursor = (body.get("additional_data") or {}).get("next_cursor")
                if not cursor:
                    break

    def project(self, entity: Entity, record: CanonicalRecord) -> CanonicalRecord:
        """What Pipedrive keeps of ``record`` (to its shape and back, no I/O; references stay
        as they are): fields this connection has no custom field for disappear, amounts get
        two decimals, an activity's due time becomes UTC…"""
        refs, restore = projection_refs(record)
        options = self.options
        try:
            if isinstance(record, Customer) and organizations.is_company(record):
                org = organizations.to_provider(record, options.organization_fields, quiet=True)
                keeps_contact = record.email or record.phones or record.unmapped_fields().get("contact_name")
                contact = organizations.contact_to_provider(record, 0) if keeps_contact else None
                projected: CanonicalRecord = organizations.from_provider(
                    {**org, "id": 0}, contact, options.organization_fields
                )
            elif isinstance(record, Customer):
                person = persons.to_provider(record, options.person_fields, quiet=True)
                projected = persons.from_provider({**person, "id": 0}, options.person_fields)
            elif isinstance(record, Product):
                raw = products.to_provider(record, options.product_fields, options.currency, quiet=True)
                projected = products.from_provider({**raw, "id": 0}, options.product_fields, options.currency)
            elif isinstance(record, Sale):
                deal = deals.to_provider(record, refs, options.deal_fields, options.currency, quiet=True)
                attached = [
                    {**item, "id": n + 1, "order_nr": n + 1}
                    for n, item in enumerate(deals.items_to_provider(record, refs))
                ]
                projected = deals.from_provider({**deal, "id": 0}, attached, options.deal_fields, options.currency)
            elif isinstance(record, Activity):
                raw = activities.to_provider(record, refs, options.activity_types)
                projected = activities.from_provider({**raw, "id": 0}, options.activity_types)
            else:
                raise PermanentError(f"Pipedrive does not support {entity} records")
        except ValidationError:
            raise PermanentError(f"Pipedrive cannot hold this {entity} record") from None
        return restore_refs(projected, record, restore)

    def test_connection(self) -> ConnectionTest:
        """List one person to prove the token works."""
        started = time.perf_counter()
        try:
            self._send(Operation.LIST, "GET", persons.RESOURCE, params={"limit": 1})
        except HubError as exc:
            return ConnectionTest(ok=False, message=exc.message, latency_ms=(time.perf_counter() - started) * 1000)
        return ConnectionTest(ok=True, message="Pipedrive answered", latency_ms=(time.perf_counter() - started) * 1000)

    def close(self) -> None:
        """Release the HTTP pool."""
        self._http.close()

    # -- webhooks (v1 endpoints) ----------------------------------------------------
    def list_webhooks(self) -> list[dict[str, Any]]:
        """The company's webhooks (``GET /v1/webhooks``)."""
        return list(self._data(Operation.LIST, "GET", f"{self.v1_base_url}/webhooks") or [])

    def create_webhook(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Create one webhook (``POST /v1/webhooks``)."""
        return dict(self._data(Operation.CREATE, "POST", f"{self.v1_base_url}/webhooks", json=payload) or {})

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete one webhook (gone counts as deleted)."""
        try:
            self._send(Operation.DELETE, "DELETE", f"{self.v1_base_url}/webhooks/{webhook_id}")
        except NotFound:
            return

    # -- helpers --------------------------------------------------------------------
    def _contact_of(self, org_id: int) -> dict[str, Any] | None:
        """The organization's contact person: its first person by id."""
        items, _ = self._list(persons.RESOURCE, {"org_id": org_id, "sort_by": "id", "sort_direction": "asc"})
        return items[0] if items else None

    def _sync_contact(self, org_id: int, customer: Customer, current: dict[str, Any] | None) -> dict[str, Any] | None:
        payload = organizations.contact_to_provider(customer, org_id)
        if current is not None:
            return dict(self._data(Operation.UPDATE, "PATCH", f"{persons.RESOURCE}/{current['id']}", json=payload))
        if not (customer.email or customer.phones or customer.unmapped_fields().get("contact_name")):
            return None  # nothing to keep on a contact
        return dict(self._data(Operation.CREATE, "POST", persons.RESOURCE, json=payload))

    def _deal_products(self, deal_id: int) -> list[dict[str, Any]]:
        return list(self._all(f"{deals.RESOURCE}/{deal_id}/products", {"sort_by": "order_nr"}))

    def _products_of_deals(self, deal_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Products of many deals in one paginated call (``GET /deals/products``)."""
        attached: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(deal_ids), 100):  # at most 100 deal ids per call
            chunk = deal_ids[start : start + 100]
            for product in self._all(f"{deals.RESOURCE}/products", {"deal_ids": chunk}):
                attached.setdefault(int(product["deal_id"]), []).append(product)
        return attached

    def _sync_items(
        self, deal_id: int, sale: Sale, refs: References, current: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        try:
            wanted = deals.items_to_provider(sale, refs)
        except KeyError as exc:
            raise PermanentError(f"sale references an unlinked record {exc.args[0]}") from None
        patches, posts, deletes = deals.plan_items(current, wanted)
        path = f"{deals.RESOURCE}/{deal_id}/products"
        for attachment_id in deletes:
            self._send(Operation.DELETE, "DELETE", f"{path}/{attachment_id}")
        for attachment_id, payload in patches:
            self._send(Operation.UPDATE, "PATCH", f"{path}/{attachment_id}", json=payload)
        for payload in posts:
            self._send(Operation.CREATE, "POST", path, json=payload)
        if not (patches or posts or deletes):
            return current
        return self._deal_products(deal_id)

    def _deal_payload(self, sale: Sale, refs: References) -> dict[str, Any]:
        try:
            return deals.to_provider(sale, refs, self.options.deal_fields, self.options.currency)
        except KeyError as exc:
            raise PermanentError(f"sale references an unlinked record {exc.args[0]}") from None

    def _payload(self, entity: Entity, record: CanonicalRecord, refs: References) -> dict[str, Any]:
        if entity is Entity.CUSTOMER:
            return persons.to_provider(self._as(record, Customer), self.options.person_fields)
        if entity is Entity.PRODUCT:
            return products.to_provider(self._as(record, Product), self.options.product_fields, self.options.currency)
        if entity is Entity.ACTIVITY:
            try:
                return activities.to_provider(self._as(record, Activity), refs, self.options.activity_types)
            except KeyError as exc:
                raise PermanentError(f"activity references an unlinked record {exc.args[0]}") from None
        raise PermanentError(f"Pipedrive does not support {entity} records")

    @staticmethod
    def _as(record: CanonicalRecord, kind: type[Any]) -> Any:
        if not isinstance(record, kind):
            raise PermanentError(f"expected a {kind.__name__} record, got {type(record).__name__}")
        return record

    @staticmethod
    def _numeric(external_id: str) -> int:
        if not str(external_id).isdigit():
            raise NotFound("not a Pipedrive id")
        return int(external_id)

    @staticmethod
    def _resource(entity: Entity) -> str:
        resources = {
            Entity.CUSTOMER: persons.RESOURCE,
            Entity.PRODUCT: products.RESOURCE,
            Entity.SALE: deals.RESOURCE,
            Entity.ACTIVITY: activities.RESOURCE,
        }
        try:
            return resources[entity]
        except KeyError:
            raise PermanentError(f"Pipedrive does not support {entity} records") from None

    def _external(
        self,
        entity: Entity,
        raw: dict[str, Any],
        *,
        company: bool = False,
        contact: dict[str, Any] | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> ExternalRecord:
        options = self.options
        try:
            if entity is Entity.CUSTOMER and company:
                record: CanonicalRecord = organizations.from_provider(raw, contact, options.organization_fields)
                return ExternalRecord(
                    external_id=str(record.id), record=record, raw={**raw, "contact": contact} if contact else raw
                )
            if entity is Entity.CUSTOMER:
                record = persons.from_provider(raw, options.person_fields)
            elif entity is Entity.PRODUCT:
                record = products.from_provider(raw, options.product_fields, options.currency)
            elif entity is Entity.SALE:
                record = deals.from_provider(raw, items or [], options.deal_fields, options.currency)
                return ExternalRecord(
                    external_id=str(raw.get("id")), record=record, raw={**raw, "products": items or []}
                )
            elif entity is Entity.ACTIVITY:
                record = activities.from_provider(raw, options.activity_types)
            else:
                raise PermanentError(f"Pipedrive does not support {entity} records")
        except ValidationError as exc:
            logger.warning("pipedrive_record_unreadable", extra={"entity": str(entity), "errors": exc.error_count()})
            raise PermanentError(f"Pipedrive {entity} {raw.get('id')} does not fit the canonical model") from None
        return ExternalRecord(external_id=str(raw.get("id")).removesuffix(".0"), record=record, raw=raw)


def projection_refs(record: CanonicalRecord) -> tuple[References, dict[str, str]]:
    """Numeric stand-ins for the ids a record points to (Pipedrive ids are integers), and
    the way back: a projection keeps the record's own references."""
    ids: dict[tuple[Entity, str], str] = {}

    def add(entity: Entity, local_id: str | None) -> None:
        if local_id:
            ids.setdefault((entity, local_id), str(900_000_001 + len(ids)))

    if isinstance(record, Sale):
        add(Entity.CUSTOMER, record.customer_id)
        for item in record.items:
            add(Entity.PRODUCT, item.product_id)
    elif isinstance(record, Activity):
        add(Entity.CUSTOMER, record.customer_id)
    return References(ids), {stand_in: local for (_, local), stand_in in ids.items()}


def restore_refs(projected: CanonicalRecord, original: CanonicalRecord, restore: dict[str, str]) -> CanonicalRecord:
    """``projected`` with the original's id and references put back."""
    update: dict[str, Any] = {"id": original.id}
    if isinstance(projected, Sale):
        update["customer_id"] = restore.get(projected.customer_id, projected.customer_id)
        update["items"] = [
            item.model_copy(update={"product_id": restore.get(item.product_id, item.product_id)})
            for item in projected.items
        ]
    elif isinstance(projected, Activity) and projected.customer_id:
        update["customer_id"] = restore.get(projected.customer_id, projected.customer_id)
    return projected.model_copy(update=update)
