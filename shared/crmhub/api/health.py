"""Health and monitoring: ``/health`` (is the API up), ``/health/detailed`` (DynamoDB, the
queues and every connection) and a store's sync outcomes over time (for charts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, Field

from crmhub import __version__
from crmhub.api.auth import authorize_store, current_principal
from crmhub.api.common import StoreId, sync_queue
from crmhub.errors import Forbidden
from crmhub.models.common import SyncStatus
from crmhub.observability import logger
from crmhub.storage.base import utc_now

router = APIGatewayRouter()

# A connection whose newest sync-log entry is an error younger than this is "erroring".
ERRORING_WINDOW = timedelta(hours=1)
Status = Literal["ok", "degraded", "down"]


class ConnectionHealth(BaseModel):
    """One store's connection to one provider (from storage: providers are not called)."""

    store_id: str
    provider: str
    enabled: bool
    status: Literal["ok", "erroring", "disabled"]
    last_test_ok: bool | None = None
    last_error_at: datetime | None = None
    last_error_code: str | None = None


class Check(BaseModel):
    """One dependency's verdict."""

    status: Status
    detail: str | None = None


class DetailedHealth(BaseModel):
    """``ok``; ``degraded`` (dead letters waiting, a connection erroring); ``down`` (DynamoDB
    or SQS unreachable)."""

    status: Status
    version: str
    checked_at: datetime
    reasons: list[str] = Field(default_factory=list)
    dynamodb: Check
    tables: dict[str, str] = Field(default_factory=dict)
    queues: Check
    queue_depths: dict[str, dict[str, int]] = Field(default_factory=dict)
    connections: list[ConnectionHealth] = Field(default_factory=list)


class TimeseriesBucket(BaseModel):
    """Sync outcomes of one time bucket."""

    start: datetime
    success: int
    error: int
    retry: int
    skipped: int


class Timeseries(BaseModel):
    """A store's sync outcomes over time."""

    store_id: str
    hours: int
    bucket_minutes: int
    buckets: list[TimeseriesBucket]


@router.get("/health", summary="Liveness", tags=["health"])
def health() -> dict[str, str]:
    """Answers without touching any dependency."""
    return {"status": "ok", "version": __version__}


