"""Conflicts: list, inspect (both values, the base, timestamps), resolve."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, model_validator

from crmhub.api.auth import authorize_store
from crmhub.api.common import StoreId, sync_queue
from crmhub.errors import Conflict
from crmhub.models.changes import ConflictResolutionMessage
from crmhub.models.common import Lane
from crmhub.queueing import message_group_id
from crmhub.storage import conflicts
from crmhub.storage.base import utc_now

router = APIGatewayRouter()


class ConflictView(BaseModel):
    """A conflict with both sides' values and their common ancestor."""

    conflict_id: str
    provider: str
    entity: str
    local_id: str
    external_id: str | None
    field: str
    base_value: Any
    erp_value: Any
    crm_value: Any
    erp_updated_at: datetime | None
    crm_updated_at: datetime | None
    status: str
    resolution: str | None
    created_at: datetime
    updated_at: datetime


class ResolveBody(BaseModel):
    """How to resolve: keep the ERP's value, the CRM's, or supply one."""

    model_config = ConfigDict(extra="forbid")

    use: Literal["erp", "crm", "value"]
    value: Any = None

    @model_validator(mode="after")
    def _value_when_supplied(self) -> ResolveBody:
        if self.use == "value" and self.value is None:
            raise ValueError("'value' is required when use is 'value'")
        return self


def conflict_view(record: conflicts.ConflictRecord) -> ConflictView:
    """Public view of a conflict."""
    values = record.values()
    return ConflictView(
        conflict_id=record.conflict_id,
        provider=record.provider,
        entity=record.entity,
        local_id=record.local_id,
        external_id=record.external_id,
        field=record.field,
        base_value=values["base"],
        erp_value=values["erp"],
        crm_value=values["crm"],
        erp_updated_at=record.erp_updated_at,
        crm_updated_at=record.crm_updated_at,
        status=record.status,
        resolution=record.resolution,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


@router.get("/api/v1/stores/<store_id>/conflicts", tags=["conflicts"], summary="List conflicts")
def list_conflicts(
    store_id: StoreId,
    status: Annotated[Literal["open", "resolving", "resolved", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[ConflictView]:
    """Newest first."""
    authorize_store(router, store_id)
    records = conflicts.list_conflicts(store_id, status=None if status == "all" else status, limit=limit)
    return [conflict_view(c) for c in records]


@router.get("/api/v1/stores/<store_id>/conflicts/<conflict_id>", tags=["conflicts"], summary="Inspect a conflict")
def get_conflict(store_id: StoreId, conflict_id: str) -> ConflictView:
    """Both values, the base and when each side changed."""
    authorize_store(router, store_id)
    return conflict_view(conflicts.get_conflict(store_id, conflict_id))


@router.post(
    "/api/v1/stores/<store_id>/conflicts/<conflict_id>/resolve", tags=["conflicts"], summary="Resolve a conflict"
)
def resolve_conflict(store_id: StoreId, conflict_id: str, body: ResolveBody) -> Response[dict]:
    """Record the decision and queue the write of the chosen value to both systems."""
    authorize_store(router, store_id)
    record = conflicts.get_conflict(store_id, conflict_id)
    if record.status != conflicts.OPEN:
        raise Conflict(f"conflict is already {record.status}", details={"conflict_id": conflict_id})
    values = record.values()
    chosen = values["erp"] if body.use == "erp" else values["crm"] if body.use == "crm" else body.value
    record.update(
        actions=[
            conflicts.ConflictRecord.status.set(conflicts.RESOLVING),
            conflicts.ConflictRecord.resolution.set(body.use),
            conflicts.ConflictRecord.resolved_value.set(json.dumps(chosen, default=str)),
            conflicts.ConflictRecord.updated_at.set(utc_now()),
        ],
        condition=conflicts.ConflictRecord.status == conflicts.OPEN,
    )
    queue = sync_queue()
    message = ConflictResolutionMessage(store_id=store_id, conflict_id=conflict_id, enqueued_at=utc_now())
    queue.client.send_message(
        QueueUrl=queue.settings.queue_url(Lane.DEFAULT),
        MessageBody=message.model_dump_json(),
        MessageGroupId=message_group_id(store_id, record.entity, record.local_id, queue.settings.store_group_shards),
        MessageDeduplicationId=f"resolve-{conflict_id}-{int(utc_now().timestamp())}",
    )
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=conflict_view(conflicts.get_conflict(store_id, conflict_id)).model_dump(mode="json"),
    )
