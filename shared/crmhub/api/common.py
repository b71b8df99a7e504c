"""Shared pieces of the API routers: path parameter types, lazily built collaborators."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from crmhub.credentials import CredentialStore
from crmhub.queueing import SyncQueue

StoreId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="The store (tenant) id.")]
LocalId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$", description="A record's id in the ERP.")]


@lru_cache(maxsize=1)
def sync_queue() -> SyncQueue:
    """One SQS sender per container, created on first use."""
    return SyncQueue()


@lru_cache(maxsize=1)
def credential_store() -> CredentialStore:
    """One Secrets Manager accessor per container."""
    return CredentialStore()
