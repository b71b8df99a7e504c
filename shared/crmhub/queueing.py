"""Putting sync messages on the FIFO lanes.

Message group: ``<store>#<shard>`` where the shard is a stable hash of the record. All
of a store's messages are grouped under the store (the ``MessageGroupId`` starts with it),
one record's messages always share a group (so they stay in order), and a store's records
spread over ``store_group_shards`` groups so several workers can share its rate budget.
"""

from __future__ import annotations

import hashlib
from typing import Any

from crmhub.models.changes import InboundMessage, SyncMessage
from crmhub.models.common import Lane
from crmhub.settings import HubSettings, get_settings


def message_group_id(store_id: str, entity: str, local_id: str, shards: int) -> str:
    """The FIFO group of a record's messages."""
    digest = hashlib.sha256(f"{entity}#{local_id}".encode()).digest()
    return f"{store_id}#{int.from_bytes(digest[:4], 'big') % max(shards, 1)}"


class SyncQueue:
    """Sends sync messages to the lanes (boto3 client created lazily)."""

    def __init__(self, settings: HubSettings | None = None, *, client: Any = None) -> None:
        self._settings = settings or get_settings()
        self._client = client

    @property
    def settings(self) -> HubSettings:
        """The settings (queue URLs)."""
        return self._settings

    @property
    def client(self) -> Any:
        """The SQS client."""
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs", region_name=self._settings.aws_region)
        return self._client

    def send(self, message: SyncMessage, lane: Lane, *, delay_s: int = 0) -> str:
        """Enqueue one message; returns the SQS message id. Deduplicated by change+provider."""
        response = self.client.send_message(
            QueueUrl=self._settings.queue_url(lane),
            MessageBody=message.model_dump_json(),
            MessageGroupId=message_group_id(
                message.store_id, message.entity, message.local_id, self._settings.store_group_shards
            ),
            MessageDeduplicationId=self.deduplication_id(message),
            MessageAttributes={
                "store_id": {"DataType": "String", "StringValue": message.store_id},
                "entity": {"DataType": "String", "StringValue": str(message.entity)},
                "provider": {"DataType": "String", "StringValue": str(message.provider)},
            },
        )
        return str(response["MessageId"])

    def send_many(self, messages: list[tuple[SyncMessage, Lane]]) -> int:
        """Enqueue in batches of 10 per lane; returns how many SQS accepted."""
        sent = 0
        by_lane: dict[Lane, list[SyncMessage]] = {}
        for message, lane in messages:
            by_lane.setdefault(lane, []).append(message)
        for lane, lane_messages in by_lane.items():
            for start in range(0, len(lane_messages), 10):
                chunk = lane_messages[start : start + 10]
                response = self.client.send_message_batch(
                    QueueUrl=self._settings.queue_url(lane),
                    Entries=[
                        {
                            "Id": str(index),
                            "MessageBody": m.model_dump_json(),
                            "MessageGroupId": message_group_id(
                                m.store_id, m.entity, m.local_id, self._settings.store_group_shards
                            ),
                            "MessageDeduplicationId": self.deduplication_id(m),
                        }
                        for index, m in enumerate(chunk)
                    ],
                )
                failed = response.get("Failed", [])
                if failed:
                    raise RuntimeError(f"SQS refused {len(failed)} messages: {failed[0].get('Code')}")
                sent += len(response.get("Successful", []))
        return sent

    def send_inbound(self, messages: list[tuple[InboundMessage, Lane]]) -> int:
        """Enqueue provider changes; one external record's changes share a FIFO group, and a
        provider event is enqueued once (its id is the deduplication id)."""
        sent = 0
        by_lane: dict[Lane, list[InboundMessage]] = {}
        for message, lane in messages:
            by_lane.setdefault(lane, []).append(message)
        for lane, lane_messages in by_lane.items():
            for start in range(0, len(lane_messages), 10):
                chunk = lane_messages[start : start + 10]
                entries = []
                for index, m in enumerate(chunk):
                    change = m.change
                    key = f"{change.provider}#{change.external_id}"
                    entries.append(
                        {
                            "Id": str(index),
                            "MessageBody": m.model_dump_json(),
                            "MessageGroupId": message_group_id(
                                m.store_id, change.entity, key, self._settings.store_group_shards
                            ),
                            "MessageDeduplicationId": hashlib.sha256(
                                f"{m.store_id}|{change.provider}|{change.event_id}".encode()
                            ).hexdigest(),
                        }
                    )
                response = self.client.send_message_batch(QueueUrl=self._settings.queue_url(lane), Entries=entries)
                if response.get("Failed"):
                    raise RuntimeError(f"SQS refused {len(response['Failed'])} messages")
                sent += len(response.get("Successful", []))
        return sent

    @staticmethod
    def deduplication_id(message: SyncMessage) -> str:
        """Same change to the same provider → same id (SQS drops repeats for 5 minutes)."""
        return f"{message.change_id}-{message.provider}"[:128]
