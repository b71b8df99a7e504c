"""Pipedrive ``/activities`` ⇄ canonical :class:`~crmhub.models.Activity`.

Native slots (API v2, official spec): ``subject``, ``type`` (the account's activity type
keys; a new account has call, meeting, task, deadline, email, lunch), ``due_date`` +
``due_time`` (UTC, ``HH:MM``), ``done``, ``note`` (HTML), ``person_id``/``org_id``.
Activities have no custom fields, so whatever has no slot (a canonical type the account
lacks, unknown fields, the hub's id) rides in the note after a marker, as JSON, the way
GestãoClick notes carry overflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

from crmhub.models.activity import Activity
from crmhub.models.common import Entity
from crmhub.providers.base import References
from crmhub.providers.gestaoclick.common import overflow_notes, split_overflow
from crmhub.providers.pipedrive.deals import customer_of, customer_ref
from crmhub.providers.pipedrive.persons import text, timestamp

RESOURCE = "/activities"

# Canonical type → Pipedrive type key. WhatsApp has no default type: it is sent as a task
# (the canonical type survives in the note) unless the connection maps it to its own key.
DEFAULT_TYPES: dict[str, str] = {
    "call": "call",
    "meeting": "meeting",
    "task": "task",
    "email": "email",
    "whatsapp": "task",
}
_NATIVE = {"id", "customer_id", "type", "subject", "due_at", "done", "notes", "updated_at", "version"}


def to_provider(activity: Activity, refs: References, types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Canonical → Pipedrive activity payload (create or PATCH)."""
    types = {**DEFAULT_TYPES, **(types or {})}
    data = activity.model_dump(mode="json")
    extra = {k: v for k, v in data.items() if k not in _NATIVE and v is not None}
    if activity.active:
        extra.pop("active", None)
    pd_type = extra.pop("pipedrive_type", None) or types[activity.type]
    if _reverse(types).get(pd_type) != activity.type and "pipedrive_type" not in data:
        extra["type"] = activity.type  # the mapping is lossy: remember the canonical type
    if activity.id:
        extra["hub_local_id"] = activity.id
    payload: dict[str, Any] = {
        "subject": activity.subject,
        "type": pd_type,
        "done": activity.done,
        "note": overflow_notes(activity.notes, extra),
    }
    if activity.due_at is not None:
        due = activity.due_at.astimezone(UTC)
        payload["due_date"] = due.date().isoformat()
        payload["due_time"] = due.strftime("%H:%M")
    if activity.customer_id:
        payload.update(customer_ref(refs.external(Entity.CUSTOMER, activity.customer_id)))
    return payload


def _reverse(types: Mapping[str, str]) -> dict[str, str]:
    reverse: dict[str, str] = {}
    for canonical, pd_type in types.items():
        reverse.setdefault(pd_type, canonical)  # first canonical name wins (call, meeting, task…)
    return reverse


def from_provider(raw: Mapping[str, Any], types: Mapping[str, str] | None = None) -> Activity:
    """Pipedrive activity → canonical (customer id is the Pipedrive customer's external id)."""
    types = {**DEFAULT_TYPES, **(types or {})}
    notes, extra = split_overflow(raw.get("note") or None)  # unstripped: the marker starts with a newline
    notes = text(notes)
    extra.pop("hub_local_id", None)
    pd_type = text(raw.get("type")) or "task"
    canonical = extra.pop("type", None) or _reverse(types).get(pd_type)
    if canonical is None:
        canonical = "task"
        extra["pipedrive_type"] = pd_type  # an account-specific type (e.g. "lunch")
    due_at = None
    if text(raw.get("due_date")):
        clock = time.fromisoformat(text(raw.get("due_time")) or "00:00")
        due_at = datetime.combine(datetime.fromisoformat(str(raw["due_date"])).date(), clock, tzinfo=UTC)
    return Activity.model_validate(
        {
            **extra,
            "id": str(raw["id"]) if raw.get("id") is not None else None,
            "customer_id": customer_of(raw),
            "type": canonical,
            "subject": text(raw.get("subject")) or "(sem assunto)",
            "due_at": due_at,
            "done": bool(raw.get("done")),
            "notes": notes,
            "updated_at": timestamp(raw.get("update_time")),
        }
    )


def marker_local_id(raw: Mapping[str, Any]) -> str | None:
    """The hub's id stored in the note of an activity it created."""
    _, extra = split_overflow(raw.get("note") or None)
    value = extra.get("hub_local_id")
    return str(value) if value is not None else None
