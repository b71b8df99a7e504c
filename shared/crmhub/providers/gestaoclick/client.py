"""GestãoClick API client (httpx). Auth: ``access-token`` + ``secret-access-token`` headers.

Community-documented API ([?] unverified against a live account; see
``../shared/reference/PROVIDERS.md``): JSON envelope ``{code, status, meta, data}``,
page-numbered lists (``pagina``, ``meta.proxima_pagina``), no changed-since filter,
no webhooks, 3 requests/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from crmhub.errors import HubError, NotFound, PermanentError
from crmhub.models.base import CanonicalRecord
from crmhub.models.common import Entity
from crmhub.models.customer import Customer
from crmhub.models.product import Product
from crmhub.models.sale import Sale
from crmhub.providers.base import IDENTITY_REFS, ConnectionTest, ExternalRecord, Page, References
from crmhub.providers.gestaoclick import customers, products, sales
from crmhub.providers.http import ProviderHttp
from crmhub.rate_limit import RateLimiter

DEFAULT_BASE_URL = "https://api.beteltecnologia.com"  # [?] some accounts use api.gestaoclick.com
DEFAULT_RATE_LIMIT = 3  # requests per second [?]

_RESOURCES = {Entity.CUSTOMER: customers.RESOURCE, Entity.PRODUCT: products.RESOURCE, Entity.SALE: sales.RESOURCE}


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        for key in ("mensagem", "message", "erro"):
            if data.get(key):
                return str(data[key])[:500]
    return str(body)[:500]


class GestaoClickProvider:
    """The GestãoClick provider: customers (clientes), products (produtos), sales (vendas)."""

    name = "gestaoclick"
    entities = frozenset({Entity.CUSTOMER, Entity.PRODUCT, Entity.SALE})
    supports_updated_since = False  # no changed-since filter: imports compare snapshots
    supports_webhooks = False

    def __init__(
        self,
        credentials: dict[str, Any],
        *,
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            headers = {
                "access-token": str(credentials["access_token"]),
                "secret-access-token": str(credentials["secret_access_token"]),
            }
        except KeyError as exc:
            raise PermanentError(f"GestãoClick credentials need {exc.args[0]!r}") from None
        self._http = ProviderHttp(
            self.name,
            base_url or DEFAULT_BASE_URL,
            headers=headers,
            limiter=limiter,
            timeout_s=timeout_s,
            error_message=_error_message,
            transport=transport,
        )

    # -- writes ---------------------------------------------------------------------
    def create(self, entity: Entity, record: CanonicalRecord, refs: References, *, intent_id: str) -> ExternalRecord:
        """POST the record; returns it with GestãoClick's id."""
        body = self._http.request("POST", self._resource(entity), json=self._payload(entity, record, refs)).json()
        return self._external(entity, body.get("data") or {})

    def update(self, entity: Entity, external_id: str, record: CanonicalRecord, refs: References) -> ExternalRecord:
        """PUT the whole record."""
        path = f"{self._resource(entity)}/{external_id}"
        body = self._http.request("PUT", path, json=self._payload(entity, record, refs)).json()
        return self._external(entity, body.get("data") or {"id": external_id})

    def delete(self, entity: Entity, external_id: str) -> None:
        """DELETE the record (a record already gone counts as deleted)."""
        try:
            self._http.request("DELETE", f"{self._resource(entity)}/{external_id}")
        except NotFound:
            return

    def deactivate(self, entity: Entity, external_id: str, record: CanonicalRecord | None) -> None:
        """Set ``ativo`` to "0" (sales have no such flag: they are cancelled)."""
        current = self.get(entity, external_id)
        if current is None:
            return
        if entity is Entity.SALE:
            payload = dict(current.raw)
            payload["situacao_id"] = sales.status_id("cancelled")
        else:
            payload = {**current.raw, "ativo": "0"}
        self._http.request("PUT", f"{self._resource(entity)}/{external_id}", json=payload)

    # -- reads ----------------------------------------------------------------------
    def get(self, entity: Entity, external_id: str) -> ExternalRecord | None:
        """One record, or None when GestãoClick has no such id."""
        try:
            body = self._http.request("GET", f"{self._resource(entity)}/{external_id}").json()
        except NotFound:
            return None
        return self._external(entity, body.get("data") or {})

    def list_page(self, entity: Entity, cursor: str | None = None, **filters: str) -> Page:
        """One page (``cursor`` is the page number; GestãoClick pages from 1)."""
        params = {"pagina": cursor or "1", **filters}
        body = self._http.request("GET", self._resource(entity), params=params).json()
        items = [self._external(entity, raw) for raw in body.get("data") or []]
        next_page = (body.get("meta") or {}).get("proxima_pagina")
        return Page(items=items, next_cursor=str(next_page) if next_page else None)

    def list_changed(self, entity: Entity, since: datetime | None, cursor: str | None = None) -> Page:
        """GestãoClick cannot filter by change date: every page (callers compare snapshots)."""
        return self.list_page(entity, cursor)

    def find_existing(
        self, entity: Entity, record: CanonicalRecord, *, intent_id: str, refs: References | None = None
    ) -> ExternalRecord | None:
        """Search by natural key (customers: CPF/CNPJ, e-mail; products: SKU, name; sales:
        the notes marker) and return the matching record, if any."""
        refs = refs or References()
        matches: Callable[[ExternalRecord], bool]
        if isinstance(record, Customer):
            searches = customers.search_params(record)
            matches = lambda item: customers.same_record(item.raw, item.record, record)  # noqa: E731
        elif isinstance(record, Product):
            searches = products.search_params(record)
            matches = lambda item: products.same_record(item.raw, item.record, record)  # noqa: E731
        elif isinstance(record, Sale):
            searches = sales.search_params(record, refs)
            matches = lambda item: sales.marker_local_id(item.raw) == record.id  # noqa: E731
        else:
            return None
        for params in searches:
            cursor: str | None = "1"
            while cursor:
                page = self.list_page(entity, cursor, **params)
                for item in page.items:
                    if matches(item):
                        return item
                cursor = page.next_cursor
        return None

    def project(self, entity: Entity, record: CanonicalRecord) -> CanonicalRecord:
        """What GestãoClick keeps of ``record`` (e.g. no product unit, one phone of each kind)."""
        raw = {**self._payload(entity, record, IDENTITY_REFS), "id": record.id or "0"}
        return self._external(entity, raw).record

    def test_connection(self) -> ConnectionTest:
        """List one page of customers to prove the credentials work."""
        started = time.perf_counter()
        try:
            self._http.request("GET", customers.RESOURCE, params={"pagina": "1"})
        except HubError as exc:
            return ConnectionTest(ok=False, message=exc.message, latency_ms=(time.perf_counter() - started) * 1000)
        return ConnectionTest(
            ok=True, message="GestãoClick answered", latency_ms=(time.perf_counter() - started) * 1000
        )

    def close(self) -> None:
        """Release the HTTP pool."""
        self._http.close()

    # -- helpers --------------------------------------------------------------------
    def _resource(self, entity: Entity) -> str:
        try:
            return _RESOURCES[entity]
        except KeyError:
            raise PermanentError(f"GestãoClick does not support {entity} records") from None

    @staticmethod
    def _payload(entity: Entity, record: CanonicalRecord, refs: References) -> dict[str, Any]:
        if entity is Entity.CUSTOMER:
            return customers.to_provider(record)  # type: ignore[arg-type]
        if entity is Entity.PRODUCT:
            return products.to_provider(record)  # type: ignore[arg-type]
        if entity is Entity.SALE:
            try:
                return sales.to_provider(record, refs)  # type: ignore[arg-type]
            except KeyError as exc:
                raise PermanentError(f"sale references an unlinked record {exc.args[0]}") from None
        raise PermanentError(f"GestãoClick does not support {entity} records")

    @staticmethod
    def _external(entity: Entity, raw: dict[str, Any]) -> ExternalRecord:
        transform = {Entity.CUSTOMER: customers, Entity.PRODUCT: products, Entity.SALE: sales}[entity]
        return ExternalRecord(external_id=str(raw.get("id")), record=transform.from_provider(raw), raw=raw)
