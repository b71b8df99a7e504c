"""Conflicts: a field changed on both sides to different values, with a ``manual`` policy
(or a ``manual_if_different`` one below its similarity threshold). The current values stay
in place on both sides until an operator resolves it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from crmhub.errors import NotFound
from crmhub.storage.base import HubModel, UTCDateTime, utc_now

OPEN = "open"
RESOLVING = "resolving"
RESOLVED = "resolved"


class ConflictRecord(HubModel):
    """One field in conflict on one linked record. Values are JSON (they may hold personal
    data: the table is encrypted, the log never sees them)."""

    settings_field = "conflicts_table"

    class Meta:
        table_name = "unbound-conflicts"

    store_id = UnicodeAttribute(hash_key=True)
    conflict_id = UnicodeAttribute(range_key=True)
    provider = UnicodeAttribute()
    entity = UnicodeAttribute()
    local_id = UnicodeAttribute()
    external_id = UnicodeAttribute(null=True)
    field = UnicodeAttribute()
    base_value = UnicodeAttribute(default="null")
    erp_value = UnicodeAttribute(default="null")
    crm_value = UnicodeAttribute(default="null")
    erp_updated_at = UTCDateTime(null=True)
    crm_updated_at = UTCDateTime(null=True)
    status = UnicodeAttribute(default=OPEN)
    resolution = UnicodeAttribute(null=True)  # "erp" | "crm" | "value"
    resolved_value = UnicodeAttribute(null=True)
    created_at = UTCDateTime(default=utc_now)
    updated_at = UTCDateTime(default=utc_now)

    def values(self) -> dict[str, Any]:
        """Decoded base/ERP/CRM values."""
        return {
            "base": json.loads(self.base_value),
            "erp": json.loads(self.erp_value),
            "crm": json.loads(self.crm_value),
        }


def conflict_id(provider: str, entity: str, local_id: str, field: str) -> str:
    """One open conflict per record field: the id is derived from them."""
    return hashlib.sha256(f"{provider}|{entity}|{local_id}|{field}".encode()).hexdigest()[:24]


def open_conflict(
    store_id: str,
    *,
    provider: str,
    entity: str,
    local_id: str,
    external_id: str | None,
    field: str,
    base: Any,
    erp: Any,
    crm: Any,
    erp_updated_at: datetime | None,
    crm_updated_at: datetime | None,
    now: datetime | None = None,
) -> ConflictRecord:
    """Record a conflict (or refresh the values of the open one for the same field)."""
    now = now or utc_now()
    record = ConflictRecord(
        store_id,
        conflict_id(provider, entity, local_id, field),
        provider=provider,
        entity=entity,
        local_id=local_id,
        external_id=external_id,
        field=field,
        base_value=json.dumps(base, default=str),
        erp_value=json.dumps(erp, default=str),
        crm_value=json.dumps(crm, default=str),
        erp_updated_at=erp_updated_at,
        crm_updated_at=crm_updated_at,
        status=OPEN,
        created_at=now,
        updated_at=now,
    )
    try:
        record.save(condition=ConflictRecord.conflict_id.does_not_exist() | (ConflictRecord.status != OPEN))
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = get_conflict(store_id, record.conflict_id)
        existing.update(
            actions=[
                ConflictRecord.erp_value.set(record.erp_value),
                ConflictRecord.crm_value.set(record.crm_value),
                ConflictRecord.updated_at.set(now),
            ]
        )
        return existing
    return record


def get_conflict(store_id: str, conflict_id_: str) -> ConflictRecord:
    """The conflict, or :class:`NotFound`."""
    try:
        return ConflictRecord.get(store_id, conflict_id_, consistent_read=True)
    except DoesNotExist:
        raise NotFound("no such conflict", details={"conflict_id": conflict_id_}) from None


def list_conflicts(store_id: str, *, status: str | None = OPEN, limit: int = 100) -> list[ConflictRecord]:
    """The store's conflicts (optionally of one status), newest first."""
    condition = (ConflictRecord.status == status) if status else None
    items = list(ConflictRecord.query(store_id, filter_condition=condition, page_size=200))
    items.sort(key=lambda c: c.updated_at, reverse=True)
    return items[:limit]


def open_fields(store_id: str, provider: str, entity: str, local_id: str) -> set[str]:
    """Fields of a record with an open conflict (kept as they are until resolved)."""
    condition = (
        (ConflictRecord.status == OPEN)
        & (ConflictRecord.provider == provider)
        & (ConflictRecord.entity == entity)
        & (ConflictRecord.local_id == local_id)
    )
    return {c.field for c in ConflictRecord.query(store_id, filter_condition=condition, page_size=200)}
