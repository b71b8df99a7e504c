"""Vocabulary shared by every model: entities, operations, lanes, providers."""

from __future__ import annotations

from enum import StrEnum


class Entity(StrEnum):
    """The record types the hub keeps in sync."""

    CUSTOMER = "customer"
    PRODUCT = "product"
    SALE = "sale"
    ACTIVITY = "activity"


class Operation(StrEnum):
    """What happened to a record. ``upsert`` covers create and update: the entity link,
    not the caller, decides which one the provider sees."""

    UPSERT = "upsert"
    DELETE = "delete"


class Lane(StrEnum):
    """SQS FIFO priority lanes (one queue each, each with its own DLQ)."""

    HIGH = "high"
    DEFAULT = "default"
    LOW = "low"


class ProviderName(StrEnum):
    """External systems the hub can connect a store to."""

    GESTAOCLICK = "gestaoclick"
    PIPEDRIVE = "pipedrive"
    BLING = "bling"


class SyncAction(StrEnum):
    """What the worker did for one message (sync log vocabulary)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    DEACTIVATE = "deactivate"
    SKIP = "skip"
    LINK = "link"


class SyncStatus(StrEnum):
    """Outcome of one sync attempt."""

    SUCCESS = "success"
    ERROR = "error"
    RETRY = "retry"
    SKIPPED = "skipped"


DEFAULT_LANES: dict[Entity, Lane] = {
    Entity.SALE: Lane.HIGH,
    Entity.CUSTOMER: Lane.DEFAULT,
    Entity.PRODUCT: Lane.DEFAULT,
    Entity.ACTIVITY: Lane.LOW,
}
