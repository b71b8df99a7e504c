"""Boundary models for changes: what the ERP posts, and what travels on the queues."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from crmhub.models.base import CanonicalRecord
from crmhub.models.common import Entity, Operation, ProviderName
from crmhub.models.inbound import ProviderChange

# Kept out of the per-record FIFO groups so a bulk job's pages never block record syncs.
BULK_GROUP_SUFFIX = "bulk"

LOCAL_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
# Record bookkeeping the ERP may send inside ``data``; it is not record content.
BOOKKEEPING_FIELDS = frozenset({"id", "version", "created_at", "updated_at", "deleted_at"})


class ChangeRequest(BaseModel):
    """A record change reported by the ERP (``POST /api/v1/stores/{store}/changes``)."""

    model_config = ConfigDict(extra="forbid")

    entity: Entity
    local_id: str = Field(pattern=LOCAL_ID_PATTERN, description="The record's id in the ERP.")
    operation: Operation = Operation.UPSERT
    data: dict[str, Any] = Field(default_factory=dict, description="The record (canonical shape).")
    updated_at: AwareDatetime = Field(description="When the ERP changed the record (with timezone).")
    origin: Literal["erp", "hub"] = Field(
        default="erp", description="'hub' when the ERP echoes a write the hub made (ignored)."
    )

    @field_validator("data")
    @classmethod
    def _drop_bookkeeping(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items() if key not in BOOKKEEPING_FIELDS}

    @model_validator(mode="after")
    def _data_matches_entity(self) -> ChangeRequest:
        if self.operation is Operation.UPSERT:
            self.record()  # raises ValueError with the model's own messages
        return self

    def record(self) -> CanonicalRecord:
        """The validated canonical record carried by an upsert."""
        from crmhub.models import ENTITY_MODELS

        try:
            return ENTITY_MODELS[self.entity].model_validate({**self.data, "id": self.local_id})
        except ValidationError as exc:
            problems = "; ".join(f"data.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
            raise ValueError(problems) from None

    def change_id(self, store_id: str) -> str:
        """Deterministic id: the same change posted twice has the same id (idempotency key)."""
        raw = f"{store_id}|{self.entity}|{self.local_id}|{self.operation}|{self.updated_at.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


class SyncMessage(BaseModel):
    """The body of a message on a sync lane: one change for one connection."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["change"] = "change"
    change_id: str
    store_id: str
    provider: ProviderName
    entity: Entity
    local_id: str
    operation: Operation
    data: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime
    enqueued_at: datetime
    source: Literal["api", "bulk", "retry"] = "api"

    @property
    def record_key(self) -> str:
        """``store#entity#local_id``: the sync log's per-record key."""
        return f"{self.store_id}#{self.entity}#{self.local_id}"

    @classmethod
    def for_change(
        cls,
        store_id: str,
        change: ChangeRequest,
        provider: ProviderName | str,
        *,
        enqueued_at: datetime,
        source: Literal["api", "bulk", "retry"] = "api",
    ) -> SyncMessage:
        """The message that carries an accepted ERP change to one connection's provider."""
        return cls(
            change_id=change.change_id(store_id),
            store_id=store_id,
            provider=ProviderName(provider),
            entity=change.entity,
            local_id=change.local_id,
            operation=change.operation,
            data=change.data,
            updated_at=change.updated_at,
            enqueued_at=enqueued_at,
            source=source,
        )


class BulkPageMessage(BaseModel):
    """Work item of a bulk enqueue: read one ERP page and enqueue its records."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bulk_page"] = "bulk_page"
    store_id: str
    job_id: str
    entity: Entity
    page: int = Field(ge=1)
    enqueued_at: datetime


class InboundMessage(BaseModel):
    """A change from a provider (webhook or import) to apply to the ERP."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["inbound"] = "inbound"
    store_id: str
    change: ProviderChange
    source: Literal["webhook", "import", "initial_sync"] = "webhook"
    enqueued_at: datetime

    @property
    def record_key(self) -> str:
        """``store#provider#entity#external_id``."""
        return f"{self.store_id}#{self.change.provider}#{self.change.entity}#{self.change.external_id}"


class ImportPageMessage(BaseModel):
    """Work item of an import: pull one page of changed provider records."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["import_page"] = "import_page"
    store_id: str
    provider: ProviderName
    entity: Entity
    job_id: str
    cursor: str | None = None
    enqueued_at: datetime


class InitialSyncMessage(BaseModel):
    """Work item of an initial sync: one page of one phase."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["initial_sync"] = "initial_sync"
    store_id: str
    provider: ProviderName
    entity: Entity
    job_id: str
    phase: Literal["erp_index", "crm_match", "erp_create", "done"]
    cursor: str | None = None
    run: str
    enqueued_at: datetime


class ConflictResolutionMessage(BaseModel):
    """An operator resolved a conflict: write the chosen value to both systems."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["resolve_conflict"] = "resolve_conflict"
    store_id: str
    conflict_id: str
    enqueued_at: datetime


AnyQueueMessage = (
    SyncMessage | BulkPageMessage | InboundMessage | ImportPageMessage | InitialSyncMessage | ConflictResolutionMessage
)
QueueMessage = Annotated[AnyQueueMessage, Field(discriminator="kind")]
QUEUE_MESSAGE: TypeAdapter[AnyQueueMessage] = TypeAdapter(QueueMessage)
