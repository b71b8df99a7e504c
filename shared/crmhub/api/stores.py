"""Stores and their API keys (admin key only), and connections (store key or admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from crmhub.api.auth import authorize_store, current_principal
from crmhub.api.common import StoreId, credential_store
from crmhub.credentials import ERP_SECRET
from crmhub.errors import Forbidden, NotFound
from crmhub.models.common import ProviderName
from crmhub.models.connection import ConnectionSettings
from crmhub.storage import api_keys, connections, stores
from crmhub.storage.base import utc_now

router = APIGatewayRouter()


class StoreBody(BaseModel):
    """Create or update a store."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    active: bool = True
    erp_base_url: HttpUrl | None = Field(default=None, description="The ERP's API base URL.")
    erp_token: str | None = Field(default=None, description="The ERP API token (stored in Secrets Manager).")
    erp_webhook_secret: str | None = Field(
        default=None,
        pattern=r"^whsec_[A-Za-z0-9+/]{24,}={0,2}$",
        description="The Standard Webhooks secret the ERP signs POST /webhooks/erp/{store} with "
        "(whsec_ + base64; stored in Secrets Manager).",
    )


class StoreView(BaseModel):
    """A store as the API shows it (no secrets)."""

    store_id: str
    name: str
    active: bool
    erp_base_url: str | None
    created_at: datetime


class ApiKeyBody(BaseModel):
    """Issue an API key for a store."""

    label: str = Field(default="", max_length=80)


class ConnectionBody(BaseModel):
    """Create or update a connection. ``credentials`` go to Secrets Manager, never back out."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    settings: ConnectionSettings = Field(default_factory=ConnectionSettings)
    credentials: dict[str, Any] | None = None


class ConnectionView(BaseModel):
    """A connection as the API shows it (no credentials)."""

    store_id: str
    provider: str
    enabled: bool
    settings: ConnectionSettings
    updated_at: datetime
    last_test_ok: bool | None = None
    last_test_at: datetime | None = None
    last_test_message: str | None = None


def _require_admin() -> None:
    if not current_principal(router).is_admin:
        raise Forbidden("an admin API key is required")


def _store_view(record: stores.StoreRecord) -> StoreView:
    return StoreView(
        store_id=record.store_id,
        name=record.name,
        active=record.active,
        erp_base_url=record.erp_base_url,
        created_at=record.created_at,
    )


def connection_view(record: connections.ConnectionRecord) -> ConnectionView:
    """Public view of a connection."""
    return ConnectionView(
        store_id=record.store_id,
        provider=record.provider,
        enabled=record.enabled,
        settings=record.settings,
        updated_at=record.updated_at,
        last_test_ok=record.last_test_ok,
        last_test_at=record.last_test_at,
        last_test_message=record.last_test_message,
    )


@router.put("/api/v1/stores/<store_id>", tags=["stores"], summary="Create or update a store (admin)")
def put_store(store_id: StoreId, body: StoreBody) -> StoreView:
    """Admin: register a store and its ERP API."""
    _require_admin()
    record = stores.put_store(
        store_id,
        body.name,
        active=body.active,
        erp_base_url=str(body.erp_base_url).rstrip("/") if body.erp_base_url else None,
    )
    if body.erp_token or body.erp_webhook_secret:
        credentials = credential_store()
        try:
            secret = dict(credentials.get(store_id, ERP_SECRET, fresh=True))
        except NotFound:
            secret = {}
        if body.erp_token:
            secret["token"] = body.erp_token
        if body.erp_webhook_secret:
            secret["webhook_secret"] = body.erp_webhook_secret
        credentials.put(store_id, ERP_SECRET, secret)
    return _store_view(record)


@router.get("/api/v1/stores/<store_id>", tags=["stores"], summary="Read a store")
def get_store(store_id: StoreId) -> StoreView:
    """The store (its own key or admin)."""
    authorize_store(router, store_id)
    return _store_view(stores.get_store(store_id))


@router.get("/api/v1/stores", tags=["stores"], summary="List stores (admin)")
def list_stores() -> list[StoreView]:
    """Admin: every store."""
    _require_admin()
    return [_store_view(s) for s in stores.list_stores()]


@router.post("/api/v1/stores/<store_id>/api-keys", tags=["stores"], summary="Issue a store API key (admin)")
def post_api_key(store_id: StoreId, body: ApiKeyBody) -> Response[dict]:
    """Admin: a new key for the store, shown once."""
    _require_admin()
    stores.get_store(store_id)
    key = api_keys.issue_api_key(store_id, body.label)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body={"store_id": store_id, "api_key": key, "label": body.label},
    )


@router.get("/api/v1/stores/<store_id>/connections", tags=["connections"], summary="List connections")
def list_connections(store_id: StoreId) -> list[ConnectionView]:
    """The store's connections."""
    authorize_store(router, store_id)
    stores.get_store(store_id)
    return [connection_view(c) for c in connections.list_connections(store_id)]


