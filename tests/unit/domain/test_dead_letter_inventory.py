"""Dead letters against moto's SQS FIFO and DynamoDB (queues and tables from template.yaml):
inventory, retry one, archive, delete, retry all (per message, and StartMessageMoveTask where
SQS supports it), and the sync-outcome time series."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

STORE = "loja-dl"
OTHER = "loja-outra"


def sync_body(store: str, local_id: str, change_id: str) -> str:
    from crmhub.models.changes import SyncMessage

    return SyncMessage(
        change_id=change_id,
        store_id=store,
        provider="gestaoclick",
        entity="customer",
        local_id=local_id,
        operation="upsert",
        data={"name": "X"},
        updated_at=datetime(2026, 11, 23, 10, tzinfo=UTC),
        enqueued_at=datetime(2026, 11, 23, 10, tzinfo=UTC),
    ).model_dump_json()


def dead_letter_permanently(aws, store: str, local_id: str, *, message: str = "CPF inválido") -> str:
    """What the worker's ``_dead_letter`` does: straight to the DLQ with the reason."""
    sqs = aws.client("sqs")
    return sqs.send_message(
        QueueUrl=aws.queue_urls["SyncDefaultDeadLetterQueue"],
        MessageBody=sync_body(store, local_id, f"chg-{local_id}"),
        MessageGroupId=f"{store}#1",
        MessageDeduplicationId=f"{local_id}-permanent",
        MessageAttributes={
            "error_code": {"DataType": "String", "StringValue": "provider_rejected"},
            "error_message": {"DataType": "String", "StringValue": message},
            "source_queue": {"DataType": "String", "StringValue": "default"},
        },
    )["MessageId"]


def redrive(aws, store: str, local_id: str, *, max_receives: int) -> str:
    """Receive a lane message until SQS moves it to the DLQ (maxReceiveCount)."""
    sqs = aws.client("sqs")
    url = aws.queue_urls["SyncDefaultQueue"]
    message_id = sqs.send_message(
        QueueUrl=url,
        MessageBody=sync_body(store, local_id, f"chg-{local_id}"),
        MessageGroupId=f"{store}#2",
        MessageDeduplicationId=f"{local_id}-1",
    )["MessageId"]
    for _ in range(max_receives + 1):
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None
    return message_id


def dlq_messages(aws) -> list[dict]:
    sqs = aws.client("sqs")
    url = aws.queue_urls["SyncDefaultDeadLetterQueue"]
    seen = []
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=5).get("Messages", [])
        seen += batch
    return seen


@pytest.fixture
def service(aws):
    from crmhub.dead_letters import DeadLetters

    return DeadLetters()


def test_inventory_mirrors_each_dead_letter_with_its_reason_and_leaves_the_dlq_as_it_was(aws, service):
    from crmhub.settings import get_settings
    from crmhub.storage import dead_letters as records
    from crmhub.storage.sync_log import LogWrite, SyncStatus, write_log

    # Given one message the worker dead-lettered (permanent) and one SQS redrove
    permanent_id = dead_letter_permanently(aws, STORE, "c-1")
    max_receives = get_settings().max_receive_count
    redriven_id = redrive(aws, STORE, "c-2", max_receives=max_receives)
    # whose last attempt the worker had logged as a timeout
    write_log(
        LogWrite(
            store_id=STORE,
            provider="gestaoclick",
            entity="customer",
            local_id="c-2",
            action="skip",
            status=SyncStatus.ERROR,
            duration_ms=3,
            change_id="chg-c-2",
            attempt=max_receives,
            error_code="transient",
            error_message="gestaoclick timed out",
        ),
        retention_days=30,
    )
    # And one of another store, redriven by a worker that crashed (nothing logged)
    redrive(aws, OTHER, "c-9", max_receives=max_receives)

    # When the DLQ is inventoried
    assert service.inventory() == 3
    # Then each store sees its own, with the reason
    mine = {r.dead_letter_id: r for r in records.list_dead_letters(STORE)}
    assert set(mine) == {permanent_id, redriven_id}
    assert (mine[permanent_id].error_code, mine[permanent_id].error_message) == ("provider_rejected", "CPF inválido")
    assert mine[permanent_id].lane == "default" and mine[permanent_id].entity == "customer"
    assert mine[permanent_id].message()["local_id"] == "c-1"
    assert (mine[redriven_id].error_code, mine[redriven_id].error_message) == ("transient", "gestaoclick timed out")
    assert mine[redriven_id].attempts == max_receives  # delivered maxReceiveCount times, then moved
    [other] = records.list_dead_letters(OTHER)
    assert other.error_code == "redriven" and other.error_message.startswith("redriven after")
    # And the DLQ still holds all three, visible again
    assert service.depths()["default"] == 3
    assert len(dlq_messages(aws)) == 3
    # And a second inventory records nothing new
    assert service.inventory() == 0