@router.get("/health/detailed", summary="Dependencies and connections (admin key)", tags=["health"])
def health_detailed() -> Response[dict]:
    """Needs an **admin** API key (``x-api-key``): it lists every store's connections.

    Checks every DynamoDB table (DescribeTable), the depth of each lane and each DLQ, and each
    connection (enabled, newest sync-log outcome; providers are not called). 200 with
    ``ok`` or ``degraded`` (a DLQ holds messages, a connection's newest sync failed), 503
    ``down`` when DynamoDB or SQS cannot be reached.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    unreachable = (BotoCoreError, ClientError, PynamoDBException)
    now = utc_now()
    try:
        principal = current_principal(router)
    except unreachable:
        # The key itself lives in DynamoDB: no answer, no details either.
        report = DetailedHealth(
            status="down",
            version=__version__,
            checked_at=now,
            reasons=["dynamodb unreachable"],
            dynamodb=Check(status="down", detail="the API keys table cannot be read"),
            queues=Check(status="down", detail="not checked"),
        )
        return _json(503, report)
    if not principal.is_admin:
        raise Forbidden("an admin API key is required")

    reasons: list[str] = []
    dynamodb, tables = _check_tables(unreachable)
    if dynamodb.status == "down":
        reasons.append("dynamodb unreachable")
    queues, depths = _check_queues(unreachable)
    if queues.status == "down":
        reasons.append("sqs unreachable")
    connections: list[ConnectionHealth] = []
    if dynamodb.status == "ok":
        try:
            connections = _connections(now)
        except unreachable as exc:
            dynamodb = Check(status="down", detail=type(exc).__name__)
            reasons.append("dynamodb unreachable")
    dead = {
        label: d["visible"] + d["in_flight"] + d["delayed"] for label, d in depths.items() if label.endswith("_dlq")
    }
    reasons += [f"{label} holds {n} messages" for label, n in sorted(dead.items()) if n]
    reasons += [f"{c.store_id}/{c.provider} erroring" for c in connections if c.status == "erroring"]
    status: Status = "down" if "down" in (dynamodb.status, queues.status) else "degraded" if reasons else "ok"
    report = DetailedHealth(
        status=status,
        version=__version__,
        checked_at=now,
        reasons=reasons,
        dynamodb=dynamodb,
        tables=tables,
        queues=queues,
        queue_depths=depths,
        connections=connections,
    )
    return _json(503 if status == "down" else 200, report)


@router.get("/api/v1/stores/<store_id>/stats/timeseries", tags=["logs"], summary="Sync outcomes over time")
def stats_timeseries(
    store_id: StoreId,
    hours: Annotated[int, Query(ge=1, le=24 * 30)] = 24,
    bucket_minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60,
) -> Timeseries:
    """Success / error / retry / skipped per bucket from the sync log, oldest first."""
    from crmhub.errors import InvalidInput
    from crmhub.stats import store_timeseries

    authorize_store(router, store_id)
    if hours * 60 // bucket_minutes > 2000:
        raise InvalidInput("too many buckets: use fewer hours or larger buckets (at most 2000)")
    return Timeseries.model_validate(store_timeseries(store_id, hours=hours, bucket_minutes=bucket_minutes))


def _json(status: int, body: BaseModel) -> Response[dict]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body.model_dump(mode="json"))


def _check_tables(unreachable: tuple[type[Exception], ...]) -> tuple[Check, dict[str, str]]:
    from pynamodb.exceptions import PynamoDBException

    from crmhub.storage import bound_models

    tables: dict[str, str] = {}
    for model in bound_models():
        try:
            status = model.describe_table().get("TableStatus", "UNKNOWN")
        except PynamoDBException as exc:
            if exc.cause_response_code != "AccessDeniedException":
                logger.warning("health_table_unreachable", extra={"table": model.Meta.table_name})
                return Check(status="down", detail=exc.cause_response_code or type(exc).__name__), tables
            # DynamoDB answered; this function simply may not read that table.
            status = "NOT_READABLE"
        except unreachable as exc:
            logger.warning("health_table_unreachable", extra={"table": model.Meta.table_name})
            return Check(status="down", detail=type(exc).__name__), tables
        tables[model.Meta.table_name] = str(status)
    return Check(status="ok"), tables


def _check_queues(unreachable: tuple[type[Exception], ...]) -> tuple[Check, dict[str, dict[str, int]]]:
    from crmhub.stats import queue_depths

    queue = sync_queue()
    try:
        return Check(status="ok"), queue_depths(queue.settings, queue.client)
    except unreachable as exc:
        logger.warning("health_queues_unreachable", extra={"error": type(exc).__name__})
        return Check(status="down", detail=type(exc).__name__), {}


def _connections(now: datetime) -> list[ConnectionHealth]:
    """Each store's connections with the newest outcome of the last 50 syncs (one query per store)."""
    from crmhub.storage.connections import list_connections
    from crmhub.storage.stores import list_stores
    from crmhub.storage.sync_log import SyncLogEntry

    result = []
    for store in list_stores():
        newest: dict[str, Any] = {}
        last_error: dict[str, Any] = {}
        for entry in SyncLogEntry.query(store.store_id, scan_index_forward=False, limit=50):
            newest.setdefault(entry.provider, entry)
            if entry.status == SyncStatus.ERROR:
                last_error.setdefault(entry.provider, entry)
        for connection in list_connections(store.store_id):
            latest = newest.get(connection.provider)
            error = last_error.get(connection.provider)
            erroring = (
                latest is not None and latest.status == SyncStatus.ERROR and now - latest.created_at < ERRORING_WINDOW
            )
            result.append(
                ConnectionHealth(
                    store_id=store.store_id,
                    provider=connection.provider,
                    enabled=connection.enabled,
                    status="disabled" if not connection.enabled else "erroring" if erroring else "ok",
                    last_test_ok=connection.last_test_ok,
                    last_error_at=error.created_at if error else None,
                    last_error_code=error.error_code if error else None,
                )
            )
    return result
