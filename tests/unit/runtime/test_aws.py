"""aws.py: moto server, resources from the template, and what moto does for SQS FIFO."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.runtime.aws import LocalAws, PortInUseError, install_moto_patches, uninstall_moto_patches
from local.runtime.template import load_template

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    local = LocalAws(port=0)
    endpoint = local.start()
    model = load_template(FIXTURE / "template.yaml", sqs_endpoint=endpoint)
    local.create_resources(model)
    local.model = model  # type: ignore[attr-defined]
    yield local
    local.stop()


def fifo_queue(aws: LocalAws, *, max_receive: int | None = None, scope: str | None = None) -> tuple[str, str | None]:
    """A fresh FIFO queue with a 1 s visibility timeout (and a FIFO DLQ if max_receive)."""
    sqs = aws.client("sqs")
    name = f"probe-{uuid.uuid4().hex[:8]}"
    attributes = {"FifoQueue": "true", "VisibilityTimeout": "1"}
    dlq_url = None
    if max_receive:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive})
    if scope:
        attributes["DeduplicationScope"] = scope
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"], dlq_url


def send(aws: LocalAws, url: str, body: str, group: str, dedup: str | None = None) -> None:
    aws.client("sqs").send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup or body
    )


def receive(aws: LocalAws, url: str, n: int = 10) -> list[dict[str, Any]]:
    return (
        aws.client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=n, MessageSystemAttributeNames=["All"])
        .get("Messages", [])
    )


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["Body"] for m in messages]


# --------------------------------------------------------------------------- resources


def test_queues_come_from_the_template(aws: LocalAws) -> None:
    model = aws.model  # type: ignore[attr-defined]
    assert aws.queue_urls == {q.logical_id: q.url for q in model.queues.values()}
    sqs = aws.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=aws.queue_urls["WorkQueue"], AttributeNames=["All"])["Attributes"]
    assert work["FifoQueue"] == "true"
    assert work["VisibilityTimeout"] == "1"
    assert work["DeduplicationScope"] == "messageGroup"
    assert work["FifoThroughputLimit"] == "perMessageGroupId"
    assert json.loads(work["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:rt-dev-work-dlq.fifo",
        "maxReceiveCount": 2,
    }
    dlq = sqs.get_queue_attributes(QueueUrl=aws.queue_urls["WorkDeadLetterQueue"], AttributeNames=["All"])["Attributes"]
    # moto 5.2.5 accepts RedriveAllowPolicy on CreateQueue but drops it (no local effect anyway)
    assert json.loads(dlq.get("RedriveAllowPolicy", '{"redrivePermission": "allowAll"}')) == {
        "redrivePermission": "allowAll"
    }
    assert dlq["FifoQueue"] == "true"
    plain = sqs.get_queue_attributes(QueueUrl=aws.queue_urls["PlainQueue"], AttributeNames=["All"])["Attributes"]
    assert "FifoQueue" not in plain or plain["FifoQueue"] == "false"
    assert json.loads(plain["RedrivePolicy"])["deadLetterTargetArn"].endswith(":crmhub-local-PlainDeadLetterQueue")


def test_tables_come_from_the_template(aws: LocalAws) -> None:
    ddb = aws.client("dynamodb")
    assert aws.table_names == {"ItemsTable": "crmhub-local-ItemsTable", "NamedTable": "rt-dev-named"}
    table = ddb.describe_table(TableName="crmhub-local-ItemsTable")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by_status"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["status", "sk"]
    ttl = ddb.describe_time_to_live(TableName="crmhub-local-ItemsTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    named = ddb.describe_table(TableName="rt-dev-named")["Table"]
    assert named["ProvisionedThroughput"]["ReadCapacityUnits"] == 1


def test_environment_points_sdks_at_moto_and_is_restored(aws: LocalAws) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint
    assert os.environ["AWS_DEFAULT_REGION"] == os.environ["AWS_REGION"] == "us-east-1"
    import boto3

    assert boto3.client("sqs").list_queues()["QueueUrls"]  # default client, no endpoint argument
    before = os.environ.get("AWS_ENDPOINT_URL")
    other = LocalAws(port=0, reset_state=False)
    other.start()
    assert os.environ["AWS_ENDPOINT_URL"] == other.endpoint
    other.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") == before


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(PortInUseError) as info:
            LocalAws(port=port).start()
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        f"moto (AWS endpoint): port {port} on 127.0.0.1 is already in use "
        "(pick another with the port option, or 0 for any free port)"
    )
    assert isinstance(info.value, OSError)


# --------------------------------------------------------------------------- moto FIFO facts


def test_fifo_group_is_blocked_while_a_message_is_in_flight(aws: LocalAws) -> None:
    url, _ = fifo_queue(aws)
    for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        send(aws, url, body, group)
    assert bodies(receive(aws, url, 1)) == ["a1"]
    assert bodies(receive(aws, url)) == ["b1"]  # a2 waits for a1
    assert receive(aws, url) == []


def test_fifo_batch_keeps_group_order(aws: LocalAws) -> None:
    url, _ = fifo_queue(aws)
    for i in range(5):
        send(aws, url, f"a{i}", "A")
    assert bodies(receive(aws, url)) == [f"a{i}" for i in range(5)]


def test_fifo_order_survives_a_visibility_timeout(aws: LocalAws) -> None:
    """Needs the runtime's moto patch: unpatched moto redelivers the group's *last* message first."""
    url, _ = fifo_queue(aws)
    for i in range(3):
        send(aws, url, f"a{i}", "A")
    assert bodies(receive(aws, url)) == ["a0", "a1", "a2"]
    time.sleep(1.2)
    again = receive(aws, url)
    assert bodies(again) == ["a0", "a1", "a2"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again] == ["2", "2", "2"]


def test_unpatched_moto_reorders_after_a_visibility_timeout(aws: LocalAws) -> None:
    """Documents the moto 5.2.5 defect the patch fixes; if this fails, moto fixed it: drop the patch."""
    url, _ = fifo_queue(aws)
    for i in range(3):
        send(aws, url, f"a{i}", "A")
    receive(aws, url)
    time.sleep(1.2)
    uninstall_moto_patches()
    try:
        first = bodies(receive(aws, url, 1))
    finally:
        install_moto_patches()
    assert first == ["a2"]


def test_redrive_to_the_dlq_after_max_receive_count(aws: LocalAws) -> None:
    url, dlq_url = fifo_queue(aws, max_receive=2)
    send(aws, url, "poison", "P")
    first = receive(aws, url)
    assert first[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    time.sleep(1.2)
    second = receive(aws, url)
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    time.sleep(1.2)
    assert receive(aws, url) == []  # the third receive moves it instead of delivering it
    (dead,) = receive(aws, dlq_url)
    assert dead["MessageId"] == first[0]["MessageId"]
    assert dead["Attributes"]["MessageGroupId"] == "P"


def test_change_message_visibility(aws: LocalAws) -> None:
    url, _ = fifo_queue(aws)
    sqs = aws.client("sqs")
    send(aws, url, "x", "X")
    (msg,) = receive(aws, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0)
    (again,) = receive(aws, url)  # released at once, group unblocked
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=5)
    time.sleep(1.2)  # longer than the queue's 1 s timeout, shorter than the extension
    assert receive(aws, url) == []


def test_dedup_scope_message_group(aws: LocalAws) -> None:
    """With the patch, one dedup id in two groups keeps both (moto alone keeps only the first)."""
    url, _ = fifo_queue(aws, scope="messageGroup")
    send(aws, url, "c", "C", dedup="same")
    send(aws, url, "d", "D", dedup="same")
    send(aws, url, "c-dup", "C", dedup="same")  # same group: a duplicate
    assert sorted(bodies(receive(aws, url))) == ["c", "d"]
    queue_scope, _ = fifo_queue(aws)
    send(aws, queue_scope, "c", "C", dedup="same")
    send(aws, queue_scope, "d", "D", dedup="same")
    assert bodies(receive(aws, queue_scope)) == ["c"]


def test_concurrent_receivers_never_share_a_group(aws: LocalAws) -> None:
    url, _ = fifo_queue(aws)
    sqs = aws.client("sqs")
    for start in range(0, 60, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": f"{(start + i) % 4}:{start + i:03d}",
                    "MessageGroupId": f"g{(start + i) % 4}",
                    "MessageDeduplicationId": str(start + i),
                }
                for i in range(10)
            ],
        )
    seen: list[str] = []
    active: dict[str, int] = {}
    overlaps: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        empty = 0
        while empty < 3:
            messages = receive(aws, url)
            if not messages:
                empty += 1
                time.sleep(0.02)
                continue
            groups = {m["Body"].split(":")[0] for m in messages}
            with lock:
                overlaps.extend(g for g in groups if active.get(g))
                for g in groups:
                    active[g] = active.get(g, 0) + 1
                seen.extend(bodies(messages))
            time.sleep(0.01)
            with lock:
                for g in groups:
                    active[g] -= 1
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overlaps == []
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 60
    for group in "0123":
        in_group = [b for b in seen if b.startswith(f"{group}:")]
        assert in_group == sorted(in_group)
