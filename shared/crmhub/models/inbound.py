"""Changes that come FROM a provider (webhook or import), in canonical form."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crmhub.models.common import Entity, ProviderName


class ProviderChange(BaseModel):
    """One record change reported by a provider.

    ``event_id`` is the provider's delivery id where it has one (Pipedrive ``meta.id``,
    Bling ``eventId``) — the idempotency key; imports derive one from id + update time.
    ``data`` is the canonical record (already transformed from the provider's shape, ids
    inside still the provider's); it is None for deletes or when the webhook carries only
    an id (the worker then fetches the record).
    """

    model_config = ConfigDict(extra="forbid")

    provider: ProviderName
    event_id: str = Field(min_length=1, max_length=200)
    entity: Entity
    external_id: str = Field(min_length=1)
    action: Literal["create", "update", "delete"]
    occurred_at: AwareDatetime
    data: dict[str, Any] | None = None
    changed_fields: list[str] | None = Field(default=None, description="Fields the provider says changed, if known.")
    origin: Literal["app", "api", "unknown"] = Field(
        default="unknown", description="Pipedrive's change_source: 'api' changes may be our own writes echoed back."
    )


class WebhookRejected(Exception):
    """Authentication of a webhook failed (→ 401, nothing stored)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookMalformed(Exception):
    """A webhook that authenticated but cannot be understood (→ 400 with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def utc(dt: datetime) -> datetime:
    """Helper for providers: naive → assumed UTC."""
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
