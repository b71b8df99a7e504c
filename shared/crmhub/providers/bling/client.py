"""Bling API v3 client (httpx). Auth: OAuth2 bearer token (see :mod:`.oauth`).

Official contract: ``../shared/reference/specs/bling-openapi-v3.json`` (the contract
tests validate every request built here against it). Facts used here:

- lists page with ``pagina`` (from 1) + ``limite`` (≤ 100), envelope ``{data: […]}`` only:
  the last page is the empty or short one. List rows carry base fields only, so pages are
  hydrated with ``GET /{resource}/{id}`` per row (a page costs 1 + rows requests);
- ``dataAlteracaoInicial``/``dataAlteracaoFinal`` select changed records; a range longer
  than a year is refused (400), so :meth:`BlingProvider.list_changed` walks ≤ 1-year windows;
- 3 requests/second per account → 429 ``{"error": {"type": "TOO_MANY_REQUESTS"}}``;
- errors are ``{"error": {type, message, description, fields: [{code, msg, element}]}}``.

Credentials (the connection's secret): ``client_id``, ``client_secret``, ``access_token``,
``refresh_token``, ``expires_at``, ``version``; optionally ``store_id`` (lets the client
build its own :class:`~.oauth.TokenManager`) and ``situacoes`` (status → situação id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from crmhub.errors import (
    AuthenticationFailed,
    HubError,
    NotFound,
    PermanentError,
    ProviderRejected,
    RateLimited,
    TransientError,
)
from crmhub.models.base import CanonicalRecord
from crmhub.models.common import Entity
from crmhub.models.customer import Customer
from crmhub.models.product import Product
from crmhub.models.sale import Sale
from crmhub.observability import logger, metrics
from crmhub.providers.base import ConnectionTest, ExternalRecord, Page, References
from crmhub.providers.bling import contacts, orders, products
from crmhub.providers.http import ProviderHttp, retry_after_seconds
from crmhub.rate_limit import RateLimiter

DEFAULT_BASE_URL = "https://api.bling.com.br/Api/v3"
DEFAULT_RATE_LIMIT = 3  # requests per second
PAGE_SIZE = 100  # limite ≤ 100
MAX_WINDOW = timedelta(days=365)  # dataAlteracao ranges longer than a year → 400
BRT = timezone(timedelta(hours=-3))  # Bling's dates are Brasília time  # [?] unverified for filters

_RESOURCES = {Entity.CUSTOMER: contacts.RESOURCE, Entity.PRODUCT: products.RESOURCE, Entity.SALE: orders.RESOURCE}
_TRANSFORMS: dict[Entity, Any] = {Entity.CUSTOMER: contacts, Entity.PRODUCT: products, Entity.SALE: orders}
# Keys of a stored record we never send back in a PUT (read-only or recomputed by Bling).
_READ_ONLY = {"id", "situacao", "total", "totalProdutos"}


class TokenRejected(AuthenticationFailed):
    """Bling answered 401: the access token is invalid or expired (refresh, then retry once)."""


class TokenSource(Protocol):
    """Something that hands out the connection's access token (:class:`~.oauth.TokenManager`)."""

    def access_token(self) -> str: ...

    def refresh(self, stale_token: str) -> str: ...


class StaticToken:
    """A token that cannot be refreshed (no store to write a rotated pair to)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        """The token."""
        return self._token

    def refresh(self, stale_token: str) -> str:
        """Refusing is the only safe answer: a refresh we cannot store kills the connection."""
        raise AuthenticationFailed("bling token refused and this client cannot refresh it (no store_id)")


def bling_error(response: httpx.Response) -> tuple[str, str, list[dict[str, Any]]]:
    """``(type, message, fields)`` of a Bling error body (best effort)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300], []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", str(body)[:300], []
    fields = [f for f in error.get("fields") or [] if isinstance(f, dict)]
    message = str(error.get("description") or error.get("message") or error.get("type") or "")
    return str(error.get("type") or ""), message, fields


