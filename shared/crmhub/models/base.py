"""Base class of the canonical entity models."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CanonicalRecord(BaseModel):
    """A record as the hub understands it, whatever system it came from.

    Unknown fields are kept (``extra="allow"``) and reported by :meth:`unmapped_fields`,
    so a provider transform can decide to carry them (custom fields, notes) or log that it
    could not; nothing is dropped without a trace.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, populate_by_name=True)

    id: str | None = Field(default=None, description="The record's id in the system it came from.")
    active: bool = True
    updated_at: datetime | None = None

    def unmapped_fields(self) -> dict[str, Any]:
        """Fields the canonical model does not know (sent by the source system)."""
        return dict(self.model_extra or {})

    def comparable(self) -> dict[str, Any]:
        """The record's data fields for comparisons and snapshots (no ids or timestamps;
        numbers as normalised decimal strings, so "10.5" and "10.5000" compare equal)."""
        return _plain(self.model_dump(exclude={"id", "updated_at", "version"}, exclude_none=False))


def _plain(value: Any) -> Any:
    """JSON-ready values with one spelling per value."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
