"""Incremental imports (provider → ERP), one page per invocation, resumable.

Every 10 minutes (and on demand) each enabled connection gets, per entity that flows from
the provider to the ERP, an import run: a job record holds its cursor, so a crash resumes
at the page it was on instead of restarting. Providers with a changed-since filter
(Pipedrive ``updated_since``, Bling ``dataAlteracaoInicial``) are asked for what changed
since the last run; providers without one (GestãoClick) are scanned in full and each
record compared with its link's last-synced snapshot. Changed and new records go through
the same queue and worker path as webhooks. A full scan also finds records deleted in the
provider (linked, but not seen): each is confirmed with a read before it is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crmhub.conflicts.merge import flatten
from crmhub.errors import HubError, NotFound, TransientError
from crmhub.models.changes import ImportPageMessage, InboundMessage
from crmhub.models.common import Entity, Lane, ProviderName
from crmhub.models.inbound import ProviderChange
from crmhub.observability import logger, metrics
from crmhub.providers.base import ExternalRecord
from crmhub.queueing import SyncQueue
from crmhub.storage import entity_links as links
from crmhub.storage.base import utc_now
from crmhub.storage.connections import get_connection, list_connections
from crmhub.storage.jobs import JobRecord
from crmhub.storage.stores import get_store, list_stores
from crmhub.sync.references import localize

if TYPE_CHECKING:
    from crmhub.sync.engine import SyncEngine

RUN_STALE_AFTER = timedelta(minutes=15)


def import_job_id(provider: str, entity: Entity | str) -> str:
    """The job record of a (provider, entity) import (one per store)."""
    return f"import.{provider}.{entity}"


def schedule_imports(
    *, queue: SyncQueue, clock: Callable[[], datetime] = utc_now, full: bool = False
) -> dict[str, Any]:
    """The scheduled run: start an import for every enabled connection and entity the
    provider supports. ``full`` (the weekly reconciliation) scans everything, whatever the
    provider's changed-since support, and so also finds deletions."""
    from crmhub.providers import REGISTRY

    started, running = [], 0
    for store in list_stores():
        if not store.active:
            continue
        for connection in list_connections(store.store_id, enabled_only=True):
            for entity in Entity:
                spec = REGISTRY.get(connection.provider_name)
                if spec is None or entity not in spec.entities:
                    continue
                if not connection.settings.for_entity(entity).receives_from_provider():
                    continue
                _job, created = start_import(
                    store.store_id, connection.provider_name, entity, queue=queue, clock=clock, full=full
                )
                if created:
                    started.append({"store": store.store_id, "provider": connection.provider, "entity": str(entity)})
                else:
                    running += 1
    logger.info("imports_scheduled", extra={"started": len(started), "still_running": running})
    return {"started": started, "still_running": running}


def start_import(
    store_id: str,
    provider: ProviderName,
    entity: Entity,
    *,
    queue: SyncQueue,
    clock: Callable[[], datetime] = utc_now,
    full: bool = False,
) -> tuple[JobRecord, bool]:
    """Start a run (or return the one in progress). Returns ``(job, started)``."""
    get_store(store_id)
    get_connection(store_id, str(provider))  # NotFound → 404
    now = clock()
    job = _get_or_create(store_id, str(provider), entity, now)
    if job.status == "running" and now - job.updated_at < RUN_STALE_AFTER:
        return job, False
    details = _details(job)
    details.update(
        run_id=now.isoformat(),
        run_started_at=now.isoformat(),
        pages=0,
        changed=0,
        unchanged=0,
        deleted=0,
        mode="pending",
    )
    details.pop("page_cursor", None)
    details.pop("next_cursor", None)
    if full:
        details.pop("since", None)
    job.status, job.cursor, job.done, job.updated_at = "running", None, 0, now
    job.details = details
    job.save()
    _enqueue_page(queue, store_id, str(provider), entity, job.job_id, None, details)
    return job, True


