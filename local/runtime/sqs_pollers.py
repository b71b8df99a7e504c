"""SQS event source mappings: poll each source queue and invoke its function.

One poller per SQS event of the template, with ``ScalingConfig.MaximumConcurrency``
worker threads. Each worker long-polls (1 s, so shutdown is quick) for up to
``BatchSize`` messages, builds the event Lambda would build, invokes the handler and
deletes what succeeded:

* with ``ReportBatchItemFailures``: every record not listed in ``batchItemFailures``.
  A ``None``/empty response means all succeeded; a malformed response or an
  ``itemIdentifier`` that is not in the batch fails the whole batch (like Lambda);
* without it: all records when the handler returns, none when it raises.

A failed message is never deleted: it comes back after the queue's visibility timeout
and, after ``maxReceiveCount`` receives, moto moves it to the DLQ of the RedrivePolicy.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from .context import Invoker
from .template import Function, Queue, SqsEvent, TemplateModel

Console = Callable[[str], None]

WAIT_TIME_S = 1
_LAMBDA_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def to_lambda_message_attributes(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """SQS API message attributes -> the shape Lambda puts in an SQS record."""
    out: dict[str, Any] = {}
    for name, attr in (attributes or {}).items():
        item: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": attr.get("DataType")}
        if "StringValue" in attr:
            item["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            raw = attr["BinaryValue"]
            item["binaryValue"] = base64.b64encode(raw).decode("ascii") if isinstance(raw, (bytes, bytearray)) else raw
        out[name] = item
    return out


def build_record(message: dict[str, Any], queue: Queue, region: str) -> dict[str, Any]:
    body = message.get("Body", "")
    system = message.get("Attributes") or {}
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": {k: system[k] for k in _LAMBDA_ATTRIBUTES if k in system},
        "messageAttributes": to_lambda_message_attributes(message.get("MessageAttributes")),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode("utf-8")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(response: Any, batch_ids: list[str]) -> tuple[set[str], str | None]:
    """Message ids to keep for a ReportBatchItemFailures response, and why if all fail."""
    if response is None:
        return set(), None
    if not isinstance(response, dict):
        return set(batch_ids), f"the response is a {type(response).__name__}, not an object"
    failures = response.get("batchItemFailures")
    if failures is None:
        return set(), None
    if not isinstance(failures, list):
        return set(batch_ids), "batchItemFailures is not a list"
    keep: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident:
            return set(batch_ids), "an item of batchItemFailures has no itemIdentifier"
        if ident not in batch_ids:
            return set(batch_ids), f"itemIdentifier {ident!r} is not a message of the batch"
        keep.add(ident)
    return keep, None


class SqsPoller:
    """The event source mapping of one SQS event (``MaximumConcurrency`` workers)."""

    def __init__(
        self,
        model: TemplateModel,
        function: Function,
        event: SqsEvent,
        invoker: Invoker,
        *,
        endpoint: str,
        console: Console = print,
        wait_time_s: int = WAIT_TIME_S,
    ) -> None:
        self.model = model
        self.function = function
        self.event = event
        self.queue = model.queues[event.queue_logical_id]
        self.invoker = invoker
        self.endpoint = endpoint
        self.console = console
        self.wait_time_s = wait_time_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._cond = threading.Condition()
        self.batches = 0
        self.records_ok = 0
        self.records_failed = 0

    @property
    def name(self) -> str:
        return f"{self.function.logical_id}.{self.event.name}"

    @property
    def busy(self) -> int:
        with self._cond:
            return self._busy

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self.event.max_concurrency):
            thread = threading.Thread(target=self._run, name=f"sqs-{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop polling; True if every worker exited within ``timeout``."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = alive
        return not alive

    # worker --------------------------------------------------------------------
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "sqs",
            endpoint_url=self.endpoint,
            region_name=self.model.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"}, read_timeout=self.wait_time_s + 10, connect_timeout=2
            ),
        )

    def _run(self) -> None:
        try:
            sqs = self._client()
        except Exception as exc:  # reported on the console
            self.console(f"poller {self.name}: cannot create an SQS client: {exc}")
            return
        errors = 0
        while not self._stop.is_set():
            try:
                resp = sqs.receive_message(
                    QueueUrl=self.queue.url,
                    MaxNumberOfMessages=max(1, min(10, self.event.batch_size)),
                    WaitTimeSeconds=self.wait_time_s,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                errors = 0
            except Exception as exc:  # moto stopping or a transient error
                if self._stop.is_set():
                    return
                errors += 1
                if errors in (1, 10) or errors % 100 == 0:
                    self.console(f"poller {self.name}: receive failed ({type(exc).__name__}: {exc})")
                self._stop.wait(min(2.0, 0.1 * errors))
                continue
            messages = resp.get("Messages") or []
            if not messages:
                continue
            with self._cond:
                self._busy += 1
            try:
                self._process(sqs, messages)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _process(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        records = [build_record(m, self.queue, self.model.region) for m in messages]
        event = {"Records": records}
        trigger = f"sqs {self.queue.logical_id}"
        result = self.invoker.invoke(self.function.logical_id, event, trigger)
        ids = [r["messageId"] for r in records]
        why: str | None
        if result.error is not None:
            keep, why = set(ids), f"error {result.error_type}"
        elif self.event.report_batch_item_failures:
            keep, problem = failed_ids(result.result, ids)
            why = f"invalid batch response: {problem}" if problem else None
        else:
            keep, why = set(), None
        to_delete = [r for r in records if r["messageId"] not in keep]
        delete_failed = self._delete(sqs, to_delete)
        self.batches += 1
        self.records_ok += len(to_delete) - delete_failed
        self.records_failed += len(keep)
        if keep and why is None:
            outcome = f"{len(to_delete)} ok, {len(keep)} failed (kept for retry)"
        elif keep:
            outcome = f"batch failed ({why}); {len(keep)} kept for retry"
        else:
            outcome = f"{len(to_delete)} ok"
        if delete_failed:
            outcome += f"; {delete_failed} deletes failed"
        self.console(
            f"{self.function.logical_id:<24} {trigger} ({len(records)} records)  -> {outcome} ({result.timing})"
        )

    def _delete(self, sqs: Any, records: list[dict[str, Any]]) -> int:
        failed = 0
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            try:
                resp = sqs.delete_message_batch(
                    QueueUrl=self.queue.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
                )
                failed += len(resp.get("Failed") or [])
            except Exception as exc:  # reported on the console
                failed += len(chunk)
                self.console(f"poller {self.name}: delete failed ({type(exc).__name__}: {exc})")
        return failed


class PollerGroup:
    """Every SQS event source of the template."""

    def __init__(
        self,
        model: TemplateModel,
        invoker: Invoker,
        *,
        endpoint: str,
        console: Console = print,
        wait_time_s: int = WAIT_TIME_S,
    ) -> None:
        self.pollers = [
            SqsPoller(model, fn, ev, invoker, endpoint=endpoint, console=console, wait_time_s=wait_time_s)
            for fn, ev in model.sqs_sources()
            if ev.enabled
        ]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self, timeout: float = 5.0) -> bool:
        for poller in self.pollers:
            poller.signal_stop()
        deadline = time.monotonic() + timeout
        return all([p.stop(max(0.0, deadline - time.monotonic())) for p in self.pollers])

    @property
    def busy(self) -> int:
        return sum(p.busy for p in self.pollers)

    @property
    def running_queue_logical_ids(self) -> list[str]:
        """Source queues currently being polled."""
        return sorted({p.queue.logical_id for p in self.pollers if p.running})
