"""Entity links: local id (ERP) ⇄ external id (provider), per store, provider and entity.

A link is written as ``pending`` (an *intent*) before the provider's create and made
``linked`` afterwards. If the worker dies in between, the retry finds the pending intent
and searches the provider by natural key before creating again: no duplicates.

A record's two directions travel in different FIFO groups (ERP changes by local id,
provider changes by external id), so two workers could work on one record at once. A
*lease* on the link (:func:`lease`) makes them take turns: whoever holds it reads both
sides, writes and moves the link on; the other retries shortly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from crmhub.errors import Conflict
from crmhub.models.common import Entity
from crmhub.storage.base import HubModel, UTCDateTime, utc_now

STATUS_PENDING = "pending"
STATUS_LINKED = "linked"
STATUS_DELETED = "deleted"
STATUS_CREATING = "creating"  # a claim: see claim_creation
CLAIM_PREFIX = "claim#"


def link_scope(store_id: str, provider: str, entity: Entity | str) -> str:
    """The partition of a store's links to one provider for one entity."""
    return f"{store_id}#{provider}#{entity}"


def claims_scope(store_id: str, provider: str, entity: Entity | str) -> str:
    """The partition of the creation claims beside those links (see :func:`claim_creation`):
    apart, so asking for the claims in flight reads a handful of items, not every link."""
    return f"{link_scope(store_id, provider, entity)}#claims"


class ByExternalId(GlobalSecondaryIndex["EntityLink"]):
    """Look a link up from the provider's side."""

    class Meta:
        index_name = "by_external_id"
        projection = AllProjection()

    scope = UnicodeAttribute(hash_key=True)
    external_id = UnicodeAttribute(range_key=True)


class EntityLink(HubModel):
    """One linked (or being-linked) record."""

    settings_field = "entity_links_table"

    class Meta:
        table_name = "unbound-entity-links"

    scope = UnicodeAttribute(hash_key=True)
    local_id = UnicodeAttribute(range_key=True)
    external_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=STATUS_PENDING)
    intent_id = UnicodeAttribute(null=True)
    intent_at = UTCDateTime(null=True)
    intent_change_id = UnicodeAttribute(null=True)  # the change whose create the intent guards
    natural_key: MapAttribute = MapAttribute(null=True)  # e.g. {"document": "…"}; personal data: never logged
    source_updated_at = UTCDateTime(null=True)  # the ERP's updated_at of the last synced change
    crm_updated_at = UTCDateTime(null=True)  # the provider's update time of the last synced change
    seen_in_scan = UnicodeAttribute(null=True)  # the last full import scan that saw the record
    last_synced_at = UTCDateTime(null=True)
    snapshot_hash = UnicodeAttribute(null=True)
    snapshot = UnicodeAttribute(null=True)  # JSON: the last-synced record as the provider holds it (flat)
    version = NumberAttribute(default=0)
    created_at = UTCDateTime(default=utc_now)
    lease_owner = UnicodeAttribute(null=True)  # the worker syncing the record right now
    lease_until = NumberAttribute(null=True)  # epoch seconds; an expired lease is free

    by_external_id = ByExternalId()

    @property
    def is_linked(self) -> bool:
        """True once the provider's id is known."""
        return self.status == STATUS_LINKED and bool(self.external_id)

    def natural_keys(self) -> dict[str, str]:
        """The natural key kept with an intent or claim (``{}`` when none)."""
        return {str(k): str(v) for k, v in self.natural_key.as_dict().items()} if self.natural_key else {}

    def snapshot_flat(self) -> dict[str, Any] | None:
        """The last-synced record (the three-way merge's base), if any."""
        return json.loads(self.snapshot) if self.snapshot else None


def snapshot_hash(data: dict[str, Any]) -> str:
    """Stable hash of a canonical record's data (change detection, echo suppression)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def get_link(store_id: str, provider: str, entity: Entity, local_id: str) -> EntityLink | None:
    """The link of a local record, if any."""
    try:
        return EntityLink.get(link_scope(store_id, provider, entity), local_id, consistent_read=True)
    except DoesNotExist:
        return None


def find_by_external_id(store_id: str, provider: str, entity: Entity, external_id: str) -> EntityLink | None:
    """The link of a provider record, if any (eventually consistent index)."""
    scope = link_scope(store_id, provider, entity)
    for link in EntityLink.by_external_id.query(scope, EntityLink.external_id == external_id, limit=1):
        return link
    return None


def begin_intent(
    store_id: str,
    provider: str,
    entity: Entity,
    local_id: str,
    *,
    intent_id: str,
    natural_key: dict[str, str],
    change_id: str | None = None,
    now: datetime | None = None,
) -> EntityLink:
    """Record that we are about to create ``local_id`` in the provider.

    Fails with :class:`Conflict` if a link already exists (another worker got there first).
    """
    link = EntityLink(
        link_scope(store_id, provider, entity),
        local_id,
        status=STATUS_PENDING,
        intent_id=intent_id,
        intent_at=now or utc_now(),
        intent_change_id=change_id,
        natural_key=natural_key,
    )
    try:
        link.save(condition=EntityLink.local_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("a link for this record already exists") from None
        raise
    return link


def claim_creation(
    store_id: str, provider: str, entity: Entity, external_id: str, *, natural_key: dict[str, str], now: datetime
) -> EntityLink:
    """Announce that the hub is about to create a provider record in the ERP.

    Until its link is saved, the new ERP record exists without one, and the ERP's users
    may already change or delete it: the ERP side finds this claim (see
    :func:`creations_in_flight`) and waits for the link instead of treating the record as
    unlinked. Kept in the claims partition under ``claim#<external id>`` (never linked,
    so lookups by external id and link scans pass it by)."""
    claim = EntityLink(
        claims_scope(store_id, provider, entity),
        f"{CLAIM_PREFIX}{external_id}",
        status=STATUS_CREATING,
        intent_id=external_id,
        intent_at=now,
        natural_key=natural_key,
    )
    claim.save()
    return claim


def release_claim(claim: EntityLink) -> None:
    """The creation is over (linked, or refused for good)."""
    claim.delete()


def creations_in_flight(store_id: str, provider: str, entity: Entity, *, since: datetime) -> list[EntityLink]:
    """Claims made after ``since`` (older ones belong to workers long dead)."""
    scope = claims_scope(store_id, provider, entity)
    claims = EntityLink.query(scope, EntityLink.local_id.startswith(CLAIM_PREFIX), consistent_read=True)
    return [claim for claim in claims if claim.intent_at is not None and claim.intent_at > since]


class LeaseUnavailable(Conflict):
    """Another worker is syncing this record (or its link has just gone): try again shortly.
    ``held_for_s``: what is left of that worker's lease (None when the link is gone)."""

    def __init__(self, message: str, *, held_for_s: float | None = None) -> None:
        super().__init__(message)
        self.held_for_s = held_for_s


