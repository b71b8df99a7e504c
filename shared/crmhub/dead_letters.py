"""Dead letters: inventory, inspect, retry, archive and delete the messages in the lanes' DLQs.

Design:
- **The SQS DLQ is the source of truth.** Messages stay there until an operator acts (the
  "DLQ depth > 0" alarm depends on it). Each DLQ is shared by every store.
- **A mirror in DynamoDB** (:mod:`crmhub.storage.dead_letters`) makes them inspectable per
  store: an *inventory* receives every message of a lane's DLQ with a short visibility
  timeout (up to a cap), parses the body, records what is new (key: the body's store + the
  SQS MessageId) and then makes them all visible again. Reasons come from the message
  attributes the worker sets on a permanent failure (``error_code``/``error_message``), else
  from the latest sync-log error of that change (a message SQS redrove after
  ``maxReceiveCount``), else "redriven after N receives" (a worker that crashed logs nothing).
- **FIFO limits what one pass sees.** While a message of a group is in flight, SQS hides the
  rest of that group, so one pass sees at most one receive batch (10) per message group. The
  mirror keeps what it saw, so later messages of a group show up once earlier ones are
  retried, archived or deleted; ``dlq_depth`` in the list response is the exact count.
- **Retry one**: find the message (receive until its MessageId appears; everything else is
  made visible again), send its body back to the lane with the same MessageGroupId and a
  deduplication id derived from the dead letter (a double click is dropped by SQS), delete
  it from the DLQ, mark the record ``retried``.
- **Retry all**: an admin targeting every store uses ``StartMessageMoveTask`` (SourceArn =
  the DLQ; SQS moves everything back to the source queue). Where that is not available (moto:
  not implemented) or for a single store (a move task cannot filter), messages are moved one
  by one as above. The move task is asynchronous: its records are marked ``retried`` at once;
  a message seen in the DLQ again well after its record left ``open`` reopens the record.
- **Archive** removes the message from the DLQ and keeps the record (``archived``);
  **delete** removes both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from crmhub.errors import Conflict
from crmhub.models.changes import QUEUE_MESSAGE, InboundMessage, SyncMessage
from crmhub.models.common import Lane, SyncStatus
from crmhub.observability import logger
from crmhub.settings import HubSettings, get_settings
from crmhub.storage import dead_letters as store
from crmhub.storage.base import utc_now
from crmhub.storage.dead_letters import DeadLetterRecord
from crmhub.storage.sync_log import logs_for_record

# Attributes the worker adds when it dead-letters a message; not copied back on a retry.
_REASON_ATTRIBUTES = ("error_code", "error_message", "source_queue")
# A record that left "open" but whose message is still in the DLQ after this long is reopened
# (a move task that did not move it, or the same message dead-lettered again).
REOPEN_AFTER = timedelta(minutes=5)
# SQS keeps a DLQ's messages 14 days (template): the mirror expires with them.
DLQ_RETENTION_DAYS = 14

Visit = Callable[[dict[str, Any]], bool]
RetryMethod = Literal["move_task", "per_message"]


@dataclass(frozen=True)
class RetryAllResult:
    """How many dead letters went back to their lanes, and how."""

    retried: int
    method: RetryMethod


@dataclass(frozen=True)
class _Parsed:
    store_id: str
    kind: str
    operation: str | None = None
    entity: str | None = None
    local_id: str | None = None
    provider: str | None = None
    change_id: str | None = None  # as the sync log records it


class DeadLetters:
    """Operations on the lanes' DLQs and their mirror (boto3 clients created lazily)."""

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        client: Any = None,
        move_client: Any = None,
        clock: Callable[[], datetime] = utc_now,
        max_messages: int = 1000,
        visibility_s: int = 30,
    ) -> None:
        self._settings = settings or get_settings()
        self._client = client
        self._move_client = move_client
        self._clock = clock
        self._max_messages = max_messages
        self._visibility_s = visibility_s

    # ------------------------------------------------------------------ clients
    @property
    def client(self) -> Any:
        """The SQS client."""
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs", region_name=self._settings.aws_region)
        return self._client

    @property
    def move_client(self) -> Any:
        """SQS client for ``StartMessageMoveTask``, without retries: an emulator that lacks
        the action answers 500, which botocore would otherwise retry for seconds."""
        if self._move_client is None:
            import boto3
            from botocore.config import Config

            self._move_client = boto3.client(
                "sqs", region_name=self._settings.aws_region, config=Config(retries={"max_attempts": 1})
            )
        return self._move_client

    # ------------------------------------------------------------------ reading
    def inventory(self, lanes: list[Lane] | None = None) -> int:
        """Mirror every message of the lanes' DLQs (up to the cap); returns how many were new."""
        new = 0
        for lane in lanes or list(Lane):

            def visit(message: dict[str, Any], lane: Lane = lane) -> bool:
                nonlocal new
                _record, created = self._mirror(lane, message)
                new += created
                return False

            self._sweep(lane, visit)
        return new

    def depths(self) -> dict[str, int]:
        """Messages in each lane's DLQ (visible + in flight)."""
        depths = {}
        for lane in Lane:
            attrs = self.client.get_queue_attributes(
                QueueUrl=self._settings.dlq_url(lane),
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[str(lane)] = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
                attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
            )
        return depths

    # ------------------------------------------------------------------ acting on one
    def retry(self, store_id: str, dead_letter_id: str) -> DeadLetterRecord:
        """Send the message back to its lane and take it out of the DLQ."""
        record = self._open_record(store_id, dead_letter_id)
        self._take(record, lambda message: self._resend(Lane(record.lane), message))
        return store.set_status(
            record, store.RETRIED, via="per_message", retention_days=self._retention_days, now=self._clock()
        )

    def archive(self, store_id: str, dead_letter_id: str) -> DeadLetterRecord:
        """Take the message out of the DLQ; keep the record to inspect."""
        record = self._open_record(store_id, dead_letter_id)
        self._take(record, lambda message: None)
        return store.set_status(record, store.ARCHIVED, retention_days=self._retention_days, now=self._clock())

    def delete(self, store_id: str, dead_letter_id: str) -> None:
        """Take the message out of the DLQ (if it is still there) and forget it."""
        record = store.get_dead_letter(store_id, dead_letter_id)
        if record.status == store.OPEN:
            found = self._find_and_delete(Lane(record.lane), dead_letter_id, lambda message: None)
            if not found:
                logger.info("dead_letter_not_in_dlq", extra={"dead_letter_id": dead_letter_id, "lane": record.lane})
        store.remove(record)

    # ------------------------------------------------------------------ acting on many
    def retry_all(self, store_id: str | None, *, lanes: list[Lane] | None = None) -> RetryAllResult:
        """Every dead letter of ``store_id`` (``None``: of every store) back to its lane."""
        lanes = lanes or list(Lane)
        retried = 0
        moved_everywhere = store_id is None
        for lane in lanes:
            if store_id is None and moved_everywhere:
                moved = self._move_task(lane)
                if moved is not None:
                    retried += moved
                    continue
                moved_everywhere = False  # not supported here: the same for the other lanes
            retried += self._retry_lane(lane, store_id)
        return RetryAllResult(retried=retried, method="move_task" if moved_everywhere else "per_message")

    def _retry_lane(self, lane: Lane, store_id: str | None) -> int:
        count = 0

        def visit(message: dict[str, Any]) -> bool:
            nonlocal count
            record, _created = self._mirror(lane, message)
            if store_id is not None and record.store_id != store_id:
                return False
            self._resend(lane, message)
            self._delete_message(lane, message)
            store.set_status(
                record, store.RETRIED, via="per_message", retention_days=self._retention_days, now=self._clock()
            )
            count += 1
            return True

        self._sweep(lane, visit)
        return count

    def _move_task(self, lane: Lane) -> int | None:
        """Start a move task for the whole DLQ; the number of messages it will move, or None
        when the endpoint cannot (moto raises NotImplementedError in-process, 500 as a server)."""
        from botocore.exceptions import BotoCoreError, ClientError

        url = self._settings.dlq_url(lane)
        attrs = self.client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
        )["Attributes"]
        try:
            self.move_client.start_message_move_task(SourceArn=attrs["QueueArn"])
        except (ClientError, BotoCoreError, NotImplementedError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            logger.info("move_task_unavailable", extra={"lane": str(lane), "code": code})
            return None
        now = self._clock()
        for record in store.open_in_lane(str(lane)):
            store.set_status(record, store.RETRIED, via="move_task", retention_days=self._retention_days, now=now)
        logger.info("move_task_started", extra={"lane": str(lane)})
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    # ------------------------------------------------------------------ SQS plumbing
    def _sweep(self, lane: Lane, visit: Visit, *, stop: Callable[[], bool] = lambda: False) -> None:
        """Receive the DLQ's messages batch by batch and show each to ``visit``, which
        returns True when it deleted the message; the others are made visible again."""
        held: list[dict[str, Any]] = []
        try:
            for batch in self._batches(lane):
                for message in batch:
                    if not visit(message):
                        held.append(message)
                if stop():
                    break
        finally:
            self._release(lane, held)

    def _batches(self, lane: Lane) -> Iterator[list[dict[str, Any]]]:
        url = self._settings.dlq_url(lane)
        seen = empties = 0
        while seen < self._max_messages:
            response = self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=self._visibility_s,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                # Short polls may sample an empty server: one more try before giving up.
                empties += 1
                if empties >= 2:
                    return
                continue
            empties = 0
            seen += len(messages)
            yield messages

    def _release(self, lane: Lane, messages: list[dict[str, Any]]) -> None:
        url = self._settings.dlq_url(lane)
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            self.client.change_message_visibility_batch(QueueUrl=url, Entries=entries)

    def _delete_message(self, lane: Lane, message: dict[str, Any]) -> None:
        self.client.delete_message(QueueUrl=self._settings.dlq_url(lane), ReceiptHandle=message["ReceiptHandle"])

    def _resend(self, lane: Lane, message: dict[str, Any]) -> None:
        """The body back on its lane, in its FIFO group, under a fresh deduplication id."""
        attributes = {
            name: value
            for name, value in (message.get("MessageAttributes") or {}).items()
            if name not in _REASON_ATTRIBUTES
        }
        kwargs: dict[str, Any] = {
            "QueueUrl": self._settings.queue_url(lane),
            "MessageBody": message["Body"],
            "MessageGroupId": (message.get("Attributes") or {}).get("MessageGroupId") or "dead-letter",
            "MessageDeduplicationId": f"retry-{message['MessageId']}"[:128],
        }
        if attributes:
            kwargs["MessageAttributes"] = attributes
        self.client.send_message(**kwargs)

    def _find_and_delete(self, lane: Lane, dead_letter_id: str, before_delete: Callable[[dict], None]) -> bool:
        found = False

        def visit(message: dict[str, Any]) -> bool:
            nonlocal found
            if found or message["MessageId"] != dead_letter_id:
                return False
            before_delete(message)
            self._delete_message(lane, message)
            found = True
            return True

        self._sweep(lane, visit, stop=lambda: found)
        return found

    def _take(self, record: DeadLetterRecord, before_delete: Callable[[dict], None]) -> None:
        if not self._find_and_delete(Lane(record.lane), record.dead_letter_id, before_delete):
            raise Conflict(
                "the dead letter is not in the DLQ right now (being inspected, or already moved); try again",
                details={"dead_letter_id": record.dead_letter_id, "reason": "not_in_dlq"},
            )

    def _open_record(self, store_id: str, dead_letter_id: str) -> DeadLetterRecord:
        record = store.get_dead_letter(store_id, dead_letter_id)
        if record.status != store.OPEN:
            raise Conflict(f"the dead letter is already {record.status}", details={"dead_letter_id": dead_letter_id})
        return record

    @property
    def _retention_days(self) -> int:
        return self._settings.sync_log_retention_days

    # ------------------------------------------------------------------ the mirror
    def _mirror(self, lane: Lane, message: dict[str, Any]) -> tuple[DeadLetterRecord, bool]:
        """The record of a DLQ message (created on first sight); True when new."""
        parsed = _parse(message["Body"])
        existing = store.find_dead_letter(parsed.store_id, message["MessageId"])
        now = self._clock()
        if existing is not None:
            if existing.status == store.OPEN or now - existing.updated_at < REOPEN_AFTER:
                return existing, False
            logger.info("dead_letter_reopened", extra={"dead_letter_id": existing.dead_letter_id, "lane": str(lane)})
        record = self._new_record(lane, message, parsed, now)
        if existing is not None:
            record.save()
            return record, False
        if not store.add_dead_letter(record):  # another inventory mirrored it first
            return store.get_dead_letter(parsed.store_id, message["MessageId"]), False
        logger.info(
            "dead_letter_seen",
            extra={"dead_letter_id": record.dead_letter_id, "lane": str(lane), "code": record.error_code},
        )
        return record, True

    def _new_record(self, lane: Lane, message: dict[str, Any], parsed: _Parsed, now: datetime) -> DeadLetterRecord:
        attrs = message.get("Attributes") or {}
        reasons = {
            name: value.get("StringValue", "")
            for name, value in (message.get("MessageAttributes") or {}).items()
            if name in _REASON_ATTRIBUTES
        }
        sent_at = _from_millis(attrs.get("SentTimestamp")) or now
        last_error = self._last_error(parsed)
        if reasons.get("error_code"):
            # The worker dead-lettered it on a permanent failure: the DLQ copy is new.
            code, text = reasons["error_code"], reasons.get("error_message") or reasons["error_code"]
            attempts = int(last_error.attempt) if last_error is not None else 1
            dead_lettered_at = sent_at
        else:
            # SQS redrove it: its receive count came along (our own receive included).
            receives = max(int(attrs.get("ApproximateReceiveCount", 1)) - 1, 1)
            attempts = receives
            if last_error is not None:
                code = last_error.error_code or "redriven"
                text = last_error.error_message or f"redriven after {receives} receives"
                dead_lettered_at = last_error.created_at
            else:
                code, text, dead_lettered_at = "redriven", f"redriven after {receives} receives", sent_at
        return DeadLetterRecord(
            parsed.store_id,
            message["MessageId"],
            lane=str(lane),
            group_id=attrs.get("MessageGroupId") or "dead-letter",
            kind=parsed.kind,
            operation=parsed.operation,
            entity=parsed.entity,
            local_id=parsed.local_id,
            provider=parsed.provider,
            error_code=code,
            error_message=text[:1000],
            attempts=attempts,
            dead_lettered_at=dead_lettered_at,
            body=message["Body"],
            status=store.OPEN,
            created_at=now,
            updated_at=now,
            expires_at=store.expiry(dead_lettered_at, DLQ_RETENTION_DAYS + 1),
        )

    @staticmethod
    def _last_error(parsed: _Parsed) -> Any:
        """The newest failed attempt of this change in the sync log, if any."""
        if not (parsed.entity and parsed.local_id and parsed.change_id):
            return None
        for entry in logs_for_record(parsed.store_id, parsed.entity, parsed.local_id, limit=25):
            if entry.change_id == parsed.change_id and entry.status in (SyncStatus.ERROR, SyncStatus.RETRY):
                if parsed.provider is None or entry.provider == parsed.provider:
                    return entry
        return None


def _parse(body: str) -> _Parsed:
    """What the record shows about a message body (any queue message; tolerant of junk)."""
    try:
        message = QUEUE_MESSAGE.validate_json(body)
    except ValidationError:
        try:
            raw = json.loads(body)
        except ValueError:
            raw = None
        store_id = raw.get("store_id") if isinstance(raw, dict) else None
        kind = raw.get("kind") if isinstance(raw, dict) else None
        return _Parsed(
            store_id=store_id if isinstance(store_id, str) and store_id else store.UNKNOWN_STORE,
            kind=kind if isinstance(kind, str) else "invalid",
        )
    if isinstance(message, SyncMessage):
        return _Parsed(
            message.store_id,
            message.kind,
            str(message.operation),
            str(message.entity),
            message.local_id,
            str(message.provider),
            message.change_id,
        )
    if isinstance(message, InboundMessage):
        change = message.change
        return _Parsed(
            message.store_id,
            message.kind,
            change.action,
            str(change.entity),
            f"ext:{change.external_id}",
            str(change.provider),
            f"{change.provider}:{change.event_id}",
        )
    entity = getattr(message, "entity", None)
    provider = getattr(message, "provider", None)
    return _Parsed(
        message.store_id,
        message.kind,
        entity=str(entity) if entity else None,
        provider=str(provider) if provider else None,
    )


def _from_millis(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
