"""Initial sync, when both systems already hold data: link what exists on both sides,
create what exists on one side only, propose (never merge) what only looks alike.

A job per (store, provider, entity), worked one page per invocation by the sync worker
(resumable: the phase and cursor live in the job record):

1. ``erp_index``: page through the ERP's records; keep a compact index (ids, e-mail,
   document, phones, folded name, SKU) in index items of the job (TTL 7 days).
2. ``crm_match``: page through the provider's records; match each to an ERP record by
   e-mail (case-insensitive), then CPF/CNPJ (digits, check digits valid), then normalised
   phone (customers) or SKU then exact name (products). A match becomes a link and an
   inbound update, so the three-way merge (no base yet: the policy decides each differing
   field) brings both sides together. A fuzzy name match (accent-insensitive rapidfuzz
   ratio ≥ threshold) is only a *proposal* in the job's report. A provider record matching
   nothing is created in the ERP.
3. ``erp_create``: ERP records nobody matched or proposed are sent to the provider.

Records already linked are left alone, so running it twice changes nothing the second time.
A provider record matching an ERP record already linked to another is reported
(``linked_elsewhere``: a likely duplicate in the provider), and neither side is created.

Live changes while it runs: a record changed on either side before the job has linked it
would otherwise be created on the other side, next to the copy the job is about to match.
So while a job runs, the sync engine matches before it creates: an ERP change first looks
for the provider's record by natural key (:meth:`Provider.find_existing`), and a provider
change looks for the ERP's in the job's index (:func:`indexed_match`; it waits while the
index is being built).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pynamodb.exceptions import UpdateError

from crmhub.changes import accept_change
from crmhub.conflicts.merge import fold_text, similarity
from crmhub.errors import Conflict, InvalidInput
from crmhub.models import ENTITY_MODELS, Customer, Entity, Product
from crmhub.models.changes import ChangeRequest, InboundMessage, InitialSyncMessage
from crmhub.models.common import Lane, ProviderName
from crmhub.models.documents import digits
from crmhub.models.inbound import ProviderChange
from crmhub.observability import logger
from crmhub.queueing import SyncQueue
from crmhub.storage import entity_links as links
from crmhub.storage.base import utc_now
from crmhub.storage.connections import get_connection
from crmhub.storage.jobs import JobRecord
from crmhub.storage.stores import get_store

if TYPE_CHECKING:
    from crmhub.erp.client import ErpClient
    from crmhub.sync.engine import SyncEngine

SUPPORTED = (Entity.CUSTOMER, Entity.PRODUCT)
FUZZY_THRESHOLD = 0.88
INDEX_TTL = timedelta(days=7)
MAX_PROPOSALS = 200
RUNNING_FOR = timedelta(minutes=15)  # a job silent for longer is taken as dead
INTENT_ID = "initial-sync"


def job_id(provider: str, entity: Entity | str) -> str:
    """The job of an initial sync (one per store, provider and entity)."""
    return f"initial.{provider}.{entity}"


def start_initial_sync(
    store_id: str, provider: ProviderName, entity: Entity, *, queue: SyncQueue, clock: Callable[[], datetime] = utc_now
) -> tuple[JobRecord, bool]:
    """Start (or return the running) initial sync."""
    if entity not in SUPPORTED:
        raise InvalidInput(f"initial sync matches customers and products, not {entity}s")
    get_store(store_id)
    get_connection(store_id, str(provider))
    now = clock()
    jid = job_id(str(provider), entity)
    try:
        job = JobRecord.get(store_id, jid, consistent_read=True)
        if job.status == "running" and now - job.updated_at < RUNNING_FOR:
            return job, False
    except JobRecord.DoesNotExist:
        pass
    run = now.strftime("%Y%m%dT%H%M%S")
    job = JobRecord(
        store_id,
        jid,
        kind="initial_sync",
        provider=str(provider),
        entity=str(entity),
        status="running",
        cursor=None,
        done=0,
        total=0,
        created_at=now,
        updated_at=now,
        details={
            "run": run,
            "phase": "erp_index",
            "index_pages": 0,
            "erp_records": 0,
            "crm_records": 0,
            "matched_email": 0,
            "matched_document": 0,
            "matched_phone": 0,
            "matched_sku": 0,
            "matched_name": 0,
            "already_linked": 0,
            "linked_elsewhere": 0,
            "created_in_erp": 0,
            "created_in_crm": 0,
            "proposals": [],
        },
    )
    job.save()
    _enqueue(queue, store_id, provider, entity, "erp_index", None, run, now)
    return job, True


def process_initial_sync(
    message: InitialSyncMessage,
    *,
    engine: SyncEngine,
    queue: SyncQueue,
    clock: Callable[[], datetime] = utc_now,
) -> JobRecord:
    """One page of one phase."""
    job = JobRecord.get(message.store_id, message.job_id, consistent_read=True)
    details = _details(job)
    if (
        job.status != "running"
        or details.get("run") != message.run
        or details.get("phase") != message.phase
        or (job.cursor or None) != (message.cursor or None)
    ):
        return job  # redelivered or superseded
    now = clock()
    erp = engine.erp_for(message.store_id)
    if erp is None:
        raise InvalidInput("the store has no ERP API configured")
    if message.phase == "erp_index":
        next_cursor = _index_erp_page(message, erp, details, now)
        next_phase = "erp_index" if next_cursor else "crm_match"
    elif message.phase == "crm_match":
        next_cursor = _match_crm_page(message, engine, queue, details, now)
        next_phase = "crm_match" if next_cursor else "erp_create"
    else:
        _create_missing_in_crm(message, queue, details, now)
        next_cursor, next_phase = None, "done"
    job.updated_at, job.cursor = now, next_cursor
    details["phase"] = next_phase
    job.details = details
    if next_phase == "done":
        job.status = "done"
        job.save()
        logger.info(
            "initial_sync_done",
            extra={
                "store": message.store_id,
                "provider": str(message.provider),
                "entity": str(message.entity),
                **{k: v for k, v in details.items() if isinstance(v, int)},
            },
        )
        return job
    job.save()
    _enqueue(queue, message.store_id, message.provider, message.entity, next_phase, next_cursor, message.run, now)
    return job


# ------------------------------------------------------------------------- phase 1
def _index_erp_page(message: InitialSyncMessage, erp: ErpClient, details: dict[str, Any], now: datetime) -> str | None:
    page_number = int(message.cursor or 1)
    page = erp.list_page(message.entity, page_number, per_page=100, active=True)
    entries = []
    for raw in page.items:
        try:
            record = ENTITY_MODELS[message.entity].model_validate({**raw, "id": str(raw["id"])})
        except (ValidationError, KeyError):
            continue
        entries.append(_keys(record))
    JobRecord(
        message.store_id,
        f"{message.job_id}#idx#{message.run}#{page_number:06d}",
        kind="initial_sync_index",
        status="index",
        details={"entries": json.dumps(entries)},
        expires_at=int((now + INDEX_TTL).timestamp()),
    ).save()
    details["index_pages"] = int(details.get("index_pages", 0)) + 1
    details["erp_records"] = int(details.get("erp_records", 0)) + len(entries)
    return str(page.next_page) if page.next_page else None


def _keys(record: Any) -> dict[str, Any]:
    """The matching keys of a record (canonical, normalised)."""
    if isinstance(record, Customer):
        return {
            "id": record.id,
            "email": (record.email or "").lower() or None,
            "document": record.document,
            "phones": [digits(p) for p in record.phones],
            "name": fold_text(record.name),
        }
    assert isinstance(record, Product)
    return {"id": record.id, "sku": record.sku, "name": fold_text(record.name)}


def _index(message: InitialSyncMessage) -> list[dict[str, Any]]:
    return _index_entries(message.store_id, message.job_id, str(message.run))


def _index_entries(store_id: str, jid: str, run: str) -> list[dict[str, Any]]:
    prefix = f"{jid}#idx#{run}#"
    entries: list[dict[str, Any]] = []
    for item in JobRecord.query(store_id, JobRecord.job_id.startswith(prefix)):
        entries.extend(json.loads(_details(item)["entries"]))
    return entries


class _Matcher:
    """Finds an indexed ERP record by natural key: customers by e-mail (any case), CPF/CNPJ,
    then normalised phone; products by SKU, then exact (folded) name."""

    def __init__(self, index: list[dict[str, Any]]) -> None:
        self.index = index
        self._by = {
            "email": {e["email"]: e for e in index if e.get("email")},
            "document": {e["document"]: e for e in index if e.get("document")},
            "sku": {e["sku"]: e for e in index if e.get("sku")},
            "name": {e["name"]: e for e in index if e.get("name")},
        }
        self._phones = {p: e for e in index for p in e.get("phones", [])}

    def find(
        self, entity: Entity, keys: dict[str, Any], usable: Callable[[dict[str, Any]], bool]
    ) -> tuple[dict[str, Any], str] | None:
        """The first usable entry matching ``keys`` and how it matched, or None."""
        if entity is Entity.CUSTOMER:
            candidates = [
                ("email", self._by["email"].get(keys["email"] or "")),
                ("document", self._by["document"].get(keys["document"] or "")),
                ("phone", next((self._phones[p] for p in keys["phones"] if p in self._phones), None)),
            ]
        else:
            candidates = [("sku", self._by["sku"].get(keys["sku"] or "")), ("name", self._by["name"].get(keys["name"]))]
        for kind, entry in candidates:
            if entry is not None and usable(entry):
                return entry, kind
        return None


def matching_in_progress(store_id: str, provider: str, entity: Entity, *, now: datetime) -> JobRecord | None:
    """This entity's initial sync while it runs (None when there is none, or it is over)."""
    if entity not in SUPPORTED:
        return None
    try:
        job = JobRecord.get(store_id, job_id(provider, entity), consistent_read=True)
    except JobRecord.DoesNotExist:
        return None
    if job.status != "running" or now - job.updated_at >= RUNNING_FOR:
        return None
    return job