@contextmanager
def lease(link: EntityLink, *, owner: str, seconds: float, now: datetime | None = None) -> Iterator[EntityLink]:
    """Hold the record for ``seconds`` (at most) while syncing it; yields the link as stored
    once the lease is taken (the caller's copy may be stale). Raises
    :class:`LeaseUnavailable` while another worker holds it or if the link is gone. A
    worker that dies keeps the record for the rest of its lease only."""
    moment = (now or utc_now()).timestamp()
    try:
        link.update(
            actions=[EntityLink.lease_owner.set(owner), EntityLink.lease_until.set(moment + seconds)],
            condition=EntityLink.local_id.exists()
            & (EntityLink.lease_until.does_not_exist() | (EntityLink.lease_until < moment)),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        try:
            link.refresh(consistent_read=True)
        except DoesNotExist:
            raise LeaseUnavailable("the record's link is gone") from None
        held_for = max(0.0, link.lease_until - moment) if link.lease_until is not None else 0.0
        raise LeaseUnavailable("another worker is syncing this record", held_for_s=held_for) from None
    try:
        yield link
    finally:
        try:
            link.update(
                actions=[EntityLink.lease_owner.remove(), EntityLink.lease_until.remove()],
                condition=EntityLink.lease_owner == owner,
            )
        except UpdateError as exc:  # expired and taken over, or the link was removed
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


def complete_link(
    link: EntityLink,
    *,
    external_id: str,
    source_updated_at: datetime | None,
    snapshot: dict[str, Any],
    crm_updated_at: datetime | None = None,
    now: datetime | None = None,
) -> EntityLink:
    """Mark a link as linked to ``external_id`` with the record's last-synced snapshot.
    Timestamps only move forward (``None`` keeps the stored one)."""
    stamps = []
    if source_updated_at and (link.source_updated_at is None or source_updated_at > link.source_updated_at):
        stamps.append(EntityLink.source_updated_at.set(source_updated_at))
    if crm_updated_at and (link.crm_updated_at is None or crm_updated_at > link.crm_updated_at):
        stamps.append(EntityLink.crm_updated_at.set(crm_updated_at))
    try:
        link.update(
            actions=[
                *stamps,
                EntityLink.external_id.set(external_id),
                EntityLink.status.set(STATUS_LINKED),
                EntityLink.last_synced_at.set(now or utc_now()),
                EntityLink.snapshot_hash.set(snapshot_hash(snapshot)),
                EntityLink.snapshot.set(json.dumps(snapshot, sort_keys=True, default=str)),
                EntityLink.version.add(1),
                EntityLink.intent_id.remove(),
            ],
            condition=EntityLink.version == link.version,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("the link changed while we were syncing it") from None
        raise
    return link


def mark_deleted(link: EntityLink, *, source_updated_at: datetime | None, now: datetime | None = None) -> None:
    """Remember that the record was deleted/deactivated (on either side). ``source_updated_at``
    only moves forward: ERP changes up to it are stale from now on."""
    later = source_updated_at and (link.source_updated_at is None or source_updated_at > link.source_updated_at)
    link.update(
        actions=[
            EntityLink.status.set(STATUS_DELETED),
            EntityLink.last_synced_at.set(now or utc_now()),
            EntityLink.version.add(1),
            *([EntityLink.source_updated_at.set(source_updated_at)] if later and source_updated_at else []),
        ]
    )


def delete_link(link: EntityLink) -> None:
    """Forget a link (e.g. a stale intent whose create never happened)."""
    link.delete()


def list_links(store_id: str, provider: str, entity: Entity, *, limit: int = 100, start: dict | None = None):
    """One page of a scope's links (paginated; returns the result iterator)."""
    return EntityLink.query(link_scope(store_id, provider, entity), limit=limit, last_evaluated_key=start)
