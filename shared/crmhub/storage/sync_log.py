"""The sync log: one entry per sync operation, kept 30 days (TTL). No personal data:
ids, actions, statuses, durations and the provider's error message only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from crmhub.models.common import SyncStatus
from crmhub.storage.base import HubModel, UTCDateTime, utc_now


class ByRecord(GlobalSecondaryIndex["SyncLogEntry"]):
    """Every entry of one record (``store#entity#local_id``), newest last."""

    class Meta:
        index_name = "by_record"
        projection = AllProjection()

    record_key = UnicodeAttribute(hash_key=True)
    log_id = UnicodeAttribute(range_key=True)


class ByStatus(GlobalSecondaryIndex["SyncLogEntry"]):
    """Entries of a store by status (``store#error``), newest last."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status_key = UnicodeAttribute(hash_key=True)
    log_id = UnicodeAttribute(range_key=True)


class SyncLogEntry(HubModel):
    """One sync operation."""

    settings_field = "sync_log_table"

    class Meta:
        table_name = "unbound-sync-log"

    store_id = UnicodeAttribute(hash_key=True)
    log_id = UnicodeAttribute(range_key=True)  # "<ISO-8601 UTC>#<random>": time-sortable
    record_key = UnicodeAttribute()
    status_key = UnicodeAttribute()
    provider = UnicodeAttribute()
    entity = UnicodeAttribute()
    local_id = UnicodeAttribute()
    external_id = UnicodeAttribute(null=True)
    direction = UnicodeAttribute(default="erp_to_crm")
    action = UnicodeAttribute()
    status = UnicodeAttribute()
    change_id = UnicodeAttribute(null=True)
    attempt = NumberAttribute(default=1)
    duration_ms = NumberAttribute(default=0)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    created_at = UTCDateTime(default=utc_now)
    expires_at = NumberAttribute()

    by_record = ByRecord()
    by_status = ByStatus()


def new_log_id(now: datetime) -> str:
    """Time-sortable id."""
    return f"{now.isoformat(timespec='microseconds')}#{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LogWrite:
    """What happened, to be written as a :class:`SyncLogEntry`."""

    store_id: str
    provider: str
    entity: str
    local_id: str
    action: str
    status: SyncStatus
    duration_ms: float
    external_id: str | None = None
    change_id: str | None = None
    attempt: int = 1
    direction: str = "erp_to_crm"
    error_code: str | None = None
    error_message: str | None = None


def write_log(entry: LogWrite, *, retention_days: int, now: datetime | None = None) -> SyncLogEntry:
    """Persist one entry, expiring after ``retention_days``."""
    now = now or utc_now()
    record = SyncLogEntry(
        entry.store_id,
        new_log_id(now),
        record_key=f"{entry.store_id}#{entry.entity}#{entry.local_id}",
        status_key=f"{entry.store_id}#{entry.status}",
        provider=entry.provider,
        entity=entry.entity,
        local_id=entry.local_id,
        external_id=entry.external_id,
        direction=entry.direction,
        action=entry.action,
        status=str(entry.status),
        change_id=entry.change_id,
        attempt=entry.attempt,
        duration_ms=round(entry.duration_ms, 1),
        error_code=entry.error_code,
        error_message=(entry.error_message or None) and entry.error_message[:1000],
        created_at=now,
        expires_at=int((now + timedelta(days=retention_days)).timestamp()),
    )
    record.save()
    return record


def logs_for_record(store_id: str, entity: str, local_id: str, *, limit: int = 50) -> list[SyncLogEntry]:
    """The newest entries of one record, newest first."""
    return list(SyncLogEntry.by_record.query(f"{store_id}#{entity}#{local_id}", scan_index_forward=False, limit=limit))


def recent_errors(store_id: str, *, limit: int = 50) -> list[SyncLogEntry]:
    """The store's newest error entries, newest first."""
    return list(SyncLogEntry.by_status.query(f"{store_id}#{SyncStatus.ERROR}", scan_index_forward=False, limit=limit))


def count_since(store_id: str, since: datetime, *, status: SyncStatus | None = None) -> int:
    """How many entries (of a status) since ``since`` (COUNT queries, paginated)."""
    lower = since.isoformat(timespec="microseconds")
    if status is None:
        return SyncLogEntry.count(store_id, SyncLogEntry.log_id >= lower)
    return SyncLogEntry.by_status.count(f"{store_id}#{status}", SyncLogEntry.log_id >= lower)
