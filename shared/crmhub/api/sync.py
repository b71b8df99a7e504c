"""Sync operations: bulk enqueue, jobs, links, logs, stats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ValidationError

from crmhub.api.auth import authorize_store
from crmhub.api.common import LocalId, StoreId, sync_queue
from crmhub.errors import InvalidInput, NotFound
from crmhub.models.common import Entity, ProviderName
from crmhub.storage import entity_links, jobs, sync_log

router = APIGatewayRouter()


class JobView(BaseModel):
    """A bulk/import job and its progress."""

    job_id: str
    kind: str
    entity: str | None
    provider: str | None
    status: str
    records_read: int
    total: int
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class LinkView(BaseModel):
    """An entity link (no snapshot contents: they hold personal data)."""

    store_id: str
    provider: str
    entity: str
    local_id: str
    external_id: str | None
    status: str
    last_synced_at: datetime | None
    source_updated_at: datetime | None


class LogView(BaseModel):
    """A sync log entry."""

    log_id: str
    provider: str
    entity: str
    local_id: str
    external_id: str | None
    direction: str
    action: str
    status: str
    attempt: int
    duration_ms: float
    error_code: str | None
    error_message: str | None
    created_at: datetime


def job_view(job: jobs.JobRecord) -> JobView:
    """Public view of a job."""
    details = job.details.as_dict() if hasattr(job.details, "as_dict") else dict(job.details or {})
    return JobView(
        job_id=job.job_id,
        kind=job.kind,
        entity=job.entity,
        provider=job.provider,
        status=job.status,
        records_read=int(job.done or 0),
        total=int(job.total or 0),
        details={k: (int(v) if isinstance(v, float | int) else v) for k, v in details.items()},
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def _link_view(store_id: str, provider: str, entity: str, link: entity_links.EntityLink) -> LinkView:
    return LinkView(
        store_id=store_id,
        provider=provider,
        entity=entity,
        local_id=link.local_id,
        external_id=link.external_id,
        status=link.status,
        last_synced_at=link.last_synced_at,
        source_updated_at=link.source_updated_at,
    )


def _log_view(entry: sync_log.SyncLogEntry) -> LogView:
    return LogView(
        log_id=entry.log_id,
        provider=entry.provider,
        entity=entry.entity,
        local_id=entry.local_id,
        external_id=entry.external_id,
        direction=entry.direction,
        action=entry.action,
        status=entry.status,
        attempt=int(entry.attempt),
        duration_ms=float(entry.duration_ms),
        error_code=entry.error_code,
        error_message=entry.error_message,
        created_at=entry.created_at,
    )


@router.post(
    "/api/v1/stores/<store_id>/sync/<entity>/bulk", tags=["sync"], summary="Enqueue every active record of an entity"
)
def post_bulk(store_id: StoreId, entity: Entity) -> Response[dict]:
    """Customers and products: all active; sales: the last 30 days; activities: open ones.
    Idempotent: a running job is returned instead of starting another."""
    from crmhub.bulk import start_bulk

    authorize_store(router, store_id)
    started = start_bulk(store_id, entity, queue=sync_queue())
    return Response(
        status_code=202 if started.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=job_view(started.job).model_dump(mode="json"),
    )


@router.post(
    "/api/v1/stores/<store_id>/sync/<entity>/records/<local_id>",
    tags=["sync"],
    summary="Sync one record now",
)
def post_sync_record(store_id: StoreId, entity: Entity, local_id: LocalId) -> Response[dict]:
    """Read the record from the store's ERP now and send it through the normal path to every
    connection that receives this entity (a person pressing "sync now"). The ERP's current
    record is treated as the newest change (``updated_at`` = now), so it is applied even if
    an earlier copy failed; unchanged fields are still skipped by the snapshot comparison.
    202 with the change id (follow it in ``GET …/logs/{entity}/{local_id}``)."""
    from crmhub.changes import accept_change
    from crmhub.credentials import CredentialStore
    from crmhub.erp.connection import erp_client_for
    from crmhub.models.changes import ChangeRequest
    from crmhub.storage.base import utc_now
    from crmhub.storage.stores import get_store

    authorize_store(router, store_id)
    store = get_store(store_id)
    erp = erp_client_for(store, CredentialStore())
    try:
        record = erp.get(entity, local_id)
    finally:
        erp.close()
    if record is None:
        raise NotFound("the ERP has no such record", details={"entity": str(entity), "local_id": local_id})
    deleted = bool(record.get("deleted_at"))
    try:
        change = ChangeRequest.model_validate(
            {
                "entity": entity,
                "local_id": local_id,
                "operation": "delete" if deleted else "upsert",
                "data": {} if deleted else record,
                "updated_at": utc_now(),
            }
        )
    except ValidationError as exc:
        raise InvalidInput(
            "the ERP's record is not valid", details={"errors": [e["msg"] for e in exc.errors()][:20]}
        ) from None
    accepted = accept_change(store_id, change, queue=sync_queue(), source="manual")
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"change_id": accepted.change_id, "status": accepted.status, "providers": accepted.providers},
    )


@router.get("/api/v1/stores/<store_id>/jobs", tags=["sync"], summary="List jobs")
def list_jobs(store_id: StoreId, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[JobView]:
    """Newest first."""
    authorize_store(router, store_id)
    return [job_view(j) for j in jobs.JobRecord.query(store_id, scan_index_forward=False, limit=limit)]


@router.get("/api/v1/stores/<store_id>/jobs/<job_id>", tags=["sync"], summary="A job's progress")
def get_job(store_id: StoreId, job_id: str) -> JobView:
    """One job."""
    authorize_store(router, store_id)
    job = jobs.get_job(store_id, job_id)
    if job is None:
        raise NotFound("no such job", details={"job_id": job_id})
    return job_view(job)


@router.get(
    "/api/v1/stores/<store_id>/links/<provider>/<entity>/local/<local_id>",
    tags=["links"],
    summary="Link by the ERP's id",
)
def link_by_local(store_id: StoreId, provider: ProviderName, entity: Entity, local_id: LocalId) -> LinkView:
    """The provider id of an ERP record."""
    authorize_store(router, store_id)
    link = entity_links.get_link(store_id, str(provider), entity, local_id)
    if link is None:
        raise NotFound("record is not linked", details={"local_id": local_id})
    return _link_view(store_id, str(provider), str(entity), link)


@router.get(
    "/api/v1/stores/<store_id>/links/<provider>/<entity>/external/<external_id>",
    tags=["links"],
    summary="Link by the provider's id",
)
def link_by_external(store_id: StoreId, provider: ProviderName, entity: Entity, external_id: str) -> LinkView:
    """The ERP id of a provider record."""
    authorize_store(router, store_id)
    link = entity_links.find_by_external_id(store_id, str(provider), entity, external_id)
    if link is None:
        raise NotFound("record is not linked", details={"external_id": external_id})
    return _link_view(store_id, str(provider), str(entity), link)


@router.get("/api/v1/stores/<store_id>/logs/<entity>/<local_id>", tags=["logs"], summary="A record's sync log")
def logs_for_record(
    store_id: StoreId, entity: Entity, local_id: LocalId, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[LogView]:
    """Newest first."""
    authorize_store(router, store_id)
    return [_log_view(e) for e in sync_log.logs_for_record(store_id, str(entity), local_id, limit=limit)]


@router.get("/api/v1/stores/<store_id>/errors", tags=["logs"], summary="Recent sync errors")
def recent_errors(store_id: StoreId, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[LogView]:
    """Newest first, with the provider's message."""
    authorize_store(router, store_id)
    return [_log_view(e) for e in sync_log.recent_errors(store_id, limit=limit)]


