"""Sync statistics of a store: pending work, processed today, errors in 24 h, success
rate, per entity and provider. Read from the sync log (last 24 h) and the queues."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crmhub.models.common import Lane, SyncStatus
from crmhub.settings import HubSettings
from crmhub.storage.base import utc_now
from crmhub.storage.sync_log import SyncLogEntry


def store_stats(store_id: str, *, clock: Callable[[], datetime] = utc_now) -> dict[str, Any]:
    """Counters of the last 24 hours and of today (UTC)."""
    now = clock()
    since = now - timedelta(hours=24)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_status: Counter[str] = Counter()
    today: Counter[str] = Counter()
    per_key: dict[tuple[str, str], Counter[str]] = {}
    latest_by_change: dict[str, str] = {}
    for entry in SyncLogEntry.query(
        store_id,
        SyncLogEntry.log_id >= since.isoformat(timespec="microseconds"),
        attributes_to_get=["log_id", "status", "entity", "provider", "change_id", "created_at"],
    ):
        by_status[entry.status] += 1
        if entry.log_id >= midnight.isoformat(timespec="microseconds"):
            today[entry.status] += 1
        per_key.setdefault((entry.entity, entry.provider), Counter())[entry.status] += 1
        if entry.change_id:
            latest_by_change[f"{entry.change_id}#{entry.provider}"] = entry.status
    done = by_status[SyncStatus.SUCCESS] + by_status[SyncStatus.SKIPPED]
    failed = by_status[SyncStatus.ERROR]
    return {
        "store_id": store_id,
        "window_hours": 24,
        "processed_today": today[SyncStatus.SUCCESS] + today[SyncStatus.SKIPPED],
        "errors_24h": failed,
        "retries_24h": by_status[SyncStatus.RETRY],
        "success_rate": round(done / (done + failed), 4) if done + failed else None,
        "retrying_now": sum(1 for status in latest_by_change.values() if status == SyncStatus.RETRY),
        "by_entity_provider": [
            {"entity": entity, "provider": provider, **{str(k): v for k, v in counts.items()}}
            for (entity, provider), counts in sorted(per_key.items())
        ],
    }


def queue_depths(settings: HubSettings, sqs: Any) -> dict[str, dict[str, int]]:
    """Visible / in-flight / delayed messages per lane and per lane's DLQ (all stores)."""
    depths: dict[str, dict[str, int]] = {}
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    for lane in Lane:
        for label, url in ((str(lane), settings.queue_url(lane)), (f"{lane}_dlq", settings.dlq_url(lane))):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            depths[label] = {
                "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
    return depths


def store_timeseries(
    store_id: str,
    *,
    hours: int = 24,
    bucket_minutes: int = 60,
    clock: Callable[[], datetime] = utc_now,
) -> dict[str, Any]:
    """Sync-log outcomes per time bucket (for charts): the buckets cover the last ``hours``,
    aligned to multiples of ``bucket_minutes`` since the epoch, oldest first, empty ones included."""
    now = clock()
    size = timedelta(minutes=bucket_minutes)
    step = int(size.total_seconds())
    first = int((now - timedelta(hours=hours)).timestamp()) // step * step
    starts = list(range(first, int(now.timestamp()) + 1, step))
    counts = [Counter[str]() for _ in starts]
    since = datetime.fromtimestamp(first, tz=now.tzinfo)
    for entry in SyncLogEntry.query(
        store_id,
        SyncLogEntry.log_id >= since.isoformat(timespec="microseconds"),
        attributes_to_get=["log_id", "status", "created_at"],
    ):
        index = (int(entry.created_at.timestamp()) - first) // step
        if 0 <= index < len(counts):
            counts[index][entry.status] += 1
    return {
        "store_id": store_id,
        "hours": hours,
        "bucket_minutes": bucket_minutes,
        "buckets": [
            {
                "start": datetime.fromtimestamp(start, tz=now.tzinfo).isoformat(),
                **{str(status): bucket[status] for status in SyncStatus},
            }
            for start, bucket in zip(starts, counts, strict=True)
        ],
    }
