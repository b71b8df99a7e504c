"""Dead letters of a store: list (with counts that reconcile with the DLQs), inspect, retry
one or all, archive, delete. A store's key sees only its store's dead letters; an admin key
sees every store's, and may retry every store's at once (``all_stores=true``)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, Field

from crmhub.api.auth import authorize_store
from crmhub.api.common import StoreId
from crmhub.dead_letters import DeadLetters
from crmhub.errors import Forbidden
from crmhub.models.common import Lane
from crmhub.storage import dead_letters as records

router = APIGatewayRouter()

DeadLetterId = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-]{1,100}$", description="The SQS MessageId in the DLQ.")]


@lru_cache(maxsize=1)
def dead_letters() -> DeadLetters:
    """One DLQ accessor per container, created on first use."""
    return DeadLetters()


class DeadLetterView(BaseModel):
    """A message that reached a DLQ, why, and what became of it."""

    id: str
    lane: str
    status: str
    kind: str
    entity: str | None
    local_id: str | None
    provider: str | None
    error_code: str
    error_message: str
    attempts: int
    dead_lettered_at: datetime
    message: dict[str, Any] = Field(description="The parsed message body.")


class DeadLetterList(BaseModel):
    """A store's dead letters, how many are open, and how many messages each DLQ holds
    (every store's: DLQs are shared)."""

    store_id: str
    items: list[DeadLetterView]
    count: int = Field(description="Open dead letters of this store (all lanes).")
    dlq_depth: dict[str, int] = Field(description="Messages in each lane's DLQ (all stores).")


class RetryAllView(BaseModel):
    """How many went back to their lanes, and how."""

    retried: int
    method: Literal["move_task", "per_message"]


def dead_letter_view(record: records.DeadLetterRecord) -> DeadLetterView:
    """Public view of a dead letter."""
    return DeadLetterView(
        id=record.dead_letter_id,
        lane=record.lane,
        status=record.status,
        kind=record.kind,
        entity=record.entity,
        local_id=record.local_id,
        provider=record.provider,
        error_code=record.error_code,
        error_message=record.error_message,
        attempts=int(record.attempts),
        dead_lettered_at=record.dead_lettered_at,
        message=record.message(),
    )


def _json(status: int, body: BaseModel) -> Response[dict]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body.model_dump(mode="json"))


@router.get("/api/v1/stores/<store_id>/dead-letters", tags=["dead letters"], summary="List dead letters")
def list_dead_letters(
    store_id: StoreId,
    lane: Annotated[Lane | None, Query()] = None,
    status: Annotated[Literal["open", "retried", "archived", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> DeadLetterList:
    """Inventories the DLQs first (new messages are recorded), newest first."""
    authorize_store(router, store_id)
    service = dead_letters()
    service.inventory([lane] if lane else None)
    items = records.list_dead_letters(store_id, status=None if status == "all" else status, lane=lane, limit=limit)
    count = len(records.list_dead_letters(store_id, status=records.OPEN))
    return DeadLetterList(
        store_id=store_id, items=[dead_letter_view(r) for r in items], count=count, dlq_depth=service.depths()
    )


@router.post(
    "/api/v1/stores/<store_id>/dead-letters/retry-all", tags=["dead letters"], summary="Retry every dead letter"
)
def retry_all(
    store_id: StoreId,
    lane: Annotated[Lane | None, Query()] = None,
    all_stores: Annotated[bool, Query(description="Admin only: every store's dead letters (a move task).")] = False,
) -> Response[dict]:
    """Back to their lanes: the store's (one by one), or with ``all_stores`` every store's
    (``StartMessageMoveTask`` where SQS supports it, else one by one)."""
    principal = authorize_store(router, store_id)
    if all_stores and not principal.is_admin:
        raise Forbidden("all_stores needs an admin API key")
    result = dead_letters().retry_all(None if all_stores else store_id, lanes=[lane] if lane else None)
    return _json(202, RetryAllView(retried=result.retried, method=result.method))


@router.get(
    "/api/v1/stores/<store_id>/dead-letters/<dead_letter_id>", tags=["dead letters"], summary="Inspect a dead letter"
)
def get_dead_letter(store_id: StoreId, dead_letter_id: DeadLetterId) -> DeadLetterView:
    """The reason, the attempts and the message."""
    authorize_store(router, store_id)
    return dead_letter_view(records.get_dead_letter(store_id, dead_letter_id))


@router.post(
    "/api/v1/stores/<store_id>/dead-letters/<dead_letter_id>/retry",
    tags=["dead letters"],
    summary="Retry a dead letter",
)
def retry_dead_letter(store_id: StoreId, dead_letter_id: DeadLetterId) -> Response[dict]:
    """Back to its lane (same FIFO group); 409 unless it is open."""
    authorize_store(router, store_id)
    return _json(202, dead_letter_view(dead_letters().retry(store_id, dead_letter_id)))


@router.post(
    "/api/v1/stores/<store_id>/dead-letters/<dead_letter_id>/archive",
    tags=["dead letters"],
    summary="Archive a dead letter",
)
def archive_dead_letter(store_id: StoreId, dead_letter_id: DeadLetterId) -> DeadLetterView:
    """Out of the DLQ, kept here to inspect; 409 unless it is open."""
    authorize_store(router, store_id)
    return dead_letter_view(dead_letters().archive(store_id, dead_letter_id))


@router.delete(
    "/api/v1/stores/<store_id>/dead-letters/<dead_letter_id>", tags=["dead letters"], summary="Delete a dead letter"
)
def delete_dead_letter(store_id: StoreId, dead_letter_id: DeadLetterId) -> Response[None]:
    """Out of the DLQ and forgotten."""
    authorize_store(router, store_id)
    dead_letters().delete(store_id, dead_letter_id)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body=None)