@router.get("/api/v1/stores/<store_id>/stats", tags=["logs"], summary="Sync statistics")
def stats(store_id: StoreId) -> dict:
    """Processed today, errors in 24 h, success rate, per entity and provider, lane depths."""
    from crmhub.stats import queue_depths, store_stats

    authorize_store(router, store_id)
    queue = sync_queue()
    return {**store_stats(store_id), "queues": queue_depths(queue.settings, queue.client)}


@router.post(
    "/api/v1/stores/<store_id>/sync/<provider>/<entity>/import",
    tags=["sync"],
    summary="Start an incremental import from a provider now",
)
def post_import(store_id: StoreId, provider: ProviderName, entity: Entity) -> Response[dict]:
    """The same run the 10-minute schedule starts; a run in progress is returned instead."""
    from crmhub.imports import start_import

    authorize_store(router, store_id)
    job, started = start_import(store_id, provider, entity, queue=sync_queue())
    return Response(
        status_code=202 if started else 200,
        content_type=content_types.APPLICATION_JSON,
        body=job_view(job).model_dump(mode="json"),
    )


class ProposalBody(BaseModel):
    """A proposed match a person confirms."""

    local_id: str
    external_id: str


@router.post(
    "/api/v1/stores/<store_id>/sync/<provider>/<entity>/initial",
    tags=["sync"],
    summary="Start the initial sync (both systems already have data)",
)
def post_initial_sync(store_id: StoreId, provider: ProviderName, entity: Entity) -> Response[dict]:
    """Links what exists on both sides (e-mail, CPF/CNPJ, phone; SKU/name for products),
    proposes fuzzy name matches for review, creates what exists on one side only. Its report
    is the job (GET …/jobs/initial.<provider>.<entity>)."""
    from crmhub.initial_sync import start_initial_sync

    authorize_store(router, store_id)
    job, started = start_initial_sync(store_id, provider, entity, queue=sync_queue())
    return Response(
        status_code=202 if started else 200,
        content_type=content_types.APPLICATION_JSON,
        body=job_view(job).model_dump(mode="json"),
    )


@router.post(
    "/api/v1/stores/<store_id>/sync/<provider>/<entity>/initial/proposals/accept",
    tags=["sync"],
    summary="Confirm a proposed match",
)
def accept_proposal(store_id: StoreId, provider: ProviderName, entity: Entity, body: ProposalBody) -> dict:
    """Link the pair and merge it (the conflict policy decides differing fields)."""
    from crmhub.initial_sync import accept_proposal as accept

    authorize_store(router, store_id)
    accept(store_id, provider, entity, body.local_id, body.external_id, queue=sync_queue())
    return {"linked": True, "local_id": body.local_id, "external_id": body.external_id}