def process_import_page(
    message: ImportPageMessage, *, engine: SyncEngine, queue: SyncQueue, clock: Callable[[], datetime] = utc_now
) -> JobRecord:
    """One page: fetch, compare, enqueue changes, save the cursor, enqueue the next page."""
    job = JobRecord.get(message.store_id, message.job_id, consistent_read=True)
    details = _details(job)
    if job.status != "running" or (message.cursor or None) != (job.cursor or None):
        if (
            job.status == "running"
            and job.cursor
            and (message.cursor or None) == details.get("page_cursor")
            and job.cursor == details.get("next_cursor")
        ):
            # This page was done and its cursor saved, but the worker may have died before
            # queueing the next page: queue it again (same deduplication id, so SQS drops
            # it if the first one was sent).
            _enqueue_page(
                queue, message.store_id, str(message.provider), message.entity, job.job_id, job.cursor, details
            )
        return job  # a redelivered page already done, or a finished run
    now = clock()
    connection = get_connection(message.store_id, str(message.provider))
    provider = engine.provider_for(connection)
    since = datetime.fromisoformat(details["since"]) if details.get("since") else None
    incremental = bool(getattr(provider, "supports_updated_since", False)) and since is not None
    page = (
        provider.list_changed(message.entity, since, message.cursor)
        if incremental
        else provider.list_page(message.entity, message.cursor)
    )
    details["mode"] = "changed_since" if incremental else "full_scan"
    changes: list[tuple[InboundMessage, Lane]] = []
    lane = connection.settings.lane_for(message.entity)
    for item in page.items:
        change = _change_for(message, item, details, incremental, now)
        if change is None:
            details["unchanged"] = int(details.get("unchanged", 0)) + 1
            continue
        changes.append(
            (InboundMessage(store_id=message.store_id, change=change, source="import", enqueued_at=now), lane)
        )
    if changes:
        queue.send_inbound(changes)
    details["changed"] = int(details.get("changed", 0)) + len(changes)
    details["pages"] = int(details.get("pages", 0)) + 1
    job.done = int(job.done or 0) + len(page.items)
    job.updated_at = now
    if page.next_cursor:
        job.cursor = page.next_cursor
        details["page_cursor"], details["next_cursor"] = message.cursor, page.next_cursor
        job.details = details
        job.save()
        _enqueue_page(
            queue, message.store_id, str(message.provider), message.entity, job.job_id, page.next_cursor, details
        )
        return job
    if not incremental:
        details["deleted"] = _deletions(message, engine, queue, details, lane, now)
    details["since"] = details.get("run_started_at")
    job.cursor, job.status, job.details = None, "idle", details
    job.save()
    metrics.add_metric(name="ImportRuns", unit="Count", value=1)
    logger.info(
        "import_done",
        extra={
            "store": message.store_id,
            "provider": str(message.provider),
            "entity": str(message.entity),
            "changed": details["changed"],
            "unchanged": details["unchanged"],
            "deleted": details["deleted"],
        },
    )
    return job


def _change_for(
    message: ImportPageMessage, item: ExternalRecord, details: dict[str, Any], incremental: bool, now: datetime
) -> ProviderChange | None:
    """A change to enqueue for ``item``, or None when the link's snapshot already matches."""
    store, provider = message.store_id, str(message.provider)
    link = links.find_by_external_id(store, provider, message.entity, item.external_id)
    if link is not None and not incremental:
        link.update(actions=[links.EntityLink.seen_in_scan.set(details["run_id"])])
    view_hash = None
    if link is not None and link.snapshot:
        try:
            view = flatten(localize(store, provider, item.record).comparable())
        except TransientError:
            view = None  # references not linked yet: let the worker wait for them
        if view is not None and view == link.snapshot_flat():
            return None
        view_hash = hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()[:16]
    occurred = item.record.updated_at or now
    return ProviderChange(
        provider=message.provider,
        event_id=f"import:{message.entity}:{item.external_id}:{view_hash or occurred.isoformat()}",
        entity=message.entity,
        external_id=item.external_id,
        action="update" if link else "create",
        occurred_at=occurred,
        data=item.record.model_dump(mode="json", exclude={"id"}),
    )


