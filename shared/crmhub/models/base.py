"""Base class of the canonical entity models."""

from __future__ import annotations

from datetime import datetime
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
        """The record's data fields for comparisons and snapshots (no ids or timestamps)."""
        return self.model_dump(mode="json", exclude={"id", "updated_at", "version"}, exclude_none=False)