def test_retry_sends_the_body_back_to_its_lane_and_group_and_empties_the_dlq(aws, service):
    from crmhub.errors import Conflict
    from crmhub.storage import dead_letters as records

    dead_id = dead_letter_permanently(aws, STORE, "c-1")
    dead_letter_permanently(aws, STORE, "c-3")
    service.inventory()

    # When one is retried
    record = service.retry(STORE, dead_id)

    # Then it is marked retried and gone from the DLQ; the other stays
    assert record.status == records.RETRIED
    assert [m["MessageId"] for m in dlq_messages(aws)] != [dead_id]
    assert service.depths()["default"] == 1
    # And its body is back on the lane, in the same FIFO group, without the reason attributes
    [resent] = aws.receive("SyncDefaultQueue")
    assert json.loads(resent["Body"])["local_id"] == "c-1"
    assert resent["Attributes"]["MessageGroupId"] == f"{STORE}#1"
    assert "error_code" not in (resent.get("MessageAttributes") or {})
    # And retrying it again is a conflict
    with pytest.raises(Conflict):
        service.retry(STORE, dead_id)


def test_archive_keeps_the_record_and_delete_forgets_it(aws, service):
    from crmhub.errors import NotFound
    from crmhub.storage import dead_letters as records

    archived_id = dead_letter_permanently(aws, STORE, "c-1")
    deleted_id = dead_letter_permanently(aws, STORE, "c-2")
    service.inventory()

    assert service.archive(STORE, archived_id).status == records.ARCHIVED
    service.delete(STORE, deleted_id)

    assert service.depths()["default"] == 0
    assert records.get_dead_letter(STORE, archived_id).status == records.ARCHIVED
    assert records.list_dead_letters(STORE) == []  # nothing open
    with pytest.raises(NotFound):
        records.get_dead_letter(STORE, deleted_id)
    assert aws.receive("SyncDefaultQueue") == []  # neither went back to the lane


def test_retry_all_of_a_store_moves_only_that_stores_messages(aws, service):
    from crmhub.storage import dead_letters as records

    dead_letter_permanently(aws, STORE, "c-1")
    dead_letter_permanently(aws, STORE, "c-2")
    other_id = dead_letter_permanently(aws, OTHER, "c-9")

    # When a store retries all (not inventoried yet: retry-all mirrors as it goes)
    result = service.retry_all(STORE)

    assert (result.retried, result.method) == (2, "per_message")
    assert sorted(json.loads(m["Body"])["local_id"] for m in aws.receive("SyncDefaultQueue")) == ["c-1", "c-2"]
    assert [m["MessageId"] for m in dlq_messages(aws)] == [other_id]
    assert {r.status for r in records.list_dead_letters(STORE, status=None)} == {records.RETRIED}
    assert records.get_dead_letter(OTHER, other_id).status == records.OPEN


