"""Accepting ERP changes: store first (idempotently), then enqueue one message per
connection that sends this entity to its provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crmhub.models.changes import ChangeRequest, SyncMessage
from crmhub.models.common import Lane
from crmhub.observability import logger, metrics
from crmhub.queueing import SyncQueue
from crmhub.storage.base import utc_now
from crmhub.storage.connections import list_connections
from crmhub.storage.events import set_event_status, store_event
from crmhub.storage.stores import get_store


@dataclass(frozen=True)
class ChangeAccepted:
    """The API's answer to a change."""

    change_id: str
    status: str  # "enqueued" | "duplicate" | "no_connection" | "ignored_echo"
    providers: list[str] = field(default_factory=list)


def accept_change(
    store_id: str,
    change: ChangeRequest,
    *,
    queue: SyncQueue,
    clock: Callable[[], datetime] = utc_now,
    source: str = "api",
) -> ChangeAccepted:
    """Persist ``change`` and enqueue it for every interested connection.

    Safe to call again with the same change: the event id is derived from the change, the
    stored event says whether it was already enqueued, and SQS deduplicates the messages.
    """
    get_store(store_id)  # NotFound → 404
    change_id = change.change_id(store_id)
    event, created = store_event(
        change_id,
        store_id=store_id,
        source="erp",
        payload=change.model_dump(mode="json"),
        entity=str(change.entity),
        local_id=change.local_id,
        operation=str(change.operation),
        now=clock(),
    )
    if not created and event.status not in ("accepted",):
        metrics.add_metric(name="DuplicateChanges", unit="Count", value=1)
        return ChangeAccepted(change_id, "duplicate")
    if change.origin == "hub":
        # The ERP echoing a write the hub made: nothing new to send back.
        set_event_status(change_id, "ignored_echo")
        return ChangeAccepted(change_id, "ignored_echo")

    now = clock()
    messages: list[tuple[SyncMessage, Lane]] = []
    for connection in list_connections(store_id, enabled_only=True):
        settings = connection.settings
        if not settings.for_entity(change.entity).sends_to_provider():
            continue
        message = SyncMessage(
            change_id=change_id,
            store_id=store_id,
            provider=connection.provider_name,
            entity=change.entity,
            local_id=change.local_id,
            operation=change.operation,
            data=change.data,
            updated_at=change.updated_at,
            enqueued_at=now,
            source="bulk" if source == "bulk" else "api",
        )
        messages.append((message, settings.lane_for(change.entity)))
    if not messages:
        set_event_status(change_id, "no_connection")
        return ChangeAccepted(change_id, "no_connection")
    queue.send_many(messages)
    set_event_status(change_id, "enqueued")
    metrics.add_metric(name="ChangesEnqueued", unit="Count", value=len(messages))
    logger.info(
        "change_enqueued",
        extra={"store": store_id, "entity": str(change.entity), "local_id": change.local_id, "messages": len(messages)},
    )
    return ChangeAccepted(change_id, "enqueued", [str(m.provider) for m, _ in messages])
