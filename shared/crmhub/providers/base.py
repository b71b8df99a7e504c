"""What every provider client offers the sync engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from crmhub.models.base import CanonicalRecord
from crmhub.models.common import Entity


@dataclass(frozen=True)
class ExternalRecord:
    """A record as returned by a provider, already in canonical form."""

    external_id: str
    record: CanonicalRecord
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Page:
    """One page of a provider list; ``next_cursor`` is None on the last page."""

    items: list[ExternalRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class References:
    """Local → external ids of the records a record points to (a sale's customer…)."""

    ids: dict[tuple[Entity, str], str] = field(default_factory=dict)

    identity: bool = False

    def external(self, entity: Entity, local_id: str) -> str:
        """The provider's id of a referenced local record (KeyError if unknown)."""
        if self.identity:
            return local_id
        return self.ids[(entity, local_id)]


IDENTITY_REFS = References(identity=True)  # for projections: ids stay as they are


@dataclass(frozen=True)
class ConnectionTest:
    """Result of "test connection"."""

    ok: bool
    message: str
    latency_ms: float


class Provider(Protocol):
    """A CRM/ERP client. Methods raise :mod:`crmhub.errors` exceptions, never httpx ones."""

    name: str
    entities: frozenset[Entity]
    supports_updated_since: bool
    supports_webhooks: bool

    def create(
        self, entity: Entity, record: CanonicalRecord, refs: References, *, intent_id: str
    ) -> ExternalRecord: ...

    def update(self, entity: Entity, external_id: str, record: CanonicalRecord, refs: References) -> ExternalRecord: ...

    def delete(self, entity: Entity, external_id: str) -> None: ...

    def deactivate(self, entity: Entity, external_id: str, record: CanonicalRecord | None) -> None: ...

    def get(self, entity: Entity, external_id: str) -> ExternalRecord | None: ...

    def list_page(self, entity: Entity, cursor: str | None = None) -> Page: ...

    def list_changed(self, entity: Entity, since: datetime | None, cursor: str | None = None) -> Page:
        """Records changed since ``since`` (every record where the provider cannot filter)."""
        ...

    def find_existing(
        self, entity: Entity, record: CanonicalRecord, *, intent_id: str, refs: References | None = None
    ) -> ExternalRecord | None:
        """The provider's record that is this one (by natural key or intent marker), if any."""
        ...

    def project(self, entity: Entity, record: CanonicalRecord) -> CanonicalRecord:
        """The record as this provider would hold it (to the provider's shape and back,
        no I/O; references left as they are): what a three-way merge can compare."""
        ...

    def test_connection(self) -> ConnectionTest: ...

    def close(self) -> None: ...
