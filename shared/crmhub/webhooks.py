"""Inbound webhooks: ``POST /webhooks/<provider>/<store>``.

Each provider verifies its own scheme (``providers/<name>/webhooks.py``: Pipedrive HTTP
Basic, Bling ``X-Bling-Signature-256``; the ERP's own Standard Webhooks in
``erp/webhooks.py``). Then every event is stored under its idempotency key **before** the
reply, and enqueued; the reply is fast: no provider is called here. A repeated delivery
is acknowledged and ignored. Bad authentication → 401 and nothing stored; a malformed body
→ 400 with the reason, only counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from crmhub.credentials import ERP_SECRET, CredentialStore
from crmhub.errors import NotFound
from crmhub.models.changes import InboundMessage
from crmhub.models.common import Lane, ProviderName
from crmhub.models.inbound import ProviderChange, WebhookMalformed, WebhookRejected
from crmhub.observability import logger, metrics
from crmhub.queueing import SyncQueue
from crmhub.storage.base import utc_now
from crmhub.storage.connections import get_connection
from crmhub.storage.events import count_rejection, set_event_status, store_event
from crmhub.storage.stores import get_store

Parser = Callable[[dict[str, str], bytes, dict[str, Any]], list[ProviderChange]]


def _parser(provider: str) -> Parser | None:
    if provider == ProviderName.PIPEDRIVE:
        from crmhub.providers.pipedrive.webhooks import parse_webhook

        return parse_webhook
    if provider == ProviderName.BLING:
        from crmhub.providers.bling.webhooks import parse_webhook as parse_bling

        return parse_bling
    return None


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": {"code": code, "message": message}})


class WebhookReceiver:
    """Verifies, stores and enqueues one delivery."""

    def __init__(self, *, queue: SyncQueue | None = None, credentials: CredentialStore | None = None) -> None:
        self._queue = queue
        self._credentials = credentials

    @property
    def queue(self) -> SyncQueue:
        if self._queue is None:
            self._queue = SyncQueue()
        return self._queue

    @property
    def credentials(self) -> CredentialStore:
        if self._credentials is None:
            self._credentials = CredentialStore()
        return self._credentials

    def receive(self, provider: str, store_id: str, headers: dict[str, str], body: bytes) -> Response:
        """The whole webhook path, as an HTTP answer."""
        try:
            get_store(store_id)
        except NotFound:
            return _error(404, "not_found", f"store {store_id!r} does not exist")
        if provider == "erp":
            return self._erp(store_id, headers, body)
        parser = _parser(provider)
        if parser is None:
            metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
            return _error(404, "unknown_provider", f"no webhooks for provider {provider!r}")
        try:
            connection = get_connection(store_id, provider)
            secret = self.credentials.get(store_id, provider)
        except NotFound:
            return _error(404, "not_found", f"store {store_id!r} has no {provider} connection")
        try:
            changes = parser(headers, body, secret)
        except WebhookRejected as exc:
            metrics.add_metric(name="WebhookUnauthorized", unit="Count", value=1)
            return _error(401, "invalid_signature", exc.reason)
        except WebhookMalformed as exc:
            count_rejection(store_id, provider, "malformed")
            metrics.add_metric(name="WebhookMalformed", unit="Count", value=1)
            return _error(400, "malformed_webhook", exc.reason)
        return self._accept(store_id, provider, changes, connection.settings.lane_for)

    def _accept(self, store_id: str, provider: str, changes: list[ProviderChange], lane_for: Any) -> Response:
        now = utc_now()
        fresh: list[tuple[InboundMessage, Lane]] = []
        duplicates = 0
        for change in changes:
            event_id = f"{provider}:{change.event_id}"
            _event, created = store_event(
                event_id,
                store_id=store_id,
                source=f"{provider}-webhook",
                payload=change.model_dump(mode="json"),
                entity=str(change.entity),
                local_id=f"ext:{change.external_id}",
                operation=change.action,
                now=now,
            )
            if not created:
                duplicates += 1
                continue
            fresh.append((InboundMessage(store_id=store_id, change=change, enqueued_at=now), lane_for(change.entity)))
        if fresh:
            self.queue.send_inbound(fresh)
            for message, _lane in fresh:
                set_event_status(f"{provider}:{message.change.event_id}", "enqueued")
        metrics.add_metric(name="WebhookAccepted", unit="Count", value=len(fresh))
        if duplicates:
            metrics.add_metric(name="WebhookDuplicates", unit="Count", value=duplicates)
        logger.info(
            "webhook", extra={"store": store_id, "provider": provider, "accepted": len(fresh), "duplicates": duplicates}
        )
        return _json(200, {"accepted": len(fresh), "duplicates": duplicates})

    def _erp(self, store_id: str, headers: dict[str, str], body: bytes) -> Response:
        from crmhub.changes import accept_change
        from crmhub.erp.webhooks import parse_erp_webhook

        try:
            secret = self.credentials.get(store_id, ERP_SECRET)
        except NotFound:
            return _error(404, "not_found", f"store {store_id!r} has no ERP credentials")
        try:
            changes = parse_erp_webhook(headers, body, secret)
        except WebhookRejected as exc:
            metrics.add_metric(name="WebhookUnauthorized", unit="Count", value=1)
            return _error(401, "invalid_signature", exc.reason)
        except WebhookMalformed as exc:
            count_rejection(store_id, "erp", "malformed")
            return _error(400, "malformed_webhook", exc.reason)
        results = [accept_change(store_id, change, queue=self.queue) for change in changes]
        duplicates = sum(1 for r in results if r.status == "duplicate")
        return _json(200, {"accepted": len(results) - duplicates, "duplicates": duplicates})


def register_routes(app: APIGatewayRestResolver, receiver: WebhookReceiver | None = None) -> None:
    """Add the webhook route."""
    receiver = receiver or WebhookReceiver()

    @app.post("/webhooks/<provider>/<store_id>")
    def receive(provider: str, store_id: str) -> Response:
        event = app.current_event
        body = event.decoded_body.encode() if isinstance(event.decoded_body, str) else (event.decoded_body or b"")
        headers = {k.lower(): v for k, v in (event.headers or {}).items()}
        return receiver.receive(provider, store_id, headers, body)