class BlingHttp(ProviderHttp):
    """:class:`ProviderHttp` with Bling's error body mapped to the hub's errors."""

    def _check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        kind, message, fields = bling_error(response)
        logger.info(
            "provider_error", extra={"provider": "bling", "method": method, "status": status, "error_type": kind}
        )
        if status == 429 or kind == "TOO_MANY_REQUESTS":
            metrics.add_metric(name="Provider429", unit="Count", value=1)
            wait = retry_after_seconds(response)
            if self._limiter is not None:
                self._limiter.throttle(wait)
            raise RateLimited("bling rate limit (429)", retry_after=wait)
        if status >= 500 or status == 408 or kind in ("SERVER_ERROR", "UNKNOWN_ERROR"):
            raise TransientError(f"bling answered {status}")
        if status == 401 or kind in ("UNAUTHORIZED", "UNAUTHENTICATED", "invalid_token"):
            raise TokenRejected(f"bling refused the access token ({status})")
        if status == 403 or kind == "FORBIDDEN":
            raise AuthenticationFailed(f"bling forbids this ({status}): {message}")
        if status == 404 or kind == "RESOURCE_NOT_FOUND":
            raise NotFound("bling has no such record")
        details = [f"{f.get('element') or f.get('namespace') or '?'}: {f.get('msg')}" for f in fields]
        text = "; ".join([message, *details]) if details else message
        raise ProviderRejected(
            text[:1000] or f"bling refused the request ({status})",
            status=status,
            details={"type": kind, "fields": fields},
        )


def brt(moment: datetime) -> str:
    """``2025-01-31 07:20:30`` in Brasília time (Bling's date-time filters)."""
    return moment.astimezone(BRT).strftime("%Y-%m-%d %H:%M:%S")


