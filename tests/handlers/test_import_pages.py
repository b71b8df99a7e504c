"""Import pages against the GestãoClick simulator: a worker that dies after saving a page's
cursor but before queueing the next page must not leave the run stuck — the redelivered
page queues the next one again (once: same deduplication id)."""

import json

import httpx
import pytest

from support import gestaoclick_store

STORE = "loja-1"


@pytest.fixture
def gestaoclick():
    from local.simulators import SimulatorServer, make_gestaoclick_app

    with SimulatorServer(make_gestaoclick_app()) as server:
        httpx.post(f"{server.url}/_sim/config", json={"rate_limit": 1000, "page_size": 2}).raise_for_status()
        clientes = [{"nome": f"Cliente {i}", "email": f"c{i}@example.com"} for i in range(5)]
        httpx.post(f"{server.url}/_sim/records/clientes", json=clientes).raise_for_status()
        yield server


@pytest.fixture
def tenant(aws, gestaoclick):
    gestaoclick_store(STORE, gestaoclick.url)


def page_messages(aws):
    """Import page messages waiting on the low lane (received and deleted)."""
    sqs = aws.client("sqs")
    found = []
    for message in aws.receive("SyncLowQueue"):
        body = json.loads(message["Body"])
        sqs.delete_message(QueueUrl=aws.queue_urls["SyncLowQueue"], ReceiptHandle=message["ReceiptHandle"])
        if body.get("kind") == "import_page":
            found.append(body)
    return found


def test_a_crash_between_saving_the_cursor_and_queueing_the_next_page_is_recovered(aws, tenant, monkeypatch):
    from crmhub import imports
    from crmhub.models.changes import ImportPageMessage
    from crmhub.models.common import Entity, ProviderName
    from crmhub.queueing import SyncQueue
    from crmhub.sync.engine import SyncEngine

    queue, engine = SyncQueue(), SyncEngine()
    job, started = imports.start_import(STORE, ProviderName.GESTAOCLICK, Entity.CUSTOMER, queue=queue)
    assert started
    [first] = page_messages(aws)
    real_enqueue = imports._enqueue_page

    def die(*args, **kwargs):
        raise SystemExit("worker killed after saving the cursor")

    monkeypatch.setattr(imports, "_enqueue_page", die)
    with pytest.raises(SystemExit):
        imports.process_import_page(ImportPageMessage.model_validate(first), engine=engine, queue=queue)
    monkeypatch.setattr(imports, "_enqueue_page", real_enqueue)
    job = imports.JobRecord.get(STORE, job.job_id)
    assert job.cursor == "2" and job.status == "running"
    assert page_messages(aws) == []  # the next page was never queued

    # SQS redelivers the first page: it is not imported again, but the next page is queued.
    imports.process_import_page(ImportPageMessage.model_validate(first), engine=engine, queue=queue)
    [second] = page_messages(aws)
    assert second["cursor"] == "2"
    # A second redelivery queues it again with the same deduplication id: SQS keeps one.
    imports.process_import_page(ImportPageMessage.model_validate(first), engine=engine, queue=queue)
    imports.process_import_page(ImportPageMessage.model_validate(first), engine=engine, queue=queue)
    assert len(page_messages(aws)) <= 1
    # The run then finishes from page 2 (page 1 is read once in all).
    message = second
    while message is not None:
        imports.process_import_page(ImportPageMessage.model_validate(message), engine=engine, queue=queue)
        waiting = page_messages(aws)
        message = waiting[0] if waiting else None
    job = imports.JobRecord.get(STORE, job.job_id)
    assert job.status == "idle" and job.done == 5
    lists = [r for r in httpx.get(f"{tenant_url(aws)}/_sim/stats").json()["recent"] if r["method"] == "GET"]
    assert len(lists) == 3  # pages 1, 2 and 3, each read once


def tenant_url(aws):
    from crmhub.storage.connections import get_connection

    return str(get_connection(STORE, "gestaoclick").settings.base_url).rstrip("/")
