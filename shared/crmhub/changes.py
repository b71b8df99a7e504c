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
from crmhub.storage.connections import ConnectionRecord, list_connections
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
    return accept_changes(store_id, [change], queue=queue, clock=clock, source=source)[0]


def accept_changes(
    store_id: str,
    changes: list[ChangeRequest],
    *,
    queue: SyncQueue,
    clock: Callable[[], datetime] = utc_now,
    source: str = "api",
) -> list[ChangeAccepted]:
    """:func:`accept_change` for many changes of one store (a bulk page): the store and its
    connections are read once and the messages sent in batches of ten. Each change is
    still stored before it is enqueued and marked enqueued after, so a crash anywhere
    re-sends at most what SQS deduplicates."""
    get_store(store_id)  # NotFound → 404
    connections = list(list_connections(store_id, enabled_only=True))
    results: list[ChangeAccepted | None] = [None] * len(changes)
    pending: list[tuple[int, str, list[tuple[SyncMessage, Lane]]]] = []
    for index, change in enumerate(changes):
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
            results[index] = ChangeAccepted(change_id, "duplicate")
            continue
        if change.origin == "hub":
            # The ERP echoing a write the hub made: nothing new to send back.
            set_event_status(change_id, "ignored_echo")
            results[index] = ChangeAccepted(change_id, "ignored_echo")
            continue
        messages = _messages(store_id, change, connections, clock(), source)
        if not messages:
            set_event_status(change_id, "no_connection")
            results[index] = ChangeAccepted(change_id, "no_connection")
            continue
        pending.append((index, change_id, messages))
    if pending:
        queue.send_many([m for _, _, messages in pending for m in messages])
    for index, change_id, messages in pending:
        set_event_status(change_id, "enqueued")
        metrics.add_metric(name="ChangesEnqueued", unit="Count", value=len(messages))
        change = changes[index]
        logger.info(
            "change_enqueued",
            extra={
                "store": store_id,
                "entity": str(change.entity),
                "local_id": change.local_id,
                "messages": len(messages),
            },
        )
        results[index] = ChangeAccepted(change_id, "enqueued", [str(m.provider) for m, _ in messages])
    return [r for r in results if r is not None]


def _messages(
    store_id: str,
    change: ChangeRequest,
    connections: list[ConnectionRecord],
    now: datetime,
    source: str,
) -> list[tuple[SyncMessage, Lane]]:
    """One message per connection that sends this entity to its provider."""
    messages: list[tuple[SyncMessage, Lane]] = []
    for connection in connections:
        settings = connection.settings
        if not settings.for_entity(change.entity).sends_to_provider():
            continue
        message = SyncMessage.for_change(
            store_id, change, connection.provider_name, enqueued_at=now, source="bulk" if source == "bulk" else "api"
        )
        messages.append((message, settings.lane_for(change.entity)))
    return messages