@router.put(
    "/api/v1/stores/<store_id>/connections/<provider>", tags=["connections"], summary="Create or update a connection"
)
def put_connection(store_id: StoreId, provider: ProviderName, body: ConnectionBody) -> ConnectionView:
    """Settings to DynamoDB, credentials to Secrets Manager."""
    authorize_store(router, store_id)
    stores.get_store(store_id)
    if body.credentials is not None:
        credential_store().put(store_id, str(provider), body.credentials)
    record = connections.put_connection(store_id, provider, body.settings, enabled=body.enabled)
    return connection_view(record)


@router.post("/api/v1/stores/<store_id>/connections/<provider>/enable", tags=["connections"], summary="Enable")
def enable_connection(store_id: StoreId, provider: ProviderName) -> ConnectionView:
    """Resume syncing with this provider."""
    return _set_enabled(store_id, provider, True)


@router.post("/api/v1/stores/<store_id>/connections/<provider>/disable", tags=["connections"], summary="Disable")
def disable_connection(store_id: StoreId, provider: ProviderName) -> ConnectionView:
    """Stop syncing with this provider (queued changes are skipped and logged)."""
    return _set_enabled(store_id, provider, False)


def _set_enabled(store_id: str, provider: ProviderName, enabled: bool) -> ConnectionView:
    authorize_store(router, store_id)
    record = connections.get_connection(store_id, str(provider))
    record.update(
        actions=[
            connections.ConnectionRecord.enabled.set(enabled),
            connections.ConnectionRecord.updated_at.set(utc_now()),
        ]
    )
    return connection_view(record)


@router.post("/api/v1/stores/<store_id>/connections/<provider>/test", tags=["connections"], summary="Test a connection")
def test_connection(store_id: StoreId, provider: ProviderName) -> dict:
    """Call the provider with the stored credentials (counts against its rate budget)."""
    from crmhub.sync.engine import SyncEngine

    authorize_store(router, store_id)
    record = connections.get_connection(store_id, str(provider))
    engine = SyncEngine(credentials=credential_store())
    client = engine.provider_for(record)
    try:
        result = client.test_connection()
    finally:
        client.close()
    now = utc_now()
    record.update(
        actions=[
            connections.ConnectionRecord.last_test_ok.set(result.ok),
            connections.ConnectionRecord.last_test_at.set(now),
            connections.ConnectionRecord.last_test_message.set(result.message[:300]),
        ]
    )
    return {"ok": result.ok, "message": result.message, "latency_ms": round(result.latency_ms, 1)}


class WebhookRegistration(BaseModel):
    """Where the provider should send its webhooks (default: this API's own address)."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None


@router.post(
    "/api/v1/stores/<store_id>/connections/<provider>/webhooks",
    tags=["connections"],
    summary="Register the hub's webhook with the provider",
)
def register_webhooks(store_id: StoreId, provider: ProviderName, body: WebhookRegistration) -> dict:
    """Pipedrive: creates (idempotently) one v2 webhook per object with HTTP Basic
    credentials kept in the connection's secret. Bling: webhooks are configured in Bling's
    app settings; the answer says which URL to set. GestãoClick has no webhooks."""
    import secrets

    from crmhub.errors import InvalidInput
    from crmhub.sync.engine import SyncEngine

    authorize_store(router, store_id)
    record = connections.get_connection(store_id, str(provider))
    url = str(body.url) if body.url else _own_webhook_url(store_id, str(provider))
    if provider is ProviderName.GESTAOCLICK:
        raise InvalidInput("GestãoClick has no webhooks: its changes arrive by the scheduled import")
    if provider is ProviderName.BLING:
        return {
            "provider": str(provider),
            "url": url,
            "registered": False,
            "instructions": "set this URL as the webhook of the Bling app; deliveries are verified with the "
            "app's client secret (X-Bling-Signature-256)",
        }
    from crmhub.providers.pipedrive.webhooks import register_webhooks as register

    credentials = credential_store().get(store_id, str(provider), fresh=True)
    if not credentials.get("webhook_user") or not credentials.get("webhook_password"):
        credentials = {**credentials, "webhook_user": "crmhub", "webhook_password": secrets.token_urlsafe(24)}
        credential_store().put(store_id, str(provider), credentials)
        record.update(actions=[connections.ConnectionRecord.updated_at.set(utc_now())])
    client = SyncEngine(credentials=credential_store()).provider_for(record)
    ids = register(client, url, credentials["webhook_user"], credentials["webhook_password"])  # type: ignore[arg-type]
    return {"provider": str(provider), "url": url, "registered": True, "webhook_ids": ids}


def _own_webhook_url(store_id: str, provider: str) -> str:
    """This API's public address for the provider's webhooks."""
    event = router.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    host = headers.get("host", "localhost")
    proto = headers.get("x-forwarded-proto", "https" if "amazonaws.com" in host else "http")
    stage = (event.raw_event.get("requestContext") or {}).get("stage")
    prefix = f"/{stage}" if stage and "execute-api" in host else ""
    return f"{proto}://{host}{prefix}/webhooks/{provider}/{store_id}"
