"""Cleanup function (the daily schedule), fed by events/schedule_cleanup.json: what TTL does
not do. Stale create intents are resolved against the provider (adopted when the record
exists there, removed when it does not, never deleted blindly), processed events older
than 7 days are removed, stuck jobs are marked failed — and the report says so."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from support import gestaoclick_store, load_event

STORE = "loja-1"


@pytest.fixture
def tenant(aws, gestaoclick):
    gestaoclick_store(STORE, gestaoclick.url)


def accept(local_id: str, document: str, name: str):
    """The API's path: the change is stored as an event and enqueued."""
    from crmhub.changes import accept_change
    from crmhub.models.changes import ChangeRequest
    from crmhub.queueing import SyncQueue

    change = ChangeRequest.model_validate(
        {
            "entity": "customer",
            "local_id": local_id,
            "updated_at": "2026-11-23T10:00:00Z",
            "data": {"person_type": "PF", "name": name, "document": document},
        }
    )
    return accept_change(STORE, change, queue=SyncQueue())


def work_once(aws, worker, lambda_context):
    """One delivery of everything on the default lane, as Lambda would get it."""
    template = load_event("sqs_sync_customer.json")["Records"][0]
    records = [
        dict(
            template,
            messageId=m["MessageId"],
            receiptHandle=m["ReceiptHandle"],
            body=m["Body"],
            attributes={**m["Attributes"], "ApproximateReceiveCount": "1"},
        )
        for m in aws.receive("SyncDefaultQueue")
    ]
    return worker.lambda_handler({"Records": records}, lambda_context)


def age_intents(days: float) -> None:
    from crmhub.storage.entity_links import STATUS_PENDING, EntityLink

    for link in EntityLink.scan(EntityLink.status == STATUS_PENDING):
        link.update(actions=[EntityLink.intent_at.set(datetime.now(UTC) - timedelta(days=days))])


def link_of(local_id):
    from crmhub.models.common import Entity
    from crmhub.storage.entity_links import get_link

    return get_link(STORE, "gestaoclick", Entity.CUSTOMER, local_id)


def test_cleanup_resolves_stale_intents_removes_old_events_and_fails_stuck_jobs(
    aws, cold_start, tenant, gestaoclick, lambda_context
):
    from crmhub.storage.events import InboundEvent, set_event_status, store_event
    from crmhub.storage.jobs import JobRecord

    worker = cold_start("sync_worker")
    # A create whose answer was lost (GestãoClick has the record) and a create that failed
    # before anything was written (it has not): both leave a pending intent.
    faults = [
        {"type": "drop_after_commit", "count": 1, "method": "POST"},
        {"type": "status", "status": 503, "count": 1, "method": "POST"},
    ]
    httpx.post(f"{gestaoclick.url}/_sim/faults", json=faults).raise_for_status()
    documents = {"c-1": "52998224725", "c-2": "11144477735"}
    for number, (local_id, document) in enumerate(documents.items()):
        accept(local_id, document, f"Cliente {number}")
    response = work_once(aws, worker, lambda_context)
    assert len(response["batchItemFailures"]) == 2
    assert link_of("c-1").status == "pending" and link_of("c-2").status == "pending"
    created = httpx.get(f"{gestaoclick.url}/_sim/records/clientes").json()["data"]
    assert len(created) == 1
    # Whichever create went first had its answer lost; the other never reached GestãoClick.
    lost_answer = next(k for k, v in documents.items() if "".join(filter(str.isdigit, created[0]["cpf"])) == v)
    never_created = next(k for k in documents if k != lost_answer)
    # A fresh intent is left alone; a day-old one (its message long gone to the DLQ) is not.
    cleanup = cold_start("cleanup")
    fresh = cleanup.lambda_handler(load_event("schedule_cleanup.json"), lambda_context)
    assert fresh["intents_adopted"] == fresh["intents_removed"] == 0
    age_intents(days=2)
    # Old and recent processed events; a stuck job.
    old = datetime.now(UTC) - timedelta(days=8)
    store_event("old-processed", store_id=STORE, source="api", payload={"x": 1}, now=old)
    set_event_status("old-processed", "processed")
    store_event("old-failed", store_id=STORE, source="api", payload={"x": 2}, now=old)
    set_event_status("old-failed", "failed", error="kept for operators")
    store_event("recent-processed", store_id=STORE, source="api", payload={"x": 3})
    set_event_status("recent-processed", "processed")
    stuck = datetime.now(UTC) - timedelta(hours=3)
    JobRecord(STORE, "bulk.customer", kind="bulk", status="running", created_at=stuck, updated_at=stuck).save()

    report = cleanup.lambda_handler(load_event("schedule_cleanup.json"), lambda_context)

    assert report["intents_adopted"] == 1 and report["intents_removed"] == 1
    assert report["events_removed"] == 1 and report["jobs_marked_failed"] == 1
    assert report["stopped_early"] is False
    assert link_of(lost_answer).status == "linked"
    assert link_of(lost_answer).external_id == str(created[0]["id"])
    assert link_of(never_created) is None  # a later retry creates it cleanly
    assert {e.event_id for e in InboundEvent.scan()} >= {"old-failed", "recent-processed"}
    assert "old-processed" not in {e.event_id for e in InboundEvent.scan()}
    assert JobRecord.get(STORE, "bulk.customer").status == "failed"
    # Nothing left to do: a second run reports zeros.
    again = cleanup.lambda_handler(load_event("schedule_cleanup.json"), lambda_context)
    assert (again["intents_adopted"], again["intents_removed"], again["events_removed"]) == (0, 0, 0)


def test_cleanup_removes_only_stale_creation_claims(aws, cold_start, tenant, lambda_context):
    from crmhub.storage import entity_links

    now = datetime.now(UTC)
    entity_links.claim_creation(STORE, "gestaoclick", "customer", "7", natural_key={}, now=now - timedelta(days=2))
    entity_links.claim_creation(STORE, "gestaoclick", "customer", "8", natural_key={}, now=now)

    report = cold_start("cleanup").lambda_handler(load_event("schedule_cleanup.json"), lambda_context)

    assert report["claims_removed"] == 1
    left = entity_links.creations_in_flight(STORE, "gestaoclick", "customer", since=now - timedelta(days=30))
    assert [claim.intent_id for claim in left] == ["8"]
