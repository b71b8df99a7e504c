"""API keys: who may call ``/api/*``. Keys are stored hashed (SHA-256), never in clear.

A key belongs to one store, or is an admin key (``store_id`` is ``*``). API Gateway
checks that a key exists in the usage plan; this table decides what the key may touch.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from crmhub.errors import Forbidden, Unauthorized
from crmhub.storage.base import HubModel, UTCDateTime, utc_now

ADMIN_SCOPE = "*"


class ApiKeyRecord(HubModel):
    """A hashed API key and its scope."""

    settings_field = "api_keys_table"

    class Meta:
        table_name = "unbound-api-keys"

    key_hash = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    label = UnicodeAttribute(default="")
    active = BooleanAttribute(default=True)
    created_at = UTCDateTime(default=utc_now)


@dataclass(frozen=True)
class Principal:
    """The caller behind a key."""

    store_id: str
    label: str

    @property
    def is_admin(self) -> bool:
        """Admin keys may act on every store."""
        return self.store_id == ADMIN_SCOPE

    def require_store(self, store_id: str) -> None:
        """Raise :class:`Forbidden` unless the key may act on ``store_id``."""
        if not self.is_admin and self.store_id != store_id:
            raise Forbidden("this API key belongs to another store", details={"store_id": store_id})


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest of a key (what the table stores)."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(store_id: str, label: str = "", *, key: str | None = None) -> str:
    """Store a new key for ``store_id`` (or ``*`` for admin) and return it in clear, once."""
    key = key or "chk_" + secrets.token_urlsafe(32)
    ApiKeyRecord(hash_api_key(key), store_id=store_id, label=label).save()
    return key


def authenticate(key: str | None) -> Principal:
    """The principal of ``key``, or :class:`Unauthorized`."""
    if not key:
        raise Unauthorized("the x-api-key header is missing")
    try:
        record = ApiKeyRecord.get(hash_api_key(key))
    except DoesNotExist:
        raise Unauthorized("the API key is not valid") from None
    if not record.active:
        raise Unauthorized("the API key is revoked")
    return Principal(store_id=record.store_id, label=record.label)
