"""Inbound events (ERP changes, provider webhooks), stored before they are acknowledged.

The event id is the idempotency key: a second delivery of the same event finds the item
and is acknowledged without being enqueued again.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from crmhub.storage.base import HubModel, UTCDateTime, utc_now

EVENT_RETENTION_DAYS = 30


class ByStore(GlobalSecondaryIndex["InboundEvent"]):
    """A store's events by arrival."""

    class Meta:
        index_name = "by_store"
        projection = AllProjection()

    store_id = UnicodeAttribute(hash_key=True)
    received_at = UnicodeAttribute(range_key=True)


class InboundEvent(HubModel):
    """One accepted input."""

    settings_field = "events_table"

    class Meta:
        table_name = "unbound-events"

    event_id = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    received_at = UnicodeAttribute()  # ISO-8601, sortable
    source = UnicodeAttribute()  # "erp" | "<provider>-webhook" | "bulk"
    entity = UnicodeAttribute(null=True)
    local_id = UnicodeAttribute(null=True)
    operation = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="accepted")  # accepted → enqueued → processed | failed
    payload = UnicodeAttribute(default="{}")
    last_error = UnicodeAttribute(null=True)
    rejected = NumberAttribute(null=True)  # on rejection counter items only
    updated_at = UTCDateTime(default=utc_now)
    expires_at = NumberAttribute()

    by_store = ByStore()

    def payload_dict(self) -> dict[str, Any]:
        """The stored payload."""
        return json.loads(self.payload)


def store_event(
    event_id: str,
    *,
    store_id: str,
    source: str,
    payload: dict[str, Any],
    entity: str | None = None,
    local_id: str | None = None,
    operation: str | None = None,
    now: datetime | None = None,
) -> tuple[InboundEvent, bool]:
    """Store an event unless it exists. Returns ``(event, created)``."""
    now = now or utc_now()
    event = InboundEvent(
        event_id,
        store_id=store_id,
        received_at=now.isoformat(timespec="microseconds"),
        source=source,
        entity=entity,
        local_id=local_id,
        operation=operation,
        payload=json.dumps(payload, sort_keys=True, default=str),
        updated_at=now,
        expires_at=int((now + timedelta(days=EVENT_RETENTION_DAYS)).timestamp()),
    )
    try:
        event.save(condition=InboundEvent.event_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return InboundEvent.get(event_id, consistent_read=True), False
        raise
    return event, True


def set_event_status(event_id: str, status: str, *, error: str | None = None) -> None:
    """Move an event along its lifecycle (missing events are ignored: TTL may have run)."""
    actions: list[Action] = [InboundEvent.status.set(status), InboundEvent.updated_at.set(utc_now())]
    actions.append(InboundEvent.last_error.set(error[:1000]) if error else InboundEvent.last_error.remove())
    try:
        InboundEvent(event_id).update(actions=actions, condition=InboundEvent.event_id.exists())
    except UpdateError as exc:  # a missing event (TTL ran) must not fail a sync
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def get_event(event_id: str) -> InboundEvent | None:
    """The event, if stored."""
    try:
        return InboundEvent.get(event_id, consistent_read=True)
    except DoesNotExist:
        return None


def count_rejection(store_id: str, source: str, reason: str, *, now: datetime | None = None) -> None:
    """Count a rejected input (nothing of it is stored): one counter item per store, source
    and day, kept for the events' retention."""
    now = now or utc_now()
    day = now.strftime("%Y-%m-%d")
    counter = InboundEvent(
        f"rejections#{store_id}#{source}#{day}",
        store_id=store_id,
        received_at=now.isoformat(timespec="microseconds"),
        source=f"{source}-rejections",
        status="counter",
        expires_at=int((now + timedelta(days=EVENT_RETENTION_DAYS)).timestamp()),
    )
    try:
        counter.save(condition=InboundEvent.event_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
    InboundEvent(counter.event_id).update(
        actions=[InboundEvent.rejected.add(1), InboundEvent.last_error.set(reason[:200])]
    )
