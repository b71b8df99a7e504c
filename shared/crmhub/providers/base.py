"""What every provider client offers the sync engine."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def external(self, entity: Entity, local_id: str) -> str:
        """The provider's id of a referenced local record (KeyError if unknown)."""
        return self.ids[(entity, local_id)]


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

    def create(
        self, entity: Entity, record: CanonicalRecord, refs: References, *, intent_id: str
    ) -> ExternalRecord: ...

    def update(self, entity: Entity, external_id: str, record: CanonicalRecord, refs: References) -> ExternalRecord: ...

    def delete(self, entity: Entity, external_id: str) -> None: ...

    def deactivate(self, entity: Entity, external_id: str, record: CanonicalRecord | None) -> None: ...

    def get(self, entity: Entity, external_id: str) -> ExternalRecord | None: ...

    def list_page(self, entity: Entity, cursor: str | None = None) -> Page: ...

    def find_existing(
        self, entity: Entity, record: CanonicalRecord, *, intent_id: str, refs: References | None = None
    ) -> ExternalRecord | None:
        """The provider's record that is this one (by natural key or intent marker), if any."""
        ...

    def test_connection(self) -> ConnectionTest: ...

    def close(self) -> None: ...
