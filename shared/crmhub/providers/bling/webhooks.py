"""Bling webhooks: ``X-Bling-Signature-256`` verification and parsing.

Bling signs the raw body: ``X-Bling-Signature-256: sha256=<hex HMAC-SHA256(body,
client_secret)>``. The envelope is ``{eventId, date, version, event, companyId, data}``
with ``event`` like ``order.created`` / ``product.updated`` / ``contact.deleted`` and the
record's id in ``data.id``; deliveries are retried, so ``eventId`` is the dedupe key.
# [?] community-documented (PROVIDERS.md): the event names and ``data`` shapes are not in the
# spec, so a change carries only the id and the worker fetches the record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crmhub.models.common import Entity, ProviderName
from crmhub.models.inbound import ProviderChange, WebhookMalformed, WebhookRejected

SIGNATURE_HEADER = "x-bling-signature-256"
RESOURCES: dict[str, Entity] = {
    "order": Entity.SALE,
    "product": Entity.PRODUCT,
    "contact": Entity.CUSTOMER,
    "customer": Entity.CUSTOMER,
}
ACTIONS = {"created": "create", "updated": "update", "deleted": "delete"}


def sign(body: bytes, client_secret: str) -> str:
    """The header value Bling sends for ``body`` (also used by the simulator and tests)."""
    return "sha256=" + hmac.new(client_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(headers: Mapping[str, str], body: bytes, secret: Mapping[str, Any]) -> None:
    """Constant-time check of ``X-Bling-Signature-256``; raise :class:`WebhookRejected`."""
    client_secret = str(secret.get("client_secret") or "")
    if not client_secret:
        raise WebhookRejected("no client secret configured for this connection")
    received = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
    if not received:
        raise WebhookRejected("missing X-Bling-Signature-256 header")
    if not hmac.compare_digest(received.strip().lower().encode(), sign(body, client_secret).encode()):
        raise WebhookRejected("signature mismatch")


def _occurred_at(value: Any) -> datetime:
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise WebhookMalformed("date is not a time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise WebhookMalformed("date is missing")


def parse_webhook(headers: dict[str, str], body: bytes, secret: dict[str, Any]) -> list[ProviderChange]:
    """Verify a Bling delivery and turn it into canonical changes (``data`` None: the
    worker fetches the record). Events of resources the hub does not sync give ``[]``.

    Raises :class:`WebhookRejected` (bad/missing signature) or :class:`WebhookMalformed`.
    """
    verify_signature(headers, body, secret)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookMalformed("body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookMalformed("expected a JSON object")
    event_id, event = payload.get("eventId"), payload.get("event")
    data = payload.get("data")
    if not event_id or not isinstance(event, str) or "." not in event or not isinstance(data, dict):
        raise WebhookMalformed("expected eventId, event '<resource>.<action>' and data")
    resource, _, verb = event.rpartition(".")
    action = ACTIONS.get(verb)
    if action is None:
        raise WebhookMalformed(f"unknown action {verb!r}")
    entity = RESOURCES.get(resource)
    if entity is None:
        return []  # stock, invoices…: not synced
    if data.get("id") in (None, ""):
        raise WebhookMalformed("data.id is missing")
    try:
        return [
            ProviderChange(
                provider=ProviderName.BLING,
                event_id=str(event_id),
                entity=entity,
                external_id=str(data["id"]),
                action=action,  # type: ignore[arg-type]
                occurred_at=_occurred_at(payload.get("date")),
                origin="unknown",
            )
        ]
    except ValidationError as exc:
        raise WebhookMalformed(f"cannot read the event ({exc.error_count()} problems)") from None
