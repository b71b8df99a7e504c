"""The sync worker's batch logic: Powertools ``SqsFifoPartialProcessor`` over the lanes.

Per record: parse → idempotency (per change and provider) → :class:`SyncEngine`.
- transient failure: the message is reported failed and its visibility set to a capped,
  jittered exponential backoff (or the provider's ``Retry-After``): SQS redelivers it then,
  and after ``maxReceiveCount`` deliveries redrives it to the lane's DLQ. No sleeping.
- permanent failure: recorded (sync log, event) with the provider's message and moved to
  the DLQ at once (no retries burnt); the source message is deleted.
- ``skip_group_on_error``: later messages of a failed group are returned too (order kept),
  with the same delay; other groups (other stores/records) carry on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from crmhub.credentials import CredentialStore
from crmhub.errors import HubError, PermanentError, TransientError
from crmhub.models.changes import (
    QUEUE_MESSAGE,
    BulkPageMessage,
    ConflictResolutionMessage,
    ImportPageMessage,
    InboundMessage,
    InitialSyncMessage,
    SyncMessage,
)
from crmhub.models.common import Lane
from crmhub.observability import logger, metrics
from crmhub.queueing import SyncQueue
from crmhub.settings import HubSettings, get_settings
from crmhub.sync.engine import SyncEngine, SyncOutcome
from crmhub.sync.retries import BackoffPolicy

if TYPE_CHECKING:
    from crmhub.erp.client import ErpClient


class SyncWorker:
    """Processes one SQS batch of sync messages."""

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        engine: SyncEngine | None = None,
        sqs_client: Any = None,
        backoff: BackoffPolicy | None = None,
        persistence: Any = None,
    ) -> None:
        self._settings = settings or get_settings()
        self._engine = engine or SyncEngine(self._settings)
        self._sqs = sqs_client
        self._backoff = backoff or BackoffPolicy()
        # One idempotency config and persistence layer per idempotent function (Powertools):
        # an ERP change is done once per provider; a provider event once per store.
        self._idempotency = IdempotencyConfig(
            event_key_jmespath="[change_id, provider]", expires_after_seconds=3600, raise_on_no_idempotency_key=True
        )
        self._inbound_idempotency = IdempotencyConfig(
            event_key_jmespath="[store_id, change.provider, change.event_id]",
            expires_after_seconds=3600,
            raise_on_no_idempotency_key=True,
        )
        dynamodb = self._client("dynamodb")
        self._apply_once = idempotent_function(
            data_keyword_argument="message",
            persistence_store=persistence
            or DynamoDBPersistenceLayer(table_name=self._settings.idempotency_table, boto3_client=dynamodb),
            config=self._idempotency,
        )(self._apply)
        self._apply_inbound_once = idempotent_function(
            data_keyword_argument="message",
            persistence_store=persistence
            or DynamoDBPersistenceLayer(table_name=self._settings.idempotency_table, boto3_client=dynamodb),
            config=self._inbound_idempotency,
        )(self._apply_inbound)
        self._delays: dict[str, int] = {}
        self._queue = SyncQueue(self._settings, client=sqs_client)
        self._credentials = CredentialStore(self._settings)
        self._erp_clients: dict[str, ErpClient] = {}

    # -- the batch --------------------------------------------------------------------
    def handle(self, event: dict, context: LambdaContext | None) -> dict[str, Any]:
        """Process the batch; return the partial batch response for SQS."""
        if context is not None:
            self._idempotency.register_lambda_context(context)
            self._inbound_idempotency.register_lambda_context(context)
        self._delays = {}
        processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        # A fully failed batch is reported like a partial one (every record listed), so
        # each record still gets its backoff instead of the queue's 6-minute timeout.
        processor.raise_on_entire_batch_failure = False
        response = process_partial_response(
            event=event, record_handler=self.record_handler, processor=processor, context=context
        )
        self._delay_failures(event, dict(response))
        return dict(response)

    def record_handler(self, record: SQSRecord) -> dict:
        """One message. Raises to mark the record failed (retried after its delay)."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            message = QUEUE_MESSAGE.validate_json(record.body)
        except ValidationError as exc:
            self._dead_letter(
                record, PermanentError(f"message is not a valid sync message ({exc.error_count()} errors)")
            )
            return {"status": "dead_lettered"}
        final = attempt >= self._settings.max_receive_count
        try:
            if isinstance(message, BulkPageMessage):
                return self._bulk_page(message)
            if isinstance(message, ImportPageMessage):
                return self._import_page(message)
            if isinstance(message, InitialSyncMessage):
                return self._initial_sync(message)
            if isinstance(message, InboundMessage):
                return self._apply_inbound_once(message=message, attempt=attempt, final=final)
            if isinstance(message, ConflictResolutionMessage):
                return _outcome(self._engine.apply_resolution(message, attempt=attempt))
            return self._apply_once(message=message, attempt=attempt, final=final)
        except PermanentError as exc:
            self._count_job_failure(message)
            self._dead_letter(record, exc)
            return {"status": "dead_lettered"}
        except IdempotencyAlreadyInProgressError:
            self._delays[record.message_id] = self._backoff.delay_s(attempt)
            raise
        except HubError as exc:
            self._count_job_failure(message)
            transient = exc if isinstance(exc, TransientError) else None
            self._delays[record.message_id] = self._backoff.delay_s(
                attempt,
                transient.retry_after if transient else None,
                blocked_for_s=transient.blocked_for_s if transient else None,
                retries_left=self._settings.max_receive_count - attempt,
            )
            logger.info(
                "sync_retry",
                extra={
                    "message_id": record.message_id,
                    "attempt": attempt,
                    "code": exc.code,
                    "delay_s": self._delays[record.message_id],
                    "final": final,
                },
            )
            raise

    @staticmethod
    def _count_job_failure(message: object) -> None:
        """A page of a job (bulk, import, initial sync) failed: the "sync jobs failing" alarm."""
        if isinstance(message, BulkPageMessage | ImportPageMessage | InitialSyncMessage):
            metrics.add_metric(name="JobPageFailed", unit="Count", value=1)

    def _apply_inbound(self, message: InboundMessage, attempt: int, final: bool) -> dict:
        return _outcome(self._engine.apply_inbound(message, attempt=attempt, final_attempt=final))

    def _initial_sync(self, message: InitialSyncMessage) -> dict:
        from crmhub.initial_sync import process_initial_sync

        job = process_initial_sync(message, engine=self._engine, queue=self._queue)
        return {"job": job.job_id, "status": job.status}

    def _import_page(self, message: ImportPageMessage) -> dict:
        from crmhub.imports import process_import_page

        job = process_import_page(message, engine=self._engine, queue=self._queue)
        return {"job": job.job_id, "status": job.status}

    def _apply(self, message: SyncMessage, attempt: int, final: bool) -> dict:
        outcome = self._engine.apply(message, attempt=attempt, final_attempt=final)
        return {"action": str(outcome.action), "status": str(outcome.status), "external_id": outcome.external_id}

    def _bulk_page(self, message: BulkPageMessage) -> dict:
        from crmhub.bulk import process_bulk_page

        job = process_bulk_page(
            message,
            erp=self._erp(message.store_id),
            queue=self._queue,
            retention_days=self._settings.sync_log_retention_days,
        )
        return {"job": job.job_id, "status": job.status}

    def _erp(self, store_id: str) -> ErpClient:
        if store_id not in self._erp_clients:
            from crmhub.erp.connection import erp_client_for
            from crmhub.storage.stores import get_store

            self._erp_clients[store_id] = erp_client_for(get_store(store_id), self._credentials)
        return self._erp_clients[store_id]

    # -- failures ---------------------------------------------------------------------
    def _delay_failures(self, event: dict, response: dict) -> None:
        """Set each failed record's visibility to its backoff (records skipped behind a
        failure in the same group get that group's delay)."""
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        if not failed:
            return
        group_delay: dict[str, int] = {}
        records = [SQSRecord(r) for r in event.get("Records", [])]
        for record in records:
            if record.message_id in self._delays:
                group = record.attributes.message_group_id or ""
                group_delay[group] = max(group_delay.get(group, 0), self._delays[record.message_id])
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            if record.message_id not in failed:
                continue
            delay = self._delays.get(record.message_id) or group_delay.get(record.attributes.message_group_id or "")
            if delay is None:
                delay = self._backoff.delay_s(int(record.attributes.approximate_receive_count or 1))
            by_queue.setdefault(record.event_source_arn, []).append(
                {
                    "Id": str(len(by_queue.get(record.event_source_arn, []))),
                    "ReceiptHandle": record.receipt_handle,
                    "VisibilityTimeout": delay,
                }
            )
        for arn, entries in by_queue.items():
            url = self._queue_url(arn)
            for start in range(0, len(entries), 10):
                self._client("sqs").change_message_visibility_batch(QueueUrl=url, Entries=entries[start : start + 10])

    def _dead_letter(self, record: SQSRecord, exc: HubError) -> None:
        """Move a message that cannot succeed to its lane's DLQ now, with the reason."""
        lane = self._lane(record.event_source_arn)
        self._client("sqs").send_message(
            QueueUrl=self._settings.dlq_url(lane),
            MessageBody=record.body,
            MessageGroupId=record.attributes.message_group_id or "dead-letter",
            MessageDeduplicationId=f"{record.message_id}-permanent"[:128],
            MessageAttributes={
                "error_code": {"DataType": "String", "StringValue": exc.code},
                "error_message": {"DataType": "String", "StringValue": exc.message[:1000] or "-"},
                "source_queue": {"DataType": "String", "StringValue": str(lane)},
            },
        )
        metrics.add_metric(name="DeadLettered", unit="Count", value=1)
        logger.warning("dead_lettered", extra={"message_id": record.message_id, "code": exc.code, "lane": str(lane)})

    # -- plumbing ---------------------------------------------------------------------
    def _lane(self, queue_arn: str) -> Lane:
        name = queue_arn.rsplit(":", 1)[-1]
        for lane in Lane:
            if self._settings.queue_url(lane).rstrip("/").endswith("/" + name):
                return lane
        raise PermanentError(f"unknown source queue {name}")

    def _queue_url(self, queue_arn: str) -> str:
        return self._settings.queue_url(self._lane(queue_arn))

    def _client(self, service: str) -> Any:
        if service == "sqs":
            if self._sqs is None:
                import boto3

                self._sqs = boto3.client("sqs", region_name=self._settings.aws_region)
            return self._sqs
        import boto3

        return boto3.client(service, region_name=self._settings.aws_region)  # type: ignore[call-overload]


def _outcome(outcome: SyncOutcome) -> dict:
    return {"action": str(outcome.action), "status": str(outcome.status), "external_id": outcome.external_id}
