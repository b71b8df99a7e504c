"""Test helpers shared by the suites (import as ``support``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
# How the tests speak to the simulators as their users would (the local demo's credentials).
GC_HEADERS = {"access-token": "gc-access-token", "secret-access-token": "gc-secret-access-token"}
ERP_HEADERS = {"authorization": "Bearer erp-local-token"}


def load_event(name: str) -> dict[str, Any]:
    """A canonical sample event from ``events/``."""
    return json.loads((EVENTS / name).read_text())


def imported(store_id: str, external_id: str, when: datetime, action: str = "update"):
    """What a GestãoClick import page enqueues for a cliente: a change (no copy: the worker
    reads the record) or, for one the scan no longer finds, a delete."""
    from crmhub.models.changes import InboundMessage
    from crmhub.models.inbound import ProviderChange

    event_id = f"import:customer:{external_id}:{when.isoformat()}"
    if action == "delete":
        event_id = f"import-delete:customer:{external_id}"
    change = ProviderChange(
        provider="gestaoclick",
        event_id=event_id,
        entity="customer",
        external_id=external_id,
        action=action,
        occurred_at=when,
    )
    return InboundMessage(store_id=store_id, change=change, source="import", enqueued_at=when)


def erp_change(store_id: str, record: dict, operation: str = "upsert"):
    """What the API enqueues for GestãoClick when the ERP notifies the hub of ``record``."""
    from crmhub.models.changes import ChangeRequest, SyncMessage

    request = ChangeRequest.model_validate(
        {
            "entity": "customer",
            "local_id": str(record["id"]),
            "operation": operation,
            "data": record,
            "updated_at": record["updated_at"],
        }
    )
    return SyncMessage.for_change(store_id, request, "gestaoclick", enqueued_at=datetime.now(UTC))


def gestaoclick_store(store_id: str, gestaoclick_url: str, *, erp_url: str | None = None) -> None:
    """A store with a GestãoClick connection at a budget no test reaches and its
    credentials in Secrets Manager (and the ERP's, when ``erp_url`` is given), written
    straight to the (moto) tables as the API would."""
    from crmhub.credentials import ERP_SECRET, CredentialStore
    from crmhub.models.common import ProviderName
    from crmhub.models.connection import ConnectionSettings
    from crmhub.storage.connections import put_connection
    from crmhub.storage.stores import put_store
    from local.demo import ERP_TOKEN, GC_CREDENTIALS

    put_store(store_id, f"Loja {store_id}", erp_base_url=erp_url)
    put_connection(store_id, ProviderName.GESTAOCLICK, ConnectionSettings(base_url=gestaoclick_url, rate_limit=1000))
    credentials = CredentialStore()
    credentials.put(store_id, "gestaoclick", dict(GC_CREDENTIALS))
    if erp_url:
        credentials.put(store_id, ERP_SECRET, {"token": ERP_TOKEN})


@dataclass
class LambdaContext:
    """The fields Powertools reads from a Lambda context."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "5b441b59-a550-11c8-6564-f1c833cf438c"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@dataclass
class Aws:
    """Handles on the moto-backed AWS of one test."""

    env: dict[str, str]
    queue_urls: dict[str, str]
    table_names: dict[str, str]

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name="us-east-1")

    def receive(self, logical_id: str, *, max_messages: int = 10) -> list[dict[str, Any]]:
        """Receive what a queue holds now (all attributes)."""
        response = self.client("sqs").receive_message(
            QueueUrl=self.queue_urls[logical_id],
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])
