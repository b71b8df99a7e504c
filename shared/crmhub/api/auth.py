"""Who is calling: the API key of the request (API Gateway has already checked that it is
in the usage plan; this decides which store it may touch)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from crmhub.storage.api_keys import Principal, authenticate


def current_principal(app: BaseRouter) -> Principal:
    """The caller, or :class:`~crmhub.errors.Unauthorized`."""
    event = app.current_event
    key = event.headers.get("x-api-key") or event.headers.get("X-Api-Key")
    if not key:
        identity = (event.raw_event.get("requestContext") or {}).get("identity") or {}
        key = identity.get("apiKey")
    return authenticate(key)


def authorize_store(app: BaseRouter, store_id: str) -> Principal:
    """The caller, if it may act on ``store_id`` (else 401/403)."""
    principal = current_principal(app)
    principal.require_store(store_id)
    return principal
