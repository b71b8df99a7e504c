"""Sync worker function: SQS batch → GestãoClick simulator → links and sync log.

The simulator is the real HTTP one, in a thread; faults are scripted through its
/_sim endpoints, the way an operator would."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from support import gestaoclick_store, load_event

STORE = "loja-1"


@pytest.fixture
def worker(aws, cold_start, gestaoclick):
    gestaoclick_store(STORE, gestaoclick.url)
    return cold_start("sync_worker")


def sqs_event(aws, *changes, lane="SyncDefaultQueue", receive_count=1):
    """Put the changes on the lane as the API would, and receive them as Lambda would."""
    from crmhub.models.changes import ChangeRequest, SyncMessage
    from crmhub.models.common import Lane
    from crmhub.queueing import SyncQueue

    queue = SyncQueue()
    lane_enum = {"SyncDefaultQueue": Lane.DEFAULT, "SyncHighQueue": Lane.HIGH}[lane]
    for change in changes:
        request = ChangeRequest.model_validate(change)
        queue.send(
            SyncMessage.for_change(STORE, request, "gestaoclick", enqueued_at=datetime.now(UTC)),
            lane_enum,
        )
    template = load_event("sqs_sync_customer.json")["Records"][0]
    records = []
    for message in aws.receive(lane):
        record = dict(
            template,
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            attributes={**message["Attributes"], "ApproximateReceiveCount": str(receive_count)},
        )
        record["eventSourceARN"] = (
            template["eventSourceARN"].rsplit(":", 1)[0] + ":" + aws.queue_urls[lane].rsplit("/", 1)[1]
        )
        records.append(record)
    return {"Records": records}


def customer(local_id="1001", name="Maria Oliveira", when="2026-11-23T10:00:00Z", **data):
    body = load_event("api_post_change.json")
    change = json.loads(body["body"])
    change.update(local_id=local_id, updated_at=when)
    change["data"] = {**change["data"], "name": name, **data}
    return change


def gc_records(server, resource="clientes"):
    return httpx.get(f"{server.url}/_sim/records/{resource}").json()["data"]


def link(local_id):
    from crmhub.models.common import Entity
    from crmhub.storage.entity_links import get_link

    return get_link(STORE, "gestaoclick", Entity.CUSTOMER, local_id)


def test_first_change_creates_and_links(worker, aws, gestaoclick, lambda_context):
    response = worker.lambda_handler(sqs_event(aws, customer()), lambda_context)
    assert response == {"batchItemFailures": []}
    [record] = gc_records(gestaoclick)
    assert record["nome"] == "Maria Oliveira" and record["cpf"] == "52998224725"
    stored = link("1001")
    assert stored.is_linked and stored.external_id == str(record["id"])
    from crmhub.storage.sync_log import logs_for_record

    [entry] = logs_for_record(STORE, "customer", "1001")
    assert (entry.action, entry.status, entry.external_id) == ("create", "success", str(record["id"]))


def test_second_change_updates_instead_of_creating(worker, aws, gestaoclick, lambda_context):
    worker.lambda_handler(sqs_event(aws, customer()), lambda_context)
    aws.client("sqs").purge_queue(QueueUrl=aws.queue_urls["SyncDefaultQueue"])
    worker.lambda_handler(sqs_event(aws, customer(name="Maria O. Santos", when="2026-11-23T11:00:00Z")), lambda_context)
    records = gc_records(gestaoclick)
    assert len(records) == 1 and records[0]["nome"] == "Maria O. Santos"


def test_out_of_order_change_is_skipped(worker, aws, gestaoclick, lambda_context):
    worker.lambda_handler(sqs_event(aws, customer(name="Newer", when="2026-11-23T12:00:00Z")), lambda_context)
    aws.client("sqs").purge_queue(QueueUrl=aws.queue_urls["SyncDefaultQueue"])
    worker.lambda_handler(sqs_event(aws, customer(name="Older", when="2026-11-23T09:00:00Z")), lambda_context)
    assert gc_records(gestaoclick)[0]["nome"] == "Newer"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_provider_5xx_is_retried_with_backoff(worker, aws, gestaoclick, lambda_context, status):
    httpx.post(f"{gestaoclick.url}/_sim/faults", json={"status": status, "count": 1}).raise_for_status()
    event = sqs_event(aws, customer())
    response = worker.lambda_handler(event, lambda_context)
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    # the message is invisible for its backoff (not the 360 s queue default): not receivable now
    assert aws.receive("SyncDefaultQueue") == []
    assert gc_records(gestaoclick) == []
    from crmhub.storage.sync_log import logs_for_record

    assert logs_for_record(STORE, "customer", "1001")[0].status == "retry"


def test_provider_429_retry_after_is_honoured_through_visibility(worker, aws, gestaoclick, lambda_context):
    httpx.post(f"{gestaoclick.url}/_sim/faults", json={"status": 429, "count": 1, "retry_after": 30}).raise_for_status()
    event = sqs_event(aws, customer())
    calls = []
    sqs = worker.worker._client("sqs")
    original = sqs.change_message_visibility_batch

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    sqs.change_message_visibility_batch = spy
    response = worker.lambda_handler(event, lambda_context)
    assert len(response["batchItemFailures"]) == 1
    assert calls[0]["Entries"][0]["VisibilityTimeout"] >= 30


def test_a_record_held_by_a_dead_worker_is_waited_for_without_dead_lettering(worker, aws, gestaoclick, lambda_context):
    from datetime import timedelta

    from crmhub.storage import entity_links
    from crmhub.storage.sync_log import recent_errors

    sqs = worker.worker._client("sqs")
    queue_url = aws.queue_urls["SyncDefaultQueue"]

    def deliver(change, attempt):
        """The worker's answer; then the message leaves the queue (Lambda deletes what
        succeeded; a retry comes back as the next, later delivery)."""
        event = sqs_event(aws, change, receive_count=attempt)
        response = worker.lambda_handler(event, lambda_context)
        for record in event["Records"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
        return response

    assert deliver(customer(), 1) == {"batchItemFailures": []}
    original = sqs.change_message_visibility_batch
    delays: list[int] = []

    def spy(**kwargs):
        delays.extend(entry["VisibilityTimeout"] for entry in kwargs["Entries"])
        return original(**kwargs)

    sqs.change_message_visibility_batch = spy
    # A worker took the record 30 s ago and died: its lease has 60 s left.
    taken = datetime.now(UTC) - timedelta(seconds=30)
    with entity_links.lease(link("1001"), owner="dead-worker", seconds=90, now=taken):
        for attempt in (1, 2, 3, 4):  # MaxReceiveCount 5: the fifth delivery is the last
            change = customer(name=f"Maria Oliveira {attempt}", when=f"2026-11-23T10:0{attempt}:00Z")
            assert len(deliver(change, attempt)["batchItemFailures"]) == 1
    first, second, third, fourth = delays
    # the usual hold ends in well under a second: the first retries stay short
    assert first <= 3 and second <= 5
    # the last two share what is left of the hold, so the fifth delivery finds it expired
    assert third >= 30 and fourth >= 59
    assert gc_records(gestaoclick)[0]["nome"] == "Maria Oliveira"  # nothing written meanwhile
    assert recent_errors(STORE) == []  # waiting is not a failure


def test_timeout_is_transient(worker, aws, gestaoclick, lambda_context):
    from crmhub.models.connection import ConnectionSettings
    from crmhub.storage.connections import put_connection

    put_connection(STORE, "gestaoclick", ConnectionSettings(base_url=gestaoclick.url, rate_limit=1000, timeout_s=0.3))
    httpx.post(
        f"{gestaoclick.url}/_sim/faults", json={"type": "timeout", "seconds": 1.0, "count": 1}
    ).raise_for_status()
    response = worker.lambda_handler(sqs_event(aws, customer()), lambda_context)
    assert len(response["batchItemFailures"]) == 1


def test_permanent_rejection_goes_to_the_dlq_at_once(worker, aws, gestaoclick, lambda_context):
    httpx.post(f"{gestaoclick.url}/_sim/faults", json={"status": 400, "count": 1}).raise_for_status()
    response = worker.lambda_handler(sqs_event(aws, customer()), lambda_context)
    # not retried: reported as processed, moved to the DLQ with the reason
    assert response == {"batchItemFailures": []}
    [dead] = aws.receive("SyncDefaultDeadLetterQueue")
    assert dead["MessageAttributes"]["error_code"]["StringValue"] == "provider_rejected"
    from crmhub.storage.sync_log import recent_errors

    [error] = recent_errors(STORE)
    assert error.error_code == "provider_rejected" and error.local_id == "1001"


def test_crash_between_create_and_link_does_not_duplicate(worker, aws, gestaoclick, lambda_context):
    # Given GestãoClick creates the record but the answer never reaches us
    httpx.post(
        f"{gestaoclick.url}/_sim/faults", json={"type": "drop_after_commit", "count": 1, "method": "POST"}
    ).raise_for_status()
    first = worker.lambda_handler(sqs_event(aws, customer()), lambda_context)
    assert len(first["batchItemFailures"]) == 1
    assert len(gc_records(gestaoclick)) == 1 and link("1001").status == "pending"
    # When the message comes back
    aws.client("sqs").purge_queue(QueueUrl=aws.queue_urls["SyncDefaultQueue"])
    second = worker.lambda_handler(sqs_event(aws, customer(), receive_count=2), lambda_context)
    # Then the pending intent finds the record instead of creating another
    assert second == {"batchItemFailures": []}
    records = gc_records(gestaoclick)
    assert len(records) == 1
    assert link("1001").external_id == str(records[0]["id"])


def test_worker_killed_after_create_is_recovered_by_intent(worker, aws, gestaoclick, lambda_context, monkeypatch):
    # Given the process dies right after the provider's create (before the link is saved)
    from crmhub.storage import entity_links

    real_complete = entity_links.complete_link

    class Killed(BaseException):
        pass

    def die(*args, **kwargs):
        raise Killed

    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    monkeypatch.setattr(entity_links, "complete_link", die)
    with pytest.raises(Killed):
        worker.worker.record_handler(SQSRecord(sqs_event(aws, customer())["Records"][0]))
    monkeypatch.setattr(entity_links, "complete_link", real_complete)
    assert len(gc_records(gestaoclick)) == 1
    # When SQS redelivers after the visibility timeout (by then the dead run's
    # in-progress idempotency record has expired with its Lambda's remaining time)
    aws.client("sqs").purge_queue(QueueUrl=aws.queue_urls["SyncDefaultQueue"])
    idem = aws.client("dynamodb")
    for item in idem.scan(TableName=aws.table_names["IdempotencyTable"])["Items"]:
        idem.delete_item(TableName=aws.table_names["IdempotencyTable"], Key={"id": item["id"]})
    response = worker.lambda_handler(sqs_event(aws, customer(), receive_count=2), lambda_context)
    assert response == {"batchItemFailures": []}
    assert len(gc_records(gestaoclick)) == 1


def test_sale_waits_for_its_customer_link(worker, aws, gestaoclick, lambda_context):
    sale = {
        "entity": "sale",
        "local_id": "v1",
        "updated_at": "2026-11-23T10:00:00Z",
        "data": {
            "customer_id": "1001",
            "date": "2026-11-23",
            "items": [{"product_id": "p1", "quantity": 1, "unit_price": "5"}],
        },
    }
    response = worker.lambda_handler(sqs_event(aws, sale, lane="SyncHighQueue"), lambda_context)
    assert len(response["batchItemFailures"]) == 1
    assert gc_records(gestaoclick, "vendas") == []


def test_failure_in_one_group_does_not_block_another(worker, aws, gestaoclick, lambda_context):
    # two customers whose records hash to different groups; the first POST fails
    httpx.post(f"{gestaoclick.url}/_sim/faults", json={"status": 503, "count": 1, "method": "POST"}).raise_for_status()
    from crmhub.queueing import message_group_id

    ids = [str(i) for i in range(1, 50)]
    a = ids[0]
    b = next(
        i for i in ids[1:] if message_group_id(STORE, "customer", i, 4) != message_group_id(STORE, "customer", a, 4)
    )
    event = sqs_event(aws, customer(local_id=a), customer(local_id=b, document="11144477735", email="b@example.com"))
    response = worker.lambda_handler(event, lambda_context)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert len(failed) == 1
    assert len(gc_records(gestaoclick)) == 1
