"""sqs_pollers.py: real SQS event records, partial batch failures, retries and the DLQ."""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.runtime import LocalHub
from local.runtime.sqs_pollers import failed_ids, to_lambda_message_attributes

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    lines: list[str] = []
    with LocalHub(
        FIXTURE / "template.yaml",
        FIXTURE,
        api_port=0,
        aws_port=0,
        run_pollers=False,
        run_schedules=False,
        console=lines.append,
    ) as running:
        running.lines = lines  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def worker(hub: LocalHub) -> Iterator[ModuleType]:
    """The fixture worker module, reset; queues purged; pollers stopped afterwards."""
    assert hub.aws is not None and hub.pollers is not None and hub.invoker is not None
    sqs = hub.aws.client("sqs")
    for url in hub.queue_urls.values():  # drain (PurgeQueue is limited to once a minute)
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
    handler = hub.invoker.load("WorkerFunction")
    module = sys.modules[handler.__module__]
    module.reset()
    yield module
    hub.pollers.stop(timeout=5)


def send(hub: LocalHub, action: str, group: str | None = None, queue: str = "WorkQueue", **extra: Any) -> str:
    assert hub.aws is not None
    kwargs: dict[str, Any] = {"QueueUrl": hub.queue_urls[queue], "MessageBody": json.dumps({"action": action}), **extra}
    if queue == "WorkQueue":
        kwargs.update(MessageGroupId=group or uuid.uuid4().hex, MessageDeduplicationId=uuid.uuid4().hex)
    return hub.aws.client("sqs").send_message(**kwargs)["MessageId"]


def seen(worker: ModuleType, message_id: str) -> list[str]:
    """ApproximateReceiveCount of each delivery of a message to the handler."""
    return [c["attributes"]["ApproximateReceiveCount"] for c in worker.CALLS if c["id"] == message_id]


def depth(hub: LocalHub, queue: str) -> int:
    assert hub.aws is not None
    return hub.aws.queue_depth(hub.queue_urls[queue])


def test_partial_batch_failure_deletes_only_successes(hub: LocalHub, worker: ModuleType) -> None:
    ok1 = send(
        hub,
        "ok",
        "g1",
        MessageAttributes={
            "store_id": {"DataType": "String", "StringValue": "loja-1"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    flaky = send(hub, "fail_once", "g2")
    ok2 = send(hub, "ok", "g3")
    hub.pollers.start()  # type: ignore[union-attr]
    assert hub.wait_idle(15)
    assert worker.BATCHES[0] == 3  # one batch of three
    assert seen(worker, ok1) == ["1"] and seen(worker, ok2) == ["1"]
    assert seen(worker, flaky) == ["1", "2"]  # kept, came back after the visibility timeout
    assert depth(hub, "WorkQueue") == 0 and depth(hub, "WorkDeadLetterQueue") == 0

    record = next(c["record"] for c in worker.CALLS if c["id"] == ok1)
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:rt-dev-work.fifo"
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert record["receiptHandle"]
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageGroupId",
        "MessageDeduplicationId",
    } <= set(record["attributes"])
    assert record["attributes"]["MessageGroupId"] == "g1"
    assert record["messageAttributes"]["store_id"] == {
        "stringValue": "loja-1",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert record["messageAttributes"]["blob"]["dataType"] == "Binary"


def test_failing_message_reaches_the_dlq_after_max_receive_count(hub: LocalHub, worker: ModuleType) -> None:
    poison = send(hub, "fail", "poison")
    hub.pollers.start()  # type: ignore[union-attr]
    assert not hub.wait_idle(0.3)  # received, failed, waiting out its visibility timeout
    assert hub.wait_idle(15)
    assert seen(worker, poison) == ["1", "2"]  # maxReceiveCount: 2
    assert depth(hub, "WorkQueue") == 0
    assert hub.aws is not None
    (dead,) = hub.aws.client("sqs").receive_message(
        QueueUrl=hub.queue_urls["WorkDeadLetterQueue"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert dead["MessageId"] == poison
    assert dead["Attributes"]["MessageGroupId"] == "poison"
    hub.aws.client("sqs").delete_message(
        QueueUrl=hub.queue_urls["WorkDeadLetterQueue"], ReceiptHandle=dead["ReceiptHandle"]
    )


def test_handler_exception_fails_the_whole_batch(hub: LocalHub, worker: ModuleType) -> None:
    crash = send(hub, "crash_once", "c1")
    ok = send(hub, "ok", "c2")
    hub.pollers.start()  # type: ignore[union-attr]
    assert hub.wait_idle(15)
    assert seen(worker, crash) == ["1", "2"]
    assert seen(worker, ok) == ["1", "2"]  # nothing was deleted after the crash
    assert depth(hub, "WorkDeadLetterQueue") == 0
    assert any("unhandled RuntimeError" in line for line in hub.lines)  # type: ignore[attr-defined]


def test_unknown_item_identifier_fails_the_whole_batch(hub: LocalHub, worker: ModuleType) -> None:
    bad = send(hub, "bad_response", "b1")
    ok = send(hub, "ok", "b2")
    hub.pollers.start()  # type: ignore[union-attr]
    assert hub.wait_idle(15)
    assert seen(worker, bad) == ["1", "2"]
    assert seen(worker, ok) == ["1", "2"]
    assert any("invalid batch response" in line for line in hub.lines)  # type: ignore[attr-defined]


def test_without_report_batch_item_failures_a_return_means_success(hub: LocalHub, worker: ModuleType) -> None:
    msg = send(hub, "fail", queue="PlainQueue")
    hub.pollers.start()  # type: ignore[union-attr]
    assert hub.wait_idle(15)
    assert seen(worker, msg) == ["1"]  # batchItemFailures is ignored without the response type
    assert depth(hub, "PlainQueue") == 0 and depth(hub, "PlainDeadLetterQueue") == 0


def test_pollers_stop_quickly(hub: LocalHub, worker: ModuleType) -> None:
    assert hub.pollers is not None
    hub.pollers.start()
    assert len(hub.pollers.pollers) == 2 and all(p.running for p in hub.pollers.pollers)
    time.sleep(0.2)
    started = time.monotonic()
    assert hub.pollers.stop(timeout=5)
    assert time.monotonic() - started < 2.5  # one 1 s long poll, plus slack for a loaded machine


@pytest.mark.parametrize(
    ("response", "expected_keep", "problem"),
    [
        (None, set(), None),
        ({}, set(), None),
        ({"batchItemFailures": []}, set(), None),
        ({"batchItemFailures": None}, set(), None),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}, "no itemIdentifier"),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}, "no itemIdentifier"),
        ({"batchItemFailures": [{"id": "a"}]}, {"a", "b"}, "no itemIdentifier"),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}, "not a message of the batch"),
        ({"batchItemFailures": "a"}, {"a", "b"}, "not a list"),
        ("ok", {"a", "b"}, "not an object"),
    ],
)
def test_batch_response_rules(response: Any, expected_keep: set[str], problem: str | None) -> None:
    keep, why = failed_ids(response, ["a", "b"])
    assert keep == expected_keep
    assert (why is None) if problem is None else (problem in why)


def test_message_attributes_shape() -> None:
    assert to_lambda_message_attributes({"n": {"DataType": "Number", "StringValue": "1"}}) == {
        "n": {"stringValue": "1", "stringListValues": [], "binaryListValues": [], "dataType": "Number"}
    }
