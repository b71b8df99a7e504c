"""Connection settings: how one store syncs with one provider."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from crmhub.conflicts.policy import ConflictPolicy
from crmhub.models.common import DEFAULT_LANES, Entity, Lane

Direction = Literal["both", "erp_to_crm", "crm_to_erp", "none"]


class EntitySettings(BaseModel):
    """Per-entity behaviour of a connection."""

    model_config = ConfigDict(extra="forbid")

    direction: Direction = "both"
    on_delete: Literal["delete", "deactivate", "ignore"] = Field(
        default="deactivate", description="What an ERP (soft) delete does in the provider."
    )
    lane: Lane | None = Field(default=None, description="Priority lane; default by entity.")
    conflict: ConflictPolicy = Field(default_factory=ConflictPolicy)

    def sends_to_provider(self) -> bool:
        """True when ERP changes of this entity go to the provider."""
        return self.direction in ("both", "erp_to_crm")

    def receives_from_provider(self) -> bool:
        """True when provider changes of this entity come to the ERP."""
        return self.direction in ("both", "crm_to_erp")


class ConnectionSettings(BaseModel):
    """Settings of a connection (stored in DynamoDB; credentials live in Secrets Manager)."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl | None = Field(default=None, description="Override of the provider's API base URL.")
    rate_limit: int | None = Field(default=None, ge=1, description="Requests per window; provider default if unset.")
    rate_window_s: float | None = Field(default=None, gt=0, description="Rate-limit window in seconds.")
    timeout_s: float = Field(default=10.0, gt=0, le=25)
    verify_before_update: bool = Field(
        default=True,
        description="Read the provider's record before updating it, so changes made there since the last "
        "sync are merged (three-way) instead of overwritten. Costs one read per update.",
    )
    entities: dict[Entity, EntitySettings] = Field(default_factory=dict)

    def for_entity(self, entity: Entity) -> EntitySettings:
        """The entity's settings (defaults when not configured)."""
        return self.entities.get(entity, EntitySettings())

    def lane_for(self, entity: Entity) -> Lane:
        """The priority lane of an entity's messages."""
        return self.for_entity(entity).lane or DEFAULT_LANES[entity]
