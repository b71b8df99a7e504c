"""Client of the ERP's REST API (the reference ERP: ``/api/v1/stores/{store}/{entity}``,
Bearer token, canonical record shapes, ``page``/``per_page``/``updated_since`` lists,
soft deletes). Writes carry ``X-Sync-Origin: hub`` so the ERP's change notifications of
our own writes can be recognised as echoes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from crmhub.errors import NotFound
from crmhub.models.common import Entity
from crmhub.providers.http import ProviderHttp
from crmhub.rate_limit import RateLimiter

PATHS = {Entity.CUSTOMER: "customers", Entity.PRODUCT: "products", Entity.SALE: "sales", Entity.ACTIVITY: "activities"}


@dataclass(frozen=True)
class ErpPage:
    """One page of ERP records (canonical dicts)."""

    items: list[dict[str, Any]]
    next_page: int | None
    total: int | None = None


class ErpClient:
    """Reads and writes one store's records in the ERP."""

    def __init__(
        self,
        base_url: str,
        token: str,
        store_id: str,
        *,
        limiter: RateLimiter | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._store = store_id
        self._http = ProviderHttp(
            "erp",
            base_url,
            headers={"authorization": f"Bearer {token}"},
            limiter=limiter,
            timeout_s=timeout_s,
            error_message=_error_message,
            transport=transport,
        )

    def _path(self, entity: Entity, local_id: str | None = None) -> str:
        path = f"/api/v1/stores/{self._store}/{PATHS[entity]}"
        return f"{path}/{local_id}" if local_id else path

    def list_page(
        self,
        entity: Entity,
        page: int = 1,
        *,
        per_page: int = 100,
        updated_since: datetime | None = None,
        active: bool | None = None,
    ) -> ErpPage:
        """One page of records, oldest change first when ``updated_since`` is given."""
        params: dict[str, str] = {"page": str(page), "per_page": str(per_page)}
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        if active is not None:
            params["active"] = "true" if active else "false"
        body = self._http.request("GET", self._path(entity), params=params).json()
        return ErpPage(items=list(body.get("data") or []), next_page=body.get("next_page"), total=body.get("total"))

    def get(self, entity: Entity, local_id: str) -> dict[str, Any] | None:
        """One record, or None."""
        try:
            return dict(self._http.request("GET", self._path(entity, local_id)).json())
        except NotFound:
            return None

    def create(self, entity: Entity, data: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a record; returns it with the ERP's id. With ``idempotency_key`` a repeated
        create (a retry after a crash) returns the record the first one made."""
        headers = {"x-sync-origin": "hub"}
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        response = self._http.request("POST", self._path(entity), json=data, headers=headers)
        return dict(response.json())

    def update(self, entity: Entity, local_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Patch a record with ``data``."""
        response = self._http.request(
            "PATCH", self._path(entity, local_id), json=data, headers={"x-sync-origin": "hub"}
        )
        return dict(response.json())

    def deactivate(self, entity: Entity, local_id: str) -> datetime | None:
        """Soft-delete a record (the ERP keeps it inactive). Returns the record's
        ``updated_at`` afterwards (None when the ERP does not have the record)."""
        try:
            response = self._http.request("DELETE", self._path(entity, local_id), headers={"x-sync-origin": "hub"})
        except NotFound:
            return None
        try:
            return datetime.fromisoformat(str(response.json()["updated_at"]))
        except (ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        """Release the HTTP pool."""
        self._http.close()


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return response.text[:300]
    fields = error.get("fields")
    message = str(error.get("message") or error.get("code") or response.status_code)
    return f"{message}: {fields}" if fields else message