def _deletions(
    message: ImportPageMessage,
    engine: SyncEngine,
    queue: SyncQueue,
    details: dict[str, Any],
    lane: Lane,
    now: datetime,
) -> int:
    """Linked records a full scan did not see: confirmed gone by a read, they become deletes."""
    store, provider_name = message.store_id, str(message.provider)
    provider = engine.provider_for(get_connection(store, provider_name))
    deleted: list[tuple[InboundMessage, Lane]] = []
    start: dict | None = None
    run_started = datetime.fromisoformat(str(details.get("run_started_at") or now.isoformat()))
    while True:
        page = links.list_links(store, provider_name, message.entity, limit=100, start=start)
        for link in page:
            if link.status != links.STATUS_LINKED or link.seen_in_scan == details["run_id"] or not link.external_id:
                continue
            if link.created_at >= run_started:
                continue  # linked during this run (e.g. created from this very scan): not a deletion

            try:
                if provider.get(message.entity, link.external_id) is not None:
                    continue
            except NotFound:
                pass
            except HubError:
                continue  # not sure: the next scan will look again
            deleted.append(
                (
                    InboundMessage(
                        store_id=store,
                        enqueued_at=now,
                        source="import",
                        change=ProviderChange(
                            provider=message.provider,
                            event_id=f"import-delete:{message.entity}:{link.external_id}",
                            entity=message.entity,
                            external_id=link.external_id,
                            action="delete",
                            occurred_at=now,
                        ),
                    ),
                    lane,
                )
            )
        start = page.last_evaluated_key
        if not start:
            break
    if deleted:
        queue.send_inbound(deleted)
    return len(deleted)


def _get_or_create(store_id: str, provider: str, entity: Entity, now: datetime) -> JobRecord:
    job_id = import_job_id(provider, entity)
    try:
        return JobRecord.get(store_id, job_id, consistent_read=True)
    except JobRecord.DoesNotExist:
        return JobRecord(
            store_id,
            job_id,
            kind="import",
            provider=provider,
            entity=str(entity),
            status="idle",
            details={},
            created_at=now,
            updated_at=now,
        )


def _details(job: JobRecord) -> dict[str, Any]:
    details = job.details
    if details is None:
        return {}
    return dict(details.as_dict() if hasattr(details, "as_dict") else details)


def _enqueue_page(
    queue: SyncQueue,
    store_id: str,
    provider: str,
    entity: Entity,
    job_id: str,
    cursor: str | None,
    details: dict[str, Any],
) -> None:
    """Queue one page of a run; the deduplication id is the run's and the page's, so a
    page queued twice (a retry after a crash) reaches the worker once."""
    message = ImportPageMessage(
        store_id=store_id,
        provider=ProviderName(provider),
        entity=entity,
        job_id=job_id,
        cursor=cursor,
        enqueued_at=utc_now(),
    )
    run = str(details.get("run_id") or "")
    queue.client.send_message(
        QueueUrl=queue.settings.queue_url(Lane.LOW),
        MessageBody=message.model_dump_json(),
        MessageGroupId=f"{store_id}#import#{provider}#{entity}",
        MessageDeduplicationId=hashlib.sha256(f"{job_id}|{run}|{cursor}".encode()).hexdigest(),
    )


def plan_imports() -> dict[str, Any]:
    """Which (store, provider, entity) an import run covers (for reconciliation reports)."""
    planned = []
    for store in list_stores():
        if not store.active:
            continue
        for connection in list_connections(store.store_id, enabled_only=True):
            for entity in Entity:
                if connection.settings.for_entity(entity).receives_from_provider():
                    planned.append({"store": store.store_id, "provider": connection.provider, "entity": str(entity)})
    return {"planned": planned}
