"""Dead letters: a mirror of the messages in the lanes' DLQs, one record per SQS message.

The DLQ stays the source of truth (see :mod:`crmhub.dead_letters`); a record keeps what an
operator needs to decide (the reason, the parsed body) and what happened to the message
(open → retried | archived; deleted records are removed). The body may hold personal data:
the table is encrypted and records expire (TTL) with the DLQ's retention.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from crmhub.errors import NotFound
from crmhub.storage.base import HubModel, UTCDateTime, utc_now

OPEN = "open"
RETRIED = "retried"
ARCHIVED = "archived"
DELETED = "deleted"  # never stored: a deleted dead letter's record is removed
STATUSES = (OPEN, RETRIED, ARCHIVED)

# Records of messages whose body names no store (not a valid queue message).
UNKNOWN_STORE = "_unknown"


class DeadLetterRecord(HubModel):
    """One message that reached a lane's DLQ (key: store + the SQS MessageId in the DLQ)."""

    settings_field = "dead_letters_table"

    class Meta:
        table_name = "unbound-dead-letters"

    store_id = UnicodeAttribute(hash_key=True)
    dead_letter_id = UnicodeAttribute(range_key=True)
    lane = UnicodeAttribute()
    group_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    operation = UnicodeAttribute(null=True)
    entity = UnicodeAttribute(null=True)
    local_id = UnicodeAttribute(null=True)
    provider = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute()
    error_message = UnicodeAttribute()
    attempts = NumberAttribute(default=1)
    dead_lettered_at = UTCDateTime()
    body = UnicodeAttribute()
    status = UnicodeAttribute(default=OPEN)
    retried_via = UnicodeAttribute(null=True)  # "per_message" | "move_task"
    created_at = UTCDateTime(default=utc_now)
    updated_at = UTCDateTime(default=utc_now)
    expires_at = NumberAttribute()

    def message(self) -> dict[str, Any]:
        """The parsed body (``{"raw": …}`` when it is not a JSON object)."""
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return {"raw": self.body}
        return parsed if isinstance(parsed, dict) else {"raw": parsed}


def expiry(now: datetime, days: int) -> int:
    """TTL value ``days`` after ``now``."""
    return int((now + timedelta(days=days)).timestamp())


def add_dead_letter(record: DeadLetterRecord) -> bool:
    """Store a newly seen dead letter; False if it is already mirrored (kept as it is)."""
    try:
        record.save(condition=DeadLetterRecord.dead_letter_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def find_dead_letter(store_id: str, dead_letter_id: str) -> DeadLetterRecord | None:
    """The record, if mirrored."""
    try:
        return DeadLetterRecord.get(store_id, dead_letter_id, consistent_read=True)
    except DoesNotExist:
        return None


def get_dead_letter(store_id: str, dead_letter_id: str) -> DeadLetterRecord:
    """The record, or :class:`NotFound`."""
    record = find_dead_letter(store_id, dead_letter_id)
    if record is None:
        raise NotFound("no such dead letter", details={"dead_letter_id": dead_letter_id})
    return record


def list_dead_letters(
    store_id: str, *, status: str | None = OPEN, lane: str | None = None, limit: int | None = None
) -> list[DeadLetterRecord]:
    """The store's records (optionally of one status and lane), newest first."""
    condition = None
    if status:
        condition = DeadLetterRecord.status == status
    if lane:
        by_lane = DeadLetterRecord.lane == lane
        condition = by_lane if condition is None else condition & by_lane
    items = list(DeadLetterRecord.query(store_id, filter_condition=condition, page_size=200))
    items.sort(key=lambda r: r.dead_lettered_at, reverse=True)
    return items if limit is None else items[:limit]


def open_in_lane(lane: str) -> list[DeadLetterRecord]:
    """Open records of every store in one lane (an admin's "retry all"; paginated scan)."""
    condition = (DeadLetterRecord.status == OPEN) & (DeadLetterRecord.lane == lane)
    return list(DeadLetterRecord.scan(filter_condition=condition, page_size=200))


def set_status(
    record: DeadLetterRecord, status: str, *, retention_days: int, via: str | None = None, now: datetime | None = None
) -> DeadLetterRecord:
    """Change the status (and keep the record ``retention_days`` more for inspection)."""
    now = now or utc_now()
    actions: list[Any] = [
        DeadLetterRecord.status.set(status),
        DeadLetterRecord.updated_at.set(now),
        DeadLetterRecord.expires_at.set(expiry(now, retention_days)),
    ]
    if via is not None:
        actions.append(DeadLetterRecord.retried_via.set(via))
    record.update(actions=actions)
    return record


def remove(record: DeadLetterRecord) -> None:
    """Delete the record."""
    record.delete()
