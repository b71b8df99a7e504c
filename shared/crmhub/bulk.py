"""Bulk enqueue: every active customer, every active product, the last 30 days of sales
(and open activities) of a store, read page by page from the ERP and enqueued as changes.

A job is idempotent twice over: starting one while the same entity's job runs returns
the running job, and each record becomes a change whose id depends on its ``updated_at``,
so records already enqueued are recognised as duplicates instead of being sent again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import ValidationError

from crmhub.changes import accept_changes
from crmhub.erp.client import ErpClient
from crmhub.models.changes import BULK_GROUP_SUFFIX, BulkPageMessage, ChangeRequest
from crmhub.models.common import Entity, Lane, SyncStatus
from crmhub.observability import logger
from crmhub.queueing import SyncQueue
from crmhub.storage.base import utc_now
from crmhub.storage.jobs import JobRecord
from crmhub.storage.stores import get_store
from crmhub.storage.sync_log import LogWrite, write_log

SALES_WINDOW_DAYS = 30
STALE_AFTER = timedelta(minutes=15)
JOB_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class BulkStarted:
    """Answer of :func:`start_bulk`."""

    job: JobRecord
    created: bool


def start_bulk(
    store_id: str, entity: Entity, *, queue: SyncQueue, clock: Callable[[], datetime] = utc_now
) -> BulkStarted:
    """Start a bulk enqueue of ``entity`` for the store (or return the one running)."""
    get_store(store_id)
    now = clock()
    for job in JobRecord.query(store_id, JobRecord.job_id.startswith(f"bulk.{entity}."), scan_index_forward=False):
        if job.status == "running" and now - job.updated_at < STALE_AFTER:
            return BulkStarted(job, created=False)
        break
    job = JobRecord(
        store_id,
        f"bulk.{entity}.{now.strftime('%Y%m%dT%H%M%S')}.{secrets.token_hex(3)}",
        kind="bulk",
        entity=str(entity),
        status="running",
        cursor="1",
        details={"pages": 0, "enqueued": 0, "duplicates": 0, "invalid": 0, "skipped": 0},
        created_at=now,
        updated_at=now,
        expires_at=int((now + JOB_RETENTION).timestamp()),
    )
    job.save()
    _enqueue_page(queue, store_id, job.job_id, entity, 1, now)
    return BulkStarted(job, created=True)


def _enqueue_page(queue: SyncQueue, store_id: str, job_id: str, entity: Entity, page: int, now: datetime) -> None:
    message = BulkPageMessage(store_id=store_id, job_id=job_id, entity=entity, page=page, enqueued_at=now)
    queue.client.send_message(
        QueueUrl=queue.settings.queue_url(Lane.LOW),
        MessageBody=message.model_dump_json(),
        MessageGroupId=f"{store_id}#{BULK_GROUP_SUFFIX}",
        MessageDeduplicationId=f"{job_id}#{page}"[:128],
    )


def _wanted(entity: Entity, record: dict, today: date) -> bool:
    if entity is Entity.SALE:
        try:
            return date.fromisoformat(str(record.get("date"))[:10]) >= today - timedelta(days=SALES_WINDOW_DAYS)
        except ValueError:
            return True  # let validation report it
    if entity is Entity.ACTIVITY:
        return not record.get("done", False)
    return True


def process_bulk_page(
    message: BulkPageMessage,
    *,
    erp: ErpClient,
    queue: SyncQueue,
    retention_days: int,
    clock: Callable[[], datetime] = utc_now,
) -> JobRecord:
    """Read one ERP page, enqueue its records, record progress, enqueue the next page."""
    job = JobRecord.get(message.store_id, message.job_id, consistent_read=True)
    if job.status != "running" or str(message.page) != (job.cursor or ""):
        return job  # a redelivered page that was already done
    now = clock()
    active = None if message.entity in (Entity.SALE, Entity.ACTIVITY) else True
    page = erp.list_page(message.entity, message.page, per_page=100, active=active)
    counts = {"enqueued": 0, "duplicates": 0, "invalid": 0, "skipped": 0}
    wanted: list[ChangeRequest] = []
    for record in page.items:
        if not _wanted(message.entity, record, now.date()):
            counts["skipped"] += 1
            continue
        try:
            change = ChangeRequest(
                entity=message.entity,
                local_id=str(record["id"]),
                data=record,
                updated_at=record.get("updated_at") or now,
            )
        except (ValidationError, KeyError) as exc:
            counts["invalid"] += 1
            write_log(
                LogWrite(
                    store_id=message.store_id,
                    provider="-",
                    entity=str(message.entity),
                    local_id=str(record.get("id", "?")),
                    action="skip",
                    status=SyncStatus.ERROR,
                    duration_ms=0,
                    direction="bulk",
                    error_code="invalid_record",
                    error_message=_field_names(exc),
                ),
                retention_days=retention_days,
                now=now,
            )
            continue
        wanted.append(change)
    for accepted in accept_changes(message.store_id, wanted, queue=queue, clock=clock, source="bulk"):
        counts["enqueued" if accepted.status == "enqueued" else "duplicates"] += 1
    details = dict(job.details.as_dict() if hasattr(job.details, "as_dict") else job.details or {})
    details["pages"] = int(details.get("pages", 0)) + 1
    for key, value in counts.items():
        details[key] = int(details.get(key, 0)) + value
    job.details = details
    job.done = int(job.done or 0) + len(page.items)
    job.total = int(page.total or job.done)
    job.updated_at = now
    if page.next_page:
        job.cursor = str(page.next_page)
        job.save()
        _enqueue_page(queue, message.store_id, job.job_id, message.entity, int(page.next_page), now)
    else:
        job.cursor = None
        job.status = "done"
        job.save()
    logger.info("bulk_page", extra={"store": message.store_id, "job": job.job_id, "page": message.page, **counts})
    return job


def _field_names(exc: Exception) -> str:
    """Which fields were invalid (names only: no personal data in the log)."""
    if isinstance(exc, ValidationError):
        return "invalid fields: " + ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())[:900]
    return f"missing field {exc}"