def still_indexing(job: JobRecord) -> bool:
    """True while the job is still reading the ERP (its index is incomplete)."""
    return _details(job).get("phase") == "erp_index"


def indexed_match(job: JobRecord, store_id: str, provider: str, entity: Entity, record: Any) -> str | None:
    """The ERP record in the job's index with ``record``'s natural key and no link yet."""
    details = _details(job)
    found = _Matcher(_index_entries(store_id, job.job_id, str(details.get("run")))).find(
        entity,
        _keys(record),
        lambda entry: links.get_link(store_id, provider, entity, entry["id"]) is None,
    )
    return found[0]["id"] if found else None


# ------------------------------------------------------------------------- phase 2
def _match_crm_page(
    message: InitialSyncMessage, engine: SyncEngine, queue: SyncQueue, details: dict[str, Any], now: datetime
) -> str | None:
    store, provider_name, entity = message.store_id, str(message.provider), message.entity
    provider = engine.provider_for(get_connection(store, provider_name))
    page = provider.list_page(entity, message.cursor)
    matcher = _Matcher(_index(message))
    index = matcher.index
    claimed = set(details.get("claimed", []))
    inbound: list[tuple[InboundMessage, Lane]] = []
    proposals = list(details.get("proposals", []))
    lane = Lane.LOW
    for item in page.items:
        details["crm_records"] = int(details.get("crm_records", 0)) + 1
        if links.find_by_external_id(store, provider_name, entity, item.external_id) is not None:
            details["already_linked"] = int(details.get("already_linked", 0)) + 1
            continue
        keys = _keys(item.record.model_copy(update={"id": item.external_id}))
        found = matcher.find(entity, keys, lambda entry: entry["id"] not in claimed)
        if found is not None:
            match, how = found
            claimed.add(match["id"])
            if link_pair(store, provider_name, entity, match["id"], item.external_id, now) is None:
                # The ERP record stands for another provider record (this one is likely a
                # duplicate in the provider), or a worker syncing an ERP change of it is
                # linking it right now (it searches the provider first). Create nothing.
                other = links.get_link(store, provider_name, entity, match["id"])
                outcome = "being_linked" if other is not None and not other.is_linked else "linked_elsewhere"
                details[outcome] = int(details.get(outcome, 0)) + 1
                continue
            details[f"matched_{how}"] = int(details.get(f"matched_{how}", 0)) + 1
            inbound.append((_inbound(message, item, "update", now), lane))
            continue
        fuzzy = max(
            ((similarity(keys["name"], e["name"]), e) for e in index if e["id"] not in claimed),
            key=lambda pair: pair[0],
            default=(0.0, None),
        )
        if fuzzy[1] is not None and fuzzy[0] >= FUZZY_THRESHOLD:
            if len(proposals) < MAX_PROPOSALS:
                proposals.append(
                    {"local_id": fuzzy[1]["id"], "external_id": item.external_id, "score": round(fuzzy[0], 3)}
                )
            claimed.add(fuzzy[1]["id"])  # neither side is created while a person decides
            continue
        inbound.append((_inbound(message, item, "create", now), lane))
        details["created_in_erp"] = int(details.get("created_in_erp", 0)) + 1
    if inbound:
        queue.send_inbound(inbound)
    details["proposals"] = proposals
    details["claimed"] = sorted(claimed)
    return page.next_cursor


