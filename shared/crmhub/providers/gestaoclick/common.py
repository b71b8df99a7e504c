"""Quirks of GestãoClick payloads: strings for numbers and flags, notes overflow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

BRT = timezone(timedelta(hours=-3))  # GestãoClick stamps in Brasília time [?]

OVERFLOW_MARK = "--- crmhub ---"


def flag(value: bool) -> str:
    """GestãoClick booleans are "1"/"0"."""
    return "1" if value else "0"


def money(value: Decimal | None) -> str:
    """Money as a string with two decimals."""
    return f"{(value or Decimal('0')):.2f}"


def decimal(value: Any) -> Decimal | None:
    """Parse GestãoClick's string numbers ("10.50", "10,50", "")."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None


def text(value: Any) -> str | None:
    """A non-empty string or None."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def timestamp(value: Any) -> datetime | None:
    """``"2024-01-31 10:20:30"`` (Brasília time) → aware UTC datetime."""
    text_value = text(value)
    if not text_value:
        return None
    try:
        moment = datetime.fromisoformat(text_value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=BRT)).astimezone(UTC)


def local_phone(e164: str) -> str:
    """``+5511999998888`` → ``11999998888`` (national digits, as GestãoClick stores them)."""
    return e164[3:] if e164.startswith("+55") else e164.lstrip("+")


def is_mobile(e164: str) -> bool:
    """Brazilian mobiles have 11 national digits starting with 9 after the area code."""
    national = local_phone(e164)
    return len(national) == 11 and national[2] == "9"


def overflow_notes(notes: str | None, extra: dict[str, Any]) -> str:
    """Notes plus, after a marker line, the fields GestãoClick has no place for (JSON)."""
    if not extra:
        return notes or ""
    payload = json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str)
    return f"{notes}\n{OVERFLOW_MARK}\n{payload}" if notes else f"{OVERFLOW_MARK}\n{payload}"


def split_overflow(notes: str | None) -> tuple[str | None, dict[str, Any]]:
    """Inverse of :func:`overflow_notes`."""
    if not notes or OVERFLOW_MARK not in notes:
        return notes, {}
    head, _, tail = notes.rpartition(OVERFLOW_MARK)
    try:
        extra = json.loads(tail)
    except ValueError:
        return notes, {}
    return (head.strip() or None), extra if isinstance(extra, dict) else {}
