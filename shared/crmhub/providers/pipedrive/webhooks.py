"""Pipedrive webhooks v2: registration at connection setup and verification/parsing of
deliveries.

Official facts: a webhook is created with ``POST /v1/webhooks`` (``subscription_url``,
``event_action``, ``event_object``, ``version: "2.0"``, ``http_auth_user``,
``http_auth_password``). Deliveries are ``{meta, data, previous}``; ``meta`` carries
``id`` (the event id: deliveries are retried, so it is the dedupe key), ``action``
(create/change/delete), ``entity``, ``entity_id``, ``timestamp`` and ``change_source``
(``app``/``api``). On create ``previous`` is null; on change it holds only the changed
fields; on delete ``data`` is null. Authentication is **HTTP Basic only** (no signature),
so the credentials we set at registration are what we verify.

The connection's secret holds ``webhook_user``/``webhook_password`` (and the custom-field
maps the transforms need).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crmhub.models.common import Entity, ProviderName
from crmhub.models.inbound import ProviderChange, WebhookMalformed, WebhookRejected
from crmhub.observability import logger
from crmhub.providers.pipedrive import activities, organizations, persons, products
from crmhub.providers.pipedrive.client import PipedriveOptions, PipedriveProvider

# Pipedrive objects the hub follows, and the canonical entity each one feeds.
EVENT_OBJECTS: dict[str, Entity] = {
    "person": Entity.CUSTOMER,
    "organization": Entity.CUSTOMER,
    "deal": Entity.SALE,
    "product": Entity.PRODUCT,
    "activity": Entity.ACTIVITY,
}
_ACTIONS = {
    "create": "create",
    "added": "create",
    "change": "update",
    "updated": "update",
    "delete": "delete",
    "deleted": "delete",
}


def register_webhooks(
    client: PipedriveProvider,
    subscription_url: str,
    user: str,
    password: str,
    *,
    event_objects: tuple[str, ...] = tuple(EVENT_OBJECTS),
) -> list[str]:
    """Make sure one v2 webhook per followed object points at ``subscription_url`` with
    these Basic credentials (idempotent: matching webhooks are reused). Returns their ids."""
    existing = {
        (w.get("event_object"), w.get("event_action")): w
        for w in client.list_webhooks()
        if w.get("subscription_url") == subscription_url
        and str(w.get("version")) == "2.0"
        and w.get("is_active", True)
        and w.get("http_auth_user") == user
    }
    ids = []
    for event_object in event_objects:
        found = existing.get((event_object, "*"))
        if found is None:
            found = client.create_webhook(
                {
                    "subscription_url": subscription_url,
                    "event_action": "*",
                    "event_object": event_object,
                    "version": "2.0",
                    "http_auth_user": user,
                    "http_auth_password": password,
                }
            )
        ids.append(str(found.get("id")))
    logger.info("pipedrive_webhooks_registered", extra={"count": len(ids)})
    return ids


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def verify_basic_auth(headers: Mapping[str, str], secret: Mapping[str, Any]) -> None:
    """Check the Basic credentials in constant time; raise :class:`WebhookRejected`."""
    expected_user = str(secret.get("webhook_user") or "")
    expected_password = str(secret.get("webhook_password") or "")
    if not expected_user or not expected_password:
        raise WebhookRejected("no webhook credentials configured for this connection")
    header = _header(headers, "authorization")
    if not header:
        raise WebhookRejected("missing Authorization header")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookRejected("expected HTTP Basic authentication")
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookRejected("unreadable Basic credentials") from None
    user_ok = hmac.compare_digest(user.encode(), expected_user.encode())
    password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
    if not (sep and user_ok and password_ok):
        raise WebhookRejected("wrong webhook credentials")


def _occurred_at(meta: Mapping[str, Any]) -> datetime:
    raw = meta.get("timestamp")
    if isinstance(raw, int | float):
        return datetime.fromtimestamp(raw / 1000 if raw > 1e11 else raw, UTC)
    parsed = persons.timestamp(raw)
    if parsed is None:
        raise WebhookMalformed("meta.timestamp is missing or not a time")
    return parsed


def parse_webhook(headers: dict[str, str], body: bytes, secret: dict[str, Any]) -> list[ProviderChange]:
    """Verify a Pipedrive v2 delivery and turn it into canonical changes.

    Raises :class:`WebhookRejected` (bad/missing Basic auth) or :class:`WebhookMalformed`
    (not JSON, not a v2 payload). An object the hub does not follow gives ``[]``. The
    event id is ``meta.id``, so a retried delivery yields the same change id.
    """
    verify_basic_auth(headers, secret)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookMalformed("body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise WebhookMalformed("expected a v2 payload {meta, data, previous}")
    meta = payload["meta"]
    if str(meta.get("version", "2.0")) != "2.0":
        raise WebhookMalformed("only webhooks v2 are supported")
    data, previous = payload.get("data"), payload.get("previous")
    if (data is not None and not isinstance(data, dict)) or (previous is not None and not isinstance(previous, dict)):
        raise WebhookMalformed("data and previous must be objects or null")
    event_id, entity_name = meta.get("id"), meta.get("entity")
    action = _ACTIONS.get(str(meta.get("action")))
    entity_id = meta.get("entity_id") or (data or {}).get("id") or (previous or {}).get("id")
    if not event_id or not entity_name or action is None or entity_id in (None, ""):
        raise WebhookMalformed("meta needs id, action, entity and entity_id")
    entity = EVENT_OBJECTS.get(str(entity_name))
    if entity is None:
        return []  # an object the hub does not sync (notes, leads…)
    options = PipedriveOptions.from_credentials(secret)
    origin = meta.get("change_source") if meta.get("change_source") in ("app", "api") else "unknown"
    external_id, change_data = str(entity_id), None
    current = data or previous or {}
    if entity_name == "organization":
        external_id = organizations.external_id(entity_id)  # fetched whole (needs its contact)
    elif entity_name == "person" and current.get("org_id"):
        # a company's contact person: its company customer changed
        external_id, action = organizations.external_id(current["org_id"]), "update"
    elif action != "delete" and data is not None:
        change_data = _canonical(entity_name, data, options)
    try:
        return [
            ProviderChange(
                provider=ProviderName.PIPEDRIVE,
                event_id=str(event_id),
                entity=entity,
                external_id=external_id,
                action=action,  # type: ignore[arg-type]
                occurred_at=_occurred_at(meta),
                data=change_data,
                changed_fields=sorted(previous) if action == "update" and previous else None,
                origin=origin,
            )
        ]
    except ValidationError as exc:
        raise WebhookMalformed(f"cannot read the event ({exc.error_count()} problems)") from None


def _canonical(entity_name: str, data: dict[str, Any], options: PipedriveOptions) -> dict[str, Any] | None:
    """The canonical record of a delivery's ``data`` where it is complete (deals are not:
    their products are fetched by the worker)."""
    try:
        if entity_name == "person":
            return persons.from_provider(data, options.person_fields).model_dump(mode="json")
        if entity_name == "product":
            return products.from_provider(data, options.product_fields, options.currency).model_dump(mode="json")
        if entity_name == "activity":
            return activities.from_provider(data, options.activity_types).model_dump(mode="json")
    except (ValidationError, ValueError):
        return None  # the worker fetches the record and reports what is wrong with it
    return None
