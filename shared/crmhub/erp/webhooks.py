"""The ERP may also report changes as webhooks in our own format, signed with the
Standard Webhooks scheme (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256>``, ±5 minutes, several secrets for rotation).
The body is one change (the ``POST …/changes`` body) or a list of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from crmhub.models.changes import ChangeRequest
from crmhub.models.inbound import WebhookMalformed, WebhookRejected

_CHANGES: TypeAdapter[list[ChangeRequest]] = TypeAdapter(list[ChangeRequest])


def parse_erp_webhook(headers: Mapping[str, str], body: bytes, secret: Mapping[str, Any]) -> list[ChangeRequest]:
    """Verify the signature with any of the store's webhook secrets, then parse the changes."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    secrets = secret.get("webhook_secrets") or ([secret["webhook_secret"]] if secret.get("webhook_secret") else [])
    if not secrets:
        raise WebhookRejected("no webhook secret is configured for this store")
    lowered = {k.lower(): v for k, v in headers.items()}
    for candidate in secrets:
        try:
            Webhook(candidate).verify(body, lowered)
            break
        except WebhookVerificationError:
            continue
    else:
        raise WebhookRejected("signature, timestamp or id is missing or not valid")
    try:
        payload = json.loads(body)
        return _CHANGES.validate_python(payload if isinstance(payload, list) else [payload])
    except (ValueError, ValidationError) as exc:
        raise WebhookMalformed(f"body is not a change or a list of changes: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()[:5])
    return "invalid JSON"