class BlingProvider:
    """The Bling provider: customers (contatos), products (produtos), sales (pedidos de venda)."""

    name = "bling"
    entities = frozenset({Entity.CUSTOMER, Entity.PRODUCT, Entity.SALE})
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
        tokens: TokenSource | None = None,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if tokens is None:
            tokens = self._default_tokens(credentials)
        self._tokens = tokens
        self._clock = clock
        self._page_size = max(1, min(page_size, 100))
        self._situacoes = {
            **orders.DEFAULT_SITUACOES,
            **{k: int(v) for k, v in (credentials.get("situacoes") or {}).items()},
        }
        self._descriptions: dict[str, str] = {}  # Bling product id → name (sale item descriptions)
        self._http = BlingHttp(
            self.name,
            base_url or DEFAULT_BASE_URL,
            headers={},
            limiter=limiter,
            timeout_s=timeout_s,
            transport=transport,
        )

    @staticmethod
    def _default_tokens(credentials: Mapping[str, Any]) -> TokenSource:
        if not credentials.get("access_token"):
            raise PermanentError("Bling credentials need 'access_token' (connect the account first)")
        if credentials.get("store_id") and credentials.get("refresh_token"):
            from crmhub.credentials import CredentialStore
            from crmhub.providers.bling.oauth import TokenManager

            return TokenManager(str(credentials["store_id"]), credentials=CredentialStore(), initial=credentials)
        return StaticToken(str(credentials["access_token"]))

    # -- plumbing -------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with the current token; on 401 refresh once and retry once."""
        token = self._tokens.access_token()
        try:
            return self._http.request(method, path, headers={"authorization": f"Bearer {token}"}, **kwargs)
        except TokenRejected:
            token = self._tokens.refresh(token)
        return self._http.request(method, path, headers={"authorization": f"Bearer {token}"}, **kwargs)

    def _rows(self, entity: Entity, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = self._send("GET", self._resource(entity), params=dict(params)).json()
        return [row for row in body.get("data") or [] if isinstance(row, dict)]

    # -- writes ---------------------------------------------------------------------
    def create(self, entity: Entity, record: CanonicalRecord, refs: References, *, intent_id: str) -> ExternalRecord:
        """POST the record; a sale whose status is not open then gets its situação."""
        payload = self._payload(entity, record, refs)
        body = self._send("POST", self._resource(entity), json=payload).json()
        new_id = str((body.get("data") or {}).get("id"))
        raw = {**payload, "id": new_id}
        if isinstance(record, Sale):
            if record.status != "open":
                self._set_status(new_id, record.status)
            raw["situacao"] = self._situacao(record.status)
        return self._external(entity, raw)

    def update(self, entity: Entity, external_id: str, record: CanonicalRecord, refs: References) -> ExternalRecord:
        """Products: PATCH (partial). Contacts and sales: PUT of the stored record with our
        fields laid over it, so Bling-only data (IE, seller, payment terms…) survives."""
        path = f"{self._resource(entity)}/{self._numeric(external_id)}"
        payload = self._payload(entity, record, refs)
        if entity is Entity.PRODUCT:
            self._send("PATCH", path, json=payload)
            return self._external(entity, {**payload, "id": external_id})
        current = self._send("GET", path).json().get("data") or {}
        merged = merge_for_put(current, payload)
        if isinstance(record, Sale) and merged.get("parcelas") == [] and current.get("parcelas"):
            if _same_total(current, record):
                merged["parcelas"] = [{k: v for k, v in p.items() if k != "id"} for p in current["parcelas"]]
        self._send("PUT", path, json=merged)
        raw = {**merged, "id": external_id}
        if isinstance(record, Sale):
            if self._status_of(current) != record.status:
                self._set_status(external_id, record.status)
            raw["situacao"] = self._situacao(record.status)
        return self._external(entity, raw)

    def delete(self, entity: Entity, external_id: str) -> None:
        """DELETE the record (already gone counts as deleted)."""
        try:
            self._send("DELETE", f"{self._resource(entity)}/{self._numeric(external_id)}")
        except NotFound:
            return

    def deactivate(self, entity: Entity, external_id: str, record: CanonicalRecord | None) -> None:
        """Contacts and products: situação "I"; sales: the cancelled situação."""
        try:
            if entity is Entity.SALE:
                self._set_status(external_id, "cancelled")
                return
            path = f"{self._resource(entity)}/{self._numeric(external_id)}/situacoes"
            self._send("PATCH", path, json={"situacao": "I"})
        except NotFound:
            return

    # -- reads ----------------------------------------------------------------------
    def get(self, entity: Entity, external_id: str) -> ExternalRecord | None:
        """One record, or None when Bling has no such id."""
        try:
            body = self._send("GET", f"{self._resource(entity)}/{self._numeric(external_id)}").json()
        except NotFound:
            return None
        return self._external(entity, body.get("data") or {})

    def list_page(self, entity: Entity, cursor: str | None = None) -> Page:
        """One page of every record (``cursor`` is the page number), hydrated."""
        page = int(cursor or 1)
        rows = self._rows(entity, {"pagina": page, "limite": self._page_size})
        return Page(items=self._hydrate(entity, rows), next_cursor=str(page + 1) if self._full(rows) else None)

    def list_changed(self, entity: Entity, since: datetime | None, cursor: str | None = None) -> Page:
        """One page of the records changed since ``since``, in ≤ 1-year windows
        (``cursor`` = ``<window start ISO>|<page>``); all records when ``since`` is None."""
        if since is None:
            return self.list_page(entity, cursor)
        start, page = since, 1
        if cursor:
            raw_start, _, raw_page = cursor.rpartition("|")
            start, page = datetime.fromisoformat(raw_start), int(raw_page)
        now = self._clock()
        end = min(start + MAX_WINDOW, now)
        params: dict[str, Any] = {"pagina": page, "limite": self._page_size, "dataAlteracaoInicial": brt(start)}
        if end < now:  # the last window stays open: a to-the-second bound would cut off this second
            params["dataAlteracaoFinal"] = brt(end)
        rows = self._rows(entity, params)
        if self._full(rows):
            next_cursor: str | None = f"{start.isoformat()}|{page + 1}"
        elif end < now:
            next_cursor = f"{end.isoformat()}|1"  # the next window
        else:
            next_cursor = None
        return Page(items=self._hydrate(entity, rows), next_cursor=next_cursor)

    def find_existing(
        self, entity: Entity, record: CanonicalRecord, *, intent_id: str, refs: References | None = None
    ) -> ExternalRecord | None:
        """Search by natural key (customers: CPF/CNPJ or the hub's code; products: SKU or
        name; sales: the shop number holding the hub's id) and return the match."""
        refs = refs or References()
        searches: list[dict[str, Any]]
        same: Callable[[Mapping[str, Any]], bool]
        if isinstance(record, Customer):
            searches, same = contacts.search_params(record), lambda row: contacts.same_record(row, record)
        elif isinstance(record, Product):
            searches, same = products.search_params(record), lambda row: products.same_record(row, record)
        elif isinstance(record, Sale):
            searches, same = orders.search_params(record, refs), lambda row: orders.same_record(row, record)
        else:
            return None
        for params in searches:
            page = 1
            while True:
                rows = self._rows(entity, {**params, "pagina": page, "limite": self._page_size})
                for row in rows:
                    if same(row):
                        return self.get(entity, str(row.get("id")))
                if not self._full(rows):
                    break
                page += 1
        return None

    def project(self, entity: Entity, record: CanonicalRecord) -> CanonicalRecord:
        """What Bling keeps of ``record`` (to its shape and back, no I/O; references stay as
        they are): no contact notes, one mobile and one landline, no written stock…"""
        refs, restore = projection_refs(record)
        try:
            if isinstance(record, Customer):
                projected: CanonicalRecord = contacts.from_provider(
                    {**contacts.to_provider(record, quiet=True), "id": 0}
                )
            elif isinstance(record, Product):
                projected = products.from_provider({**products.to_provider(record, quiet=True), "id": 0})
            elif isinstance(record, Sale):
                payload = orders.to_provider(record, refs, {})
                for item, line in zip(record.items, payload["itens"], strict=True):
                    if not orders.item_description(item):
                        del line["descricao"]  # Bling fills in the product's name: not the ERP's data
                projected = orders.from_provider({**payload, "id": 0, "situacao": self._situacao(record.status)})
            else:
                raise PermanentError(f"Bling does not support {entity} records")
        except ValidationError:
            raise PermanentError(f"Bling cannot hold this {entity} record") from None
        return restore_refs(projected, record, restore)

    def test_connection(self) -> ConnectionTest:
        """List one contact to prove the token works."""
        started = time.perf_counter()
        try:
            self._send("GET", contacts.RESOURCE, params={"pagina": 1, "limite": 1})
        except HubError as exc:
            return ConnectionTest(ok=False, message=exc.message, latency_ms=(time.perf_counter() - started) * 1000)
        return ConnectionTest(ok=True, message="Bling answered", latency_ms=(time.perf_counter() - started) * 1000)

    def close(self) -> None:
        """Release the HTTP pool."""
        self._http.close()

    # -- helpers --------------------------------------------------------------------
    def _full(self, rows: list[dict[str, Any]]) -> bool:
        return len(rows) >= self._page_size

    def _hydrate(self, entity: Entity, rows: list[dict[str, Any]]) -> list[ExternalRecord]:
        records = []
        for row in rows:
            found = self.get(entity, str(row.get("id")))
            if found is not None:  # deleted between the list and the read
                records.append(found)
        return records

    def _set_status(self, external_id: str, status: str) -> None:
        situacao = self._situacoes[status]
        self._send("PATCH", f"{orders.RESOURCE}/{self._numeric(external_id)}/situacoes/{situacao}")

    def _situacao(self, status: str) -> dict[str, int]:
        valor = {v: k for k, v in orders.VALOR_TO_STATUS.items() if k != 3}[status]
        return {"id": self._situacoes[status], "valor": valor}

    def _status_of(self, raw: Mapping[str, Any]) -> str | None:
        situacao = raw.get("situacao") or {}
        by_id = {v: k for k, v in self._situacoes.items()}
        situacao_id, valor = situacao.get("id"), situacao.get("valor")
        by_valor = orders.VALOR_TO_STATUS.get(valor) if isinstance(valor, int) else None
        return (by_id.get(situacao_id) if isinstance(situacao_id, int) else None) or by_valor

    def _description(self, product_id: str) -> str:
        """A Bling product's name (cached): the description of a sale item that has none."""
        if product_id not in self._descriptions:
            found = self.get(Entity.PRODUCT, product_id)
            self._descriptions[product_id] = found.record.name if found else product_id  # type: ignore[attr-defined]
        return self._descriptions[product_id]

    def _payload(self, entity: Entity, record: CanonicalRecord, refs: References) -> dict[str, Any]:
        try:
            if entity is Entity.CUSTOMER and isinstance(record, Customer):
                return contacts.to_provider(record)
            if entity is Entity.PRODUCT and isinstance(record, Product):
                return products.to_provider(record)
            if entity is Entity.SALE and isinstance(record, Sale):
                names = {
                    item.product_id: self._description(refs.external(Entity.PRODUCT, item.product_id))
                    for item in record.items
                    if not orders.item_description(item)
                }
                return orders.to_provider(record, refs, names)
        except KeyError as exc:
            raise PermanentError(f"sale references an unlinked record {exc.args[0]}") from None
        raise PermanentError(f"Bling does not support {entity} records of type {type(record).__name__}")

    @staticmethod
    def _numeric(external_id: str) -> int:
        if not str(external_id).isdigit():
            raise NotFound("not a Bling id")
        return int(external_id)

    @staticmethod
    def _resource(entity: Entity) -> str:
        try:
            return _RESOURCES[entity]
        except KeyError:
            raise PermanentError(f"Bling does not support {entity} records") from None

    @staticmethod
    def _external(entity: Entity, raw: dict[str, Any]) -> ExternalRecord:
        try:
            record = _TRANSFORMS[entity].from_provider(raw)
        except ValidationError as exc:
            logger.warning("bling_record_unreadable", extra={"entity": str(entity), "errors": exc.error_count()})
            raise PermanentError(f"Bling {entity} {raw.get('id')} does not fit the canonical model") from None
        return ExternalRecord(external_id=str(raw.get("id")), record=record, raw=raw)


def merge_for_put(current: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """A full record for PUT: the stored one (read-only keys dropped) with ``payload`` laid
    over it; nested objects are merged one level deep, lists replaced."""
    merged: dict[str, Any] = {k: v for k, v in current.items() if k not in _READ_ONLY}
    for key, value in payload.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    if isinstance(merged.get("contato"), dict):
        merged["contato"] = {"id": merged["contato"].get("id")}  # the name is Bling's to fill
    return merged


def _same_total(current: Mapping[str, Any], sale: Sale) -> bool:
    try:
        return abs(float(current.get("total") or 0) - float(sale.total or 0)) < 0.01
    except (TypeError, ValueError):
        return False


def projection_refs(record: CanonicalRecord) -> tuple[References, dict[str, str]]:
    """Numeric stand-ins for the ids a sale points to (Bling ids are integers), and the way
    back: a projection keeps the record's own references. (Same helper as Pipedrive's; a
    candidate for ``providers/base.py``.)"""
    ids: dict[tuple[Entity, str], str] = {}
    if isinstance(record, Sale):
        for entity, local_id in [(Entity.CUSTOMER, record.customer_id)] + [
            (Entity.PRODUCT, item.product_id) for item in record.items
        ]:
            ids.setdefault((entity, local_id), str(900_000_001 + len(ids)))
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
    return projected.model_copy(update=update)
