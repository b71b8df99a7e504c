"""Conflict policies: what happens when both systems changed the same field differently."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Strategy = Literal["last_write_wins", "crm_wins", "erp_wins", "merge_non_empty", "manual", "manual_if_different"]


class ConflictPolicy(BaseModel):
    """Entity default plus per-field overrides (field names are canonical, dotted for nested
    ones: ``address.city``)."""

    model_config = ConfigDict(extra="forbid")

    default: Strategy = "last_write_wins"
    fields: dict[str, Strategy] = Field(default_factory=dict)
    similarity_threshold: float = Field(
        default=0.85, ge=0, le=1, description="manual_if_different: at or above this similarity, last write wins."
    )

    def strategy_for(self, field: str) -> Strategy:
        """The field's strategy (a nested field falls back to its parent's override)."""
        if field in self.fields:
            return self.fields[field]
        parent = field.split(".", 1)[0]
        return self.fields.get(parent, self.default)