def link_pair(
    store: str, provider: str, entity: Entity, local_id: str, external_id: str, now: datetime
) -> links.EntityLink | None:
    """Link an ERP record to the provider record found to be the same one, and return the
    link; None when the ERP record is linked, or being linked, to another provider record.

    No snapshot: the first merge has no common ancestor, so the policy decides every field.
    The write is conditional on the link as read, so it never overwrites a link another
    worker saved meanwhile."""
    for _ in range(3):
        link = links.get_link(store, provider, entity, local_id)
        if link is None:
            try:
                link = links.begin_intent(
                    store, provider, entity, local_id, intent_id=INTENT_ID, natural_key={}, now=now
                )
            except Conflict:
                continue  # someone else's link appeared: read it
        if link.is_linked:
            return link if link.external_id == external_id else None
        if link.status == links.STATUS_PENDING and link.intent_id != INTENT_ID:
            return None  # a worker is creating it in the provider (it looks for this record first)
        try:
            link.update(
                actions=[
                    links.EntityLink.external_id.set(external_id),
                    links.EntityLink.status.set(links.STATUS_LINKED),
                    links.EntityLink.last_synced_at.set(now),
                    links.EntityLink.version.add(1),
                    links.EntityLink.intent_id.remove(),
                ],
                condition=links.EntityLink.version == link.version,
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            continue
        return link
    return None


def _inbound(message: InitialSyncMessage, item: Any, action: str, now: datetime) -> InboundMessage:
    occurred = item.record.updated_at or now
    digest = hashlib.sha256(f"{message.run}|{item.external_id}".encode()).hexdigest()[:16]
    return InboundMessage(
        store_id=message.store_id,
        source="initial_sync",
        enqueued_at=now,
        change=ProviderChange(
            provider=message.provider,
            event_id=f"initial:{message.entity}:{digest}",
            entity=message.entity,
            external_id=item.external_id,
            action=action,  # type: ignore[arg-type]
            occurred_at=occurred,
            data=item.record.model_dump(mode="json", exclude={"id"}),
        ),
    )


# ------------------------------------------------------------------------- phase 3
def _create_missing_in_crm(
    message: InitialSyncMessage, queue: SyncQueue, details: dict[str, Any], now: datetime
) -> None:
    claimed = set(details.get("claimed", []))
    erp = None
    for entry in _index(message):
        if entry["id"] in claimed:
            continue
        if links.get_link(message.store_id, str(message.provider), message.entity, entry["id"]) is not None:
            continue
        erp = erp or _erp_client(message)
        record = erp.get(message.entity, entry["id"])
        if record is None:
            continue
        change = ChangeRequest(
            entity=message.entity, local_id=entry["id"], data=record, updated_at=record.get("updated_at") or now
        )
        accept_change(message.store_id, change, queue=queue, source="bulk")
        details["created_in_crm"] = int(details.get("created_in_crm", 0)) + 1


def _erp_client(message: InitialSyncMessage) -> ErpClient:
    from crmhub.credentials import CredentialStore
    from crmhub.erp.connection import erp_client_for

    return erp_client_for(get_store(message.store_id), CredentialStore())


def accept_proposal(
    store_id: str,
    provider: ProviderName,
    entity: Entity,
    local_id: str,
    external_id: str,
    *,
    queue: SyncQueue,
) -> None:
    """A person confirmed a proposed match: link the pair and queue their merge. The API
    never calls the provider: the worker fetches the record under the connection's rate
    budget (an inbound change without data)."""
    job = JobRecord.get(store_id, job_id(str(provider), entity), consistent_read=True)
    details = _details(job)
    proposal = next(
        (p for p in details.get("proposals", []) if p["local_id"] == local_id and p["external_id"] == external_id), None
    )
    if proposal is None:
        raise InvalidInput("no such proposal in the latest initial sync")
    now = utc_now()
    if link_pair(store_id, str(provider), entity, local_id, external_id, now) is None:
        raise InvalidInput("the ERP record has been linked to another provider record since the proposal")
    digest = hashlib.sha256(f"{details.get('run')}|accept|{external_id}".encode()).hexdigest()[:16]
    change = ProviderChange(
        provider=provider,
        event_id=f"initial:{entity}:{digest}",
        entity=entity,
        external_id=external_id,
        action="update",
        occurred_at=now,
    )
    queue.send_inbound(
        [(InboundMessage(store_id=store_id, source="initial_sync", enqueued_at=now, change=change), Lane.LOW)]
    )
    details["proposals"] = [p for p in details["proposals"] if p is not proposal]
    job.details = details
    job.save()


def _details(job: JobRecord) -> dict[str, Any]:
    details = job.details
    if details is None:
        return {}
    return dict(details.as_dict() if hasattr(details, "as_dict") else details)


def _enqueue(
    queue: SyncQueue,
    store_id: str,
    provider: ProviderName,
    entity: Entity,
    phase: str,
    cursor: str | None,
    run: str,
    now: datetime,
) -> None:
    message = InitialSyncMessage(
        store_id=store_id,
        provider=provider,
        entity=entity,
        job_id=job_id(str(provider), entity),
        phase=phase,
        cursor=cursor,
        run=run,
        enqueued_at=now,
    )
    queue.client.send_message(
        QueueUrl=queue.settings.queue_url(Lane.LOW),
        MessageBody=message.model_dump_json(),
        MessageGroupId=f"{store_id}#initial#{provider}#{entity}",
        MessageDeduplicationId=hashlib.sha256(f"{run}|{phase}|{cursor}".encode()).hexdigest(),
    )
