"""Jobs: bulk enqueues and imports, with progress and cursors (resumable)."""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from crmhub.storage.base import HubModel, UTCDateTime, utc_now


class JobRecord(HubModel):
    """A long-running job of a store."""

    settings_field = "jobs_table"

    class Meta:
        table_name = "unbound-jobs"

    store_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # "bulk" | "import" | "initial_sync" | "reconciliation"
    provider = UnicodeAttribute(null=True)
    entity = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="running")  # running | done | failed
    cursor = UnicodeAttribute(null=True)
    total = NumberAttribute(default=0)
    done = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    details: MapAttribute = MapAttribute(null=True)
    created_at = UTCDateTime(default=utc_now)
    updated_at = UTCDateTime(default=utc_now)
    expires_at = NumberAttribute(null=True)


def get_job(store_id: str, job_id: str) -> JobRecord | None:
    """The job, if it exists."""
    try:
        return JobRecord.get(store_id, job_id, consistent_read=True)
    except DoesNotExist:
        return None