def test_retry_all_stores_falls_back_to_per_message_where_move_tasks_are_not_implemented(aws, service):
    # Given moto, which does not implement StartMessageMoveTask
    dlq_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["SyncDefaultDeadLetterQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    with pytest.raises(NotImplementedError):
        aws.client("sqs").start_message_move_task(SourceArn=dlq_arn)
    dead_letter_permanently(aws, STORE, "c-1")
    dead_letter_permanently(aws, OTHER, "c-9")

    # When an admin retries every store's dead letters
    result = service.retry_all(None)

    # Then they are moved one by one
    assert (result.retried, result.method) == (2, "per_message")
    assert service.depths()["default"] == 0
    assert len(aws.receive("SyncDefaultQueue")) == 2


def test_retry_all_stores_uses_a_move_task_where_sqs_supports_it(aws):
    import boto3
    from botocore.stub import Stubber

    from crmhub.dead_letters import DeadLetters
    from crmhub.storage import dead_letters as records

    dead_letter_permanently(aws, STORE, "c-1")
    dead_letter_permanently(aws, OTHER, "c-9")
    DeadLetters().inventory()
    # Given an SQS that accepts StartMessageMoveTask (as AWS does)
    move_client = boto3.client("sqs", region_name="us-east-1")
    stubber = Stubber(move_client)
    for lane in ("high", "default", "low"):
        stubber.add_response(
            "start_message_move_task",
            {"TaskHandle": f"task-{lane}"},
            {"SourceArn": f"arn:aws:sqs:us-east-1:123456789012:crmhub-dev-sync-{lane}-dlq.fifo"},
        )

    # When an admin retries every store's dead letters
    with stubber:
        result = DeadLetters(move_client=move_client).retry_all(None)

    # Then one move task per lane was started, for the whole DLQ, and the records follow it
    stubber.assert_no_pending_responses()
    assert (result.retried, result.method) == (2, "move_task")
    for store in (STORE, OTHER):
        [record] = records.list_dead_letters(store, status=None)
        assert (record.status, record.retried_via) == (records.RETRIED, "move_task")


def test_a_message_seen_again_long_after_its_move_task_reopens_its_record(aws):
    from crmhub.dead_letters import REOPEN_AFTER, DeadLetters
    from crmhub.storage import dead_letters as records

    dead_id = dead_letter_permanently(aws, STORE, "c-1")
    DeadLetters().inventory()
    record = records.get_dead_letter(STORE, dead_id)
    now = datetime.now(UTC)
    records.set_status(record, records.RETRIED, via="move_task", retention_days=30, now=now)

    # Soon after: the move is still in progress, the record stays retried
    DeadLetters(clock=lambda: now + timedelta(seconds=10)).inventory()
    assert records.get_dead_letter(STORE, dead_id).status == records.RETRIED
    # Long after: the message is still there, so it is open again
    DeadLetters(clock=lambda: now + REOPEN_AFTER + timedelta(seconds=1)).inventory()
    assert records.get_dead_letter(STORE, dead_id).status == records.OPEN


def test_timeseries_counts_outcomes_per_bucket(aws):
    from crmhub.models.common import SyncStatus
    from crmhub.stats import store_timeseries
    from crmhub.storage.sync_log import LogWrite, write_log

    now = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)

    def log(status: SyncStatus, at: datetime) -> None:
        write_log(LogWrite(STORE, "gestaoclick", "customer", "c-1", "create", status, 1.0), retention_days=30, now=at)

    log(SyncStatus.SUCCESS, now - timedelta(minutes=5))
    log(SyncStatus.SUCCESS, now - timedelta(minutes=20))
    log(SyncStatus.ERROR, now - timedelta(minutes=50))
    log(SyncStatus.RETRY, now - timedelta(hours=2, minutes=10))
    log(SyncStatus.SKIPPED, now - timedelta(hours=5))  # outside the window

    series = store_timeseries(STORE, hours=3, bucket_minutes=60, clock=lambda: now)

    assert [b["start"] for b in series["buckets"]] == [
        "2026-11-23T09:00:00+00:00",
        "2026-11-23T10:00:00+00:00",
        "2026-11-23T11:00:00+00:00",
        "2026-11-23T12:00:00+00:00",
    ]
    assert [(b["success"], b["error"], b["retry"], b["skipped"]) for b in series["buckets"]] == [
        (0, 0, 0, 0),
        (0, 0, 1, 0),
        (0, 1, 0, 0),
        (2, 0, 0, 0),
    ]
