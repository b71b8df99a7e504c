"""``/api/v1/stores/{store_id}/changes``: the ERP reports record changes."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from crmhub.api.auth import authorize_store
from crmhub.api.common import StoreId, sync_queue
from crmhub.changes import accept_change
from crmhub.models.changes import ChangeRequest

router = APIGatewayRouter()


class ChangeAcceptedBody(BaseModel):
    """202 answer: the change is stored and queued (or recognised as a duplicate)."""

    change_id: str
    status: Literal["enqueued", "duplicate", "no_connection", "ignored_echo"]
    providers: list[str]


@router.post(
    "/api/v1/stores/<store_id>/changes",
    summary="Report a record change from the ERP",
    responses={202: {"description": "Accepted", "content": {"application/json": {"model": ChangeAcceptedBody}}}},
    tags=["changes"],
)
def post_change(store_id: StoreId, change: ChangeRequest) -> Response[dict]:
    """Store the change, then enqueue it to each connection that receives this entity."""
    authorize_store(router, store_id)
    accepted = accept_change(store_id, change, queue=sync_queue())
    body = ChangeAcceptedBody(change_id=accepted.change_id, status=accepted.status, providers=accepted.providers)  # type: ignore[arg-type]
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body.model_dump())
