"""The sync engine: one change at a time, in either direction.

- ERP → provider (:meth:`SyncEngine.apply`): create or update by entity link, guarded
  against duplicate creates by a pending intent; updates read the provider's record first
  and merge three-way, so a change made there since the last sync is kept.
- provider → ERP (:meth:`SyncEngine.apply_inbound`): webhooks and imports; echoes of our
  own writes and out-of-order deliveries are recognised; new records are created in the
  ERP with an idempotency key; linked ones merge three-way.
- conflict resolutions (:meth:`SyncEngine.apply_resolution`).
Every provider request draws on the connection's shared rate budget; every outcome is
logged without personal data.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from crmhub.conflicts.merge import flatten, unflatten
from crmhub.credentials import CredentialStore
from crmhub.errors import Conflict, HubError, NotFound, PermanentError, TransientError
from crmhub.models import ENTITY_MODELS, CanonicalRecord, Entity, Operation, SyncAction, SyncStatus
from crmhub.models.changes import ConflictResolutionMessage, InboundMessage, SyncMessage
from crmhub.models.common import ProviderName
from crmhub.models.connection import EntitySettings
from crmhub.models.inbound import ProviderChange
from crmhub.observability import logger, metrics
from crmhub.providers import REGISTRY, build_provider
from crmhub.providers.base import ExternalRecord, Provider, References
from crmhub.rate_limit import RateLimiter, RateLimitPolicy
from crmhub.settings import HubSettings, get_settings
from crmhub.storage import conflicts
from crmhub.storage import entity_links as links
from crmhub.storage.base import utc_now
from crmhub.storage.connections import ConnectionRecord, get_connection
from crmhub.storage.events import set_event_status
from crmhub.storage.sync_log import LogWrite, write_log
from crmhub.sync.reconcile import Reconciler, provider_view
from crmhub.sync.references import external_references, localize

if TYPE_CHECKING:
    from crmhub.erp.client import ErpClient

# How long a provider change of an unlinked record may wait for an initial sync's ERP index
# (a page of 100 records per worker run: ten thousand records in well under this).
INDEXING_WAIT_S = 300.0


@dataclass(frozen=True)
class SyncOutcome:
    """What the engine did with a message."""

    action: SyncAction
    status: SyncStatus
    external_id: str | None = None
    reason: str | None = None
    local_id: str | None = None


ProviderFactory = Callable[[ConnectionRecord, dict[str, Any], RateLimiter], Provider]
ErpFactory = Callable[[str], "ErpClient | None"]


def default_provider_factory(
    connection: ConnectionRecord, credentials: dict[str, Any], limiter: RateLimiter
) -> Provider:
    """Build the connection's provider client from its settings."""
    settings = connection.settings
    return build_provider(
        connection.provider_name,
        credentials,
        base_url=str(settings.base_url) if settings.base_url else None,
        limiter=limiter,
        timeout_s=settings.timeout_s,
        store_id=connection.store_id,
    )


@dataclass(frozen=True)
class _Logged:
    store_id: str
    provider: str
    entity: str
    local_id: str
    change_id: str | None
    direction: str
    event_id: str | None


class SyncEngine:
    """Applies queued changes. One engine per container; provider and ERP clients are
    cached (a connection's settings change rebuilds its client)."""

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        credentials: CredentialStore | None = None,
        provider_factory: ProviderFactory = default_provider_factory,
        erp_factory: ErpFactory | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings or get_settings()
        self._credentials = credentials or CredentialStore(self._settings)
        self._provider_factory = provider_factory
        self._erp_factory = erp_factory or self._default_erp
        self._clock = clock
        self._monotonic = monotonic
        self._providers: dict[tuple[str, str], tuple[str, Provider]] = {}
        self._erps: dict[str, ErpClient | None] = {}
        self._reconciler = Reconciler(clock=clock)

    # ================================================================ public
    def apply(self, message: SyncMessage, *, attempt: int = 1, final_attempt: bool = False) -> SyncOutcome:
        """ERP → provider. Raises :class:`TransientError` (retry) or :class:`PermanentError`
        (do not retry) after logging the failure."""
        logged = _Logged(
            message.store_id,
            str(message.provider),
            str(message.entity),
            message.local_id,
            message.change_id,
            "erp_to_crm",
            message.change_id,
        )
        return self._run(logged, attempt, final_attempt, lambda: self._outbound(message))

    def apply_inbound(self, message: InboundMessage, *, attempt: int = 1, final_attempt: bool = False) -> SyncOutcome:
        """Provider → ERP (webhook or import)."""
        change = message.change
        event_id = f"{change.provider}:{change.event_id}"
        logged = _Logged(
            message.store_id,
            str(change.provider),
            str(change.entity),
            f"ext:{change.external_id}",
            event_id,
            "crm_to_erp",
            event_id,
        )
        return self._run(logged, attempt, final_attempt, lambda: self._inbound(message))

    def apply_resolution(self, message: ConflictResolutionMessage, *, attempt: int = 1) -> SyncOutcome:
        """Write an operator's decision to both systems."""
        record = conflicts.get_conflict(message.store_id, message.conflict_id)
        logged = _Logged(message.store_id, record.provider, record.entity, record.local_id, None, "resolution", None)
        return self._run(logged, attempt, False, lambda: self._resolve(message, record))

    def provider_for(self, connection: ConnectionRecord) -> Provider:
        """The (cached) client of a connection."""
        key = (connection.store_id, connection.provider)
        fingerprint = f"{connection.settings_json}|{connection.updated_at.isoformat()}"
        cached = self._providers.get(key)
        if cached and cached[0] == fingerprint:
            return cached[1]
        if cached:
            cached[1].close()
        credentials = self._credentials.get(connection.store_id, connection.provider)
        provider = self._provider_factory(connection, credentials, self.limiter_for(connection))
        self._providers[key] = (fingerprint, provider)
        return provider

    def erp_for(self, store_id: str) -> ErpClient | None:
        """The store's ERP client (None when the store has no ERP API configured)."""
        if store_id not in self._erps:
            self._erps[store_id] = self._erp_factory(store_id)
        return self._erps[store_id]

    def limiter_for(self, connection: ConnectionRecord) -> RateLimiter:
        """The connection's shared rate budget (the provider's documented limit by default)."""
        spec = REGISTRY.get(ProviderName(connection.provider))
        settings = connection.settings
        limit = settings.rate_limit or (spec.rate_limit if spec else 1)
        window = settings.rate_window_s or (spec.rate_window_s if spec else 1.0)
        return RateLimiter(
            f"{connection.store_id}#{connection.provider}", RateLimitPolicy(limit=limit, window_s=window)
        )

    def references(self, store_id: str, provider: str, record: CanonicalRecord) -> References:
        """Provider ids of what ``record`` points to (see :mod:`crmhub.sync.references`)."""
        return external_references(store_id, provider, record)

    # ================================================================ ERP → provider
    def _outbound(self, message: SyncMessage) -> SyncOutcome:
        connection = self._connection(message.store_id, str(message.provider))
        if not connection.enabled:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="connection_disabled")
        entity_settings = connection.settings.for_entity(message.entity)
        if not entity_settings.sends_to_provider():
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="entity_not_sent_to_provider")

        link = links.get_link(message.store_id, connection.provider, message.entity, message.local_id)
        if link and link.source_updated_at and message.updated_at <= link.source_updated_at:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, link.external_id, reason="stale_change")

        provider = self.provider_for(connection)
        if link is None:
            hold = self._creation_hold_s(message)
            if hold is not None:
                raise TransientError(
                    "the hub is creating this record from the provider's copy", retry_after=2, blocked_for_s=hold
                )
            if message.operation is Operation.DELETE:
                return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="not_linked")
            record = _validated(message.entity, {**message.data, "id": message.local_id})
            return self._create_in_provider(message, provider, None, record)
        with self._leased(link) as link:
            if link.source_updated_at and message.updated_at <= link.source_updated_at:
                return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, link.external_id, reason="stale_change")
            if message.operation is Operation.DELETE:
                return self._delete_in_provider(message, provider, link, entity_settings)
            record = _validated(message.entity, {**message.data, "id": message.local_id})
            if link.is_linked:
                return self._update_in_provider(message, connection, provider, link, record, entity_settings)
            return self._create_in_provider(message, provider, link, record)

    def _creation_hold_s(self, message: SyncMessage) -> float | None:
        """While the hub may be creating this very record in the ERP from a provider record
        (see :func:`crmhub.storage.entity_links.claim_creation`), the seconds before the
        latest such claim expires; None when there is none. A claim counts when it was made
        for the same natural key, or when either side has none to compare."""
        since = self._clock() - timedelta(seconds=self._settings.record_lease_seconds)
        claims = links.creations_in_flight(message.store_id, str(message.provider), message.entity, since=since)
        if not claims:
            return None
        try:
            ours = _natural_key(_validated(message.entity, {**message.data, "id": message.local_id}))
        except PermanentError:  # a delete's partial copy: compare nothing, wait for any
            ours = {}
        holds = [self._hold_left_s(c.intent_at) for c in claims if _same_natural_key(ours, c.natural_keys())]
        return max(holds) if holds else None

    def _hold_left_s(self, since: datetime | None) -> float:
        """Seconds left of a hold (intent or claim) taken at ``since``: it lasts a lease."""
        if since is None:
            return 0.0
        ends = since + timedelta(seconds=self._settings.record_lease_seconds)
        return max(0.0, (ends - self._clock()).total_seconds())

    def _create_in_provider(
        self, message: SyncMessage, provider: Provider, link: links.EntityLink | None, record: CanonicalRecord
    ) -> SyncOutcome:
        refs = self.references(message.store_id, str(message.provider), record)
        existing: ExternalRecord | None = None
        if link is None:
            try:
                link = links.begin_intent(
                    message.store_id,
                    str(message.provider),
                    message.entity,
                    message.local_id,
                    intent_id=secrets.token_hex(8),
                    natural_key=_natural_key(record),
                    change_id=message.change_id,
                    now=self._clock(),
                )
            except Conflict:  # an intent written a moment ago: it holds for a lease at most
                raise TransientError(
                    "another worker is linking this record",
                    retry_after=2,
                    blocked_for_s=self._settings.record_lease_seconds,
                ) from None
            existing = self._twin_before_initial_sync(message, provider, record, refs)
        else:
            self._wait_for_someone_elses_intent(link, message)
            # A pending intent: an earlier attempt may have created the record and died
            # before saving the link. Look for it before creating again.
            metrics.add_metric(name="PendingIntentRecovered", unit="Count", value=1)
            existing = provider.find_existing(message.entity, record, intent_id=link.intent_id or "", refs=refs)
        if existing is not None:
            created = provider.update(message.entity, existing.external_id, record, refs)
            action = SyncAction.LINK
        else:
            created = provider.create(message.entity, record, refs, intent_id=link.intent_id or "")
            action = SyncAction.CREATE
        links.complete_link(
            link,
            external_id=created.external_id,
            source_updated_at=message.updated_at,
            crm_updated_at=created.record.updated_at,
            snapshot=provider_view(provider, message.entity, record),
            now=self._clock(),
        )
        return SyncOutcome(action, SyncStatus.SUCCESS, created.external_id)

    def _twin_before_initial_sync(
        self, message: SyncMessage, provider: Provider, record: CanonicalRecord, refs: References
    ) -> ExternalRecord | None:
        """While this entity's initial sync runs, the provider may hold this record already,
        not yet linked: find it by natural key and link it, rather than create a second
        copy next to the one the job is about to match."""
        from crmhub.initial_sync import matching_in_progress

        store, name = message.store_id, str(message.provider)
        if matching_in_progress(store, name, message.entity, now=self._clock()) is None:
            return None
        found = provider.find_existing(message.entity, record, intent_id="", refs=refs)
        if found is None or links.find_by_external_id(store, name, message.entity, found.external_id):
            return None
        metrics.add_metric(name="MatchedDuringInitialSync", unit="Count", value=1)
        return found

    def _wait_for_someone_elses_intent(self, link: links.EntityLink, message: SyncMessage) -> None:
        """A fresh pending intent written for another change (the inbound path creating
        this record, or another worker): wait for it rather than create a second copy."""
        if link.status != links.STATUS_PENDING:
            return
        if link.intent_change_id is not None and link.intent_change_id == message.change_id:
            return  # our own earlier attempt
        hold = self._hold_left_s(link.intent_at)
        if hold > 0:
            raise TransientError("another worker is linking this record", retry_after=2, blocked_for_s=hold)

    def _update_in_provider(
        self,
        message: SyncMessage,
        connection: ConnectionRecord,
        provider: Provider,
        link: links.EntityLink,
        record: CanonicalRecord,
        entity_settings: EntitySettings,
    ) -> SyncOutcome:
        external_id = link.external_id or ""
        store, name = message.store_id, str(message.provider)
        if not connection.settings.verify_before_update:
            view = provider_view(provider, message.entity, record)
            if link.snapshot_hash == links.snapshot_hash(view):
                links.complete_link(
                    link,
                    external_id=external_id,
                    source_updated_at=message.updated_at,
                    snapshot=view,
                    now=self._clock(),
                )
                return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, external_id, reason="unchanged")
            try:
                provider.update(message.entity, external_id, record, self.references(store, name, record))
            except NotFound:
                return self._gone_from_provider(message, provider, link, record, entity_settings)
            links.complete_link(
                link, external_id=external_id, source_updated_at=message.updated_at, snapshot=view, now=self._clock()
            )
            return SyncOutcome(SyncAction.UPDATE, SyncStatus.SUCCESS, external_id)

        current = provider.get(message.entity, external_id)
        if current is None:
            return self._gone_from_provider(message, provider, link, record, entity_settings)
        erp = self.erp_for(store)
        erp_updated_at = message.updated_at
        latest = erp.get(message.entity, message.local_id) if erp is not None else None
        if latest is not None:
            # The message's copy may predate the hub's own later write to the ERP (whose
            # notification is ignored as an echo): merge the ERP's current record, so a
            # stale copy never overwrites the provider with a value the ERP no longer has.
            record = _validated(message.entity, {**latest, "id": message.local_id})
            erp_updated_at = max(record.updated_at or message.updated_at, message.updated_at)
        outcome = self._reconciler.reconcile(
            store_id=store,
            provider_name=name,
            provider=provider,
            erp=erp,
            entity=message.entity,
            link=link,
            erp_record=record,
            crm_record=localize(store, name, current.record),
            erp_updated_at=erp_updated_at,
            crm_updated_at=current.record.updated_at,
            settings=entity_settings,
            refs=lambda merged: self.references(store, name, merged),
        )
        if not outcome.changed:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, external_id, reason="unchanged")
        return SyncOutcome(
            SyncAction.UPDATE,
            SyncStatus.SUCCESS,
            external_id,
            reason=f"conflicts={outcome.conflicts}" if outcome.conflicts else None,
        )

    def _gone_from_provider(
        self,
        message: SyncMessage,
        provider: Provider,
        link: links.EntityLink,
        record: CanonicalRecord,
        settings: EntitySettings,
    ) -> SyncOutcome:
        """The linked provider record is gone: it was deleted there, and the import that
        would report it has not run yet. Where the provider's deletes reach the ERP, this
        is that delete (the same outcome whichever arrives first); where they do not (a
        one-way entity, or deletes ignored), the ERP's record is created again."""
        erp = self.erp_for(message.store_id)
        if erp is None or not settings.receives_from_provider() or settings.on_delete == "ignore":
            return self._recreate(message, provider, link, record)
        self._deactivate_in_erp(erp, message.entity, link, seen=message.updated_at)
        return SyncOutcome(SyncAction.DEACTIVATE, SyncStatus.SUCCESS, link.external_id, reason="deleted_in_provider")

    def _recreate(
        self, message: SyncMessage, provider: Provider, link: links.EntityLink, record: CanonicalRecord
    ) -> SyncOutcome:
        """The provider lost the record and its deletes do not reach the ERP: create it
        again and re-link."""
        refs = self.references(message.store_id, str(message.provider), record)
        created = provider.create(message.entity, record, refs, intent_id=secrets.token_hex(8))
        links.complete_link(
            link,
            external_id=created.external_id,
            source_updated_at=message.updated_at,
            snapshot=provider_view(provider, message.entity, record),
            now=self._clock(),
        )
        return SyncOutcome(SyncAction.CREATE, SyncStatus.SUCCESS, created.external_id, reason="recreated")

    def _delete_in_provider(
        self, message: SyncMessage, provider: Provider, link: links.EntityLink | None, settings: EntitySettings
    ) -> SyncOutcome:
        if link is None or not link.is_linked:
            if link is not None:
                self._wait_for_someone_elses_intent(link, message)
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="not_linked")
        external_id = link.external_id or ""
        if settings.on_delete == "ignore":
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, external_id, reason="deletes_ignored")
        if settings.on_delete == "delete":
            provider.delete(message.entity, external_id)
            action = SyncAction.DELETE
        else:
            provider.deactivate(message.entity, external_id, None)
            action = SyncAction.DEACTIVATE
        links.mark_deleted(link, source_updated_at=message.updated_at, now=self._clock())
        return SyncOutcome(action, SyncStatus.SUCCESS, external_id)

    # ================================================================ provider → ERP
    def _inbound(self, message: InboundMessage) -> SyncOutcome:
        change = message.change
        store, name, entity = message.store_id, str(change.provider), change.entity
        connection = self._connection(store, name)
        if not connection.enabled:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="connection_disabled")
        entity_settings = connection.settings.for_entity(entity)
        if not entity_settings.receives_from_provider():
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="entity_not_received_from_provider")
        erp = self.erp_for(store)
        if erp is None:
            raise PermanentError(f"store {store!r} has no ERP API configured: provider changes cannot be applied")
        link = links.find_by_external_id(store, name, entity, change.external_id)
        if link and link.crm_updated_at and change.occurred_at < link.crm_updated_at:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, change.external_id, "stale_change", link.local_id)

        provider = self.provider_for(connection)
        if link is None:
            if change.action == "delete":
                return self._delete_in_erp(message, erp, None, entity_settings)
            crm = self._provider_record(provider, message)
            if crm is None:  # gone by the time we looked, and never linked
                return self._delete_in_erp(message, erp, None, entity_settings)
            record = localize(store, name, crm)
            matched = self._twin_in_initial_sync_index(message, record)
            if matched is None:
                return self._create_in_erp(message, erp, record)
            link = matched
        with self._leased(link) as link:
            if link.external_id != change.external_id:
                # The ERP record was linked to another provider record since the lookup.
                return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, change.external_id, "relinked", link.local_id)
            if link.crm_updated_at and change.occurred_at < link.crm_updated_at:
                return SyncOutcome(
                    SyncAction.SKIP, SyncStatus.SKIPPED, change.external_id, "stale_change", link.local_id
                )
            return self._inbound_linked(message, connection, erp, provider, link, entity_settings)

    def _twin_in_initial_sync_index(self, message: InboundMessage, record: CanonicalRecord) -> links.EntityLink | None:
        """While this entity's initial sync runs, the ERP may hold this record already, not
        yet linked: match it in the job's index of the ERP and link it (the merge then runs
        as for any linked record), rather than create a second copy in the ERP. While the
        index is being built, wait for it."""
        from crmhub.initial_sync import indexed_match, link_pair, matching_in_progress, still_indexing

        change = message.change
        store, name = message.store_id, str(change.provider)
        job = matching_in_progress(store, name, change.entity, now=self._clock())
        if job is None:
            return None
        if still_indexing(job):
            raise TransientError(
                "an initial sync is reading the ERP: new provider records wait for its index",
                retry_after=10,
                blocked_for_s=INDEXING_WAIT_S,
            )
        local_id = indexed_match(job, store, name, change.entity, record)
        if local_id is None:
            return None
        link = link_pair(store, name, change.entity, local_id, change.external_id, self._clock())
        if link is not None:
            metrics.add_metric(name="MatchedDuringInitialSync", unit="Count", value=1)
        return link

    def _inbound_linked(
        self,
        message: InboundMessage,
        connection: ConnectionRecord,
        erp: ErpClient,
        provider: Provider,
        link: links.EntityLink,
        entity_settings: EntitySettings,
    ) -> SyncOutcome:
        """A provider change of a linked record (the caller holds the record's lease)."""
        change = message.change
        store, name, entity = message.store_id, str(change.provider), change.entity
        if change.action == "delete":
            return self._delete_in_erp(message, erp, link, entity_settings)
        crm = self._provider_record(provider, message)
        if crm is None:  # gone by the time we looked: a delete we have not been told about
            return self._delete_in_erp(message, erp, link, entity_settings)
        crm_record = localize(store, name, crm)
        view = flatten(crm_record.comparable())
        if change.data is not None and link.snapshot_flat() != view and not _clearly_after(change, link):
            # A delivery's copy may predate our own later write (an old event arriving
            # late, e.g. the echo of our create after our update): the provider's current
            # record decides, so a stale copy never rolls the ERP back. A copy changed well
            # after our last write cannot be that, and costs no extra read (imports).
            fetched = provider.get(entity, change.external_id)
            if fetched is None:
                return self._delete_in_erp(message, erp, link, entity_settings)
            crm_record = localize(store, name, fetched.record)
            view = flatten(crm_record.comparable())
        if link.snapshot_flat() == view:
            # Our own write echoed back, or a no-op change: nothing to apply.
            metrics.add_metric(name="EchoSuppressed", unit="Count", value=1)
            links.complete_link(
                link,
                external_id=change.external_id,
                source_updated_at=None,
                crm_updated_at=change.occurred_at,
                snapshot=view,
                now=self._clock(),
            )
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, change.external_id, "echo", link.local_id)
        current = erp.get(entity, link.local_id)
        if current is None:
            return self._create_in_erp(message, erp, crm_record)
        erp_record = _validated(entity, {**current, "id": link.local_id})
        outcome = self._reconciler.reconcile(
            store_id=store,
            provider_name=name,
            provider=provider,
            erp=erp,
            entity=entity,
            link=link,
            erp_record=erp_record,
            crm_record=crm_record,
            erp_updated_at=erp_record.updated_at,
            crm_updated_at=change.occurred_at,
            settings=entity_settings,
            refs=lambda merged: self.references(store, name, merged),
        )
        action = SyncAction.UPDATE if outcome.changed else SyncAction.SKIP
        status = SyncStatus.SUCCESS if outcome.changed else SyncStatus.SKIPPED
        reason = f"conflicts={outcome.conflicts}" if outcome.conflicts else (None if outcome.changed else "unchanged")
        return SyncOutcome(action, status, change.external_id, reason, link.local_id)

    def _provider_record(self, provider: Provider, message: InboundMessage) -> CanonicalRecord | None:
        change = message.change
        if change.data is not None:
            return _validated(change.entity, {**change.data, "id": change.external_id})
        fetched = provider.get(change.entity, change.external_id)
        return fetched.record if fetched else None

    def _create_in_erp(self, message: InboundMessage, erp: ErpClient, crm_record: CanonicalRecord) -> SyncOutcome:
        """A provider record the ERP does not have: create it there. The ERP call carries an
        idempotency key, so a retry after a crash returns the same ERP record.

        From the ERP's create until the link is saved, the new record is in the ERP without
        a link while its users may already change or delete it: a claim announces the
        creation first, and the ERP side waits for the link (see
        :meth:`_creation_hold_s`). A failure that will be retried keeps the
        claim (the ERP may have created the record all the same)."""
        change = message.change
        store, name = message.store_id, str(change.provider)
        natural_key = _natural_key(crm_record)
        claim = links.claim_creation(
            store, name, change.entity, change.external_id, natural_key=natural_key, now=self._clock()
        )
        try:
            outcome = self._create_claimed_in_erp(message, erp, crm_record, natural_key)
        except PermanentError:
            links.release_claim(claim)
            raise
        links.release_claim(claim)
        return outcome

    def _create_claimed_in_erp(
        self, message: InboundMessage, erp: ErpClient, crm_record: CanonicalRecord, natural_key: dict[str, str]
    ) -> SyncOutcome:
        change = message.change
        store, name = message.store_id, str(change.provider)
        key = f"{store}:{name}:{change.entity}:{change.external_id}"
        data = crm_record.model_dump(mode="json", exclude={"id", "updated_at"})
        created = erp.create(change.entity, data, idempotency_key=key)
        local_id = str(created["id"])
        try:
            link: links.EntityLink | None = links.begin_intent(
                store,
                name,
                change.entity,
                local_id,
                intent_id=secrets.token_hex(8),
                natural_key=natural_key,
                now=self._clock(),
            )
        except Conflict:  # ours from an attempt that died, or one the ERP side began
            link = links.get_link(store, name, change.entity, local_id)
        if link is None:
            raise TransientError("the record's link vanished while it was being created", retry_after=1)
        if link.status == links.STATUS_PENDING and link.intent_change_id is not None:
            raise TransientError(
                "the ERP side is linking this record", retry_after=2, blocked_for_s=self._hold_left_s(link.intent_at)
            )
        with self._leased(link) as link:
            if link.is_linked and link.external_id != change.external_id:
                raise PermanentError(
                    f"ERP record {local_id}, made from this provider record, is linked to provider record "
                    f"{link.external_id}: two provider records stand for one ERP record"
                )
            links.complete_link(
                link,
                external_id=change.external_id,
                source_updated_at=None,
                crm_updated_at=change.occurred_at,
                snapshot=flatten(crm_record.comparable()),
                now=self._clock(),
            )
        return SyncOutcome(SyncAction.CREATE, SyncStatus.SUCCESS, change.external_id, None, local_id)

    def _delete_in_erp(
        self, message: InboundMessage, erp: ErpClient, link: links.EntityLink | None, settings: EntitySettings
    ) -> SyncOutcome:
        change = message.change
        if link is None or not link.is_linked:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, change.external_id, reason="not_linked")
        if settings.on_delete == "ignore":
            return SyncOutcome(
                SyncAction.SKIP, SyncStatus.SKIPPED, change.external_id, "deletes_ignored", link.local_id
            )
        self._deactivate_in_erp(erp, change.entity, link)
        return SyncOutcome(SyncAction.DEACTIVATE, SyncStatus.SUCCESS, change.external_id, None, link.local_id)

    def _deactivate_in_erp(
        self, erp: ErpClient, entity: Entity, link: links.EntityLink, *, seen: datetime | None = None
    ) -> None:
        """Deactivate the linked ERP record (the ERP keeps history: deletes deactivate) and
        mark the link deleted. ERP changes up to the deactivation (or ``seen``, the newest
        ERP change already handled) are stale from then on: a late copy of the record while
        it was active must not create it again."""
        stamps = [at for at in (erp.deactivate(entity, link.local_id), seen) if at is not None]
        links.mark_deleted(link, source_updated_at=max(stamps) if stamps else None, now=self._clock())

    # ================================================================ resolutions
    def _resolve(self, message: ConflictResolutionMessage, record: conflicts.ConflictRecord) -> SyncOutcome:
        if record.status == conflicts.RESOLVED:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, record.external_id, "already_resolved")
        store, name, entity = message.store_id, record.provider, Entity(record.entity)
        connection = self._connection(store, name)
        provider = self.provider_for(connection)
        erp = self.erp_for(store)
        link = links.get_link(store, name, entity, record.local_id)
        if link is None or not link.is_linked or erp is None:
            raise PermanentError("the conflict's record is no longer linked")
        with self._leased(link) as link:
            if not link.is_linked:
                raise PermanentError("the conflict's record is no longer linked")
            return self._resolve_linked(store, record, provider, erp, link)

    def _resolve_linked(
        self,
        store: str,
        record: conflicts.ConflictRecord,
        provider: Provider,
        erp: ErpClient,
        link: links.EntityLink,
    ) -> SyncOutcome:
        """Write the decision (the caller holds the record's lease)."""
        name, entity = record.provider, Entity(record.entity)
        value = json.loads(record.resolved_value or "null")
        current = erp.get(entity, record.local_id)
        if current is None:
            raise PermanentError("the conflict's record no longer exists in the ERP")
        erp_record = _validated(entity, {**current, "id": record.local_id})
        flat = flatten(erp_record.model_dump(mode="json", exclude={"id", "updated_at"}))
        flat[record.field] = value
        resolved = _validated(entity, {**unflatten(flat), "id": record.local_id})
        top = record.field.split(".", 1)[0]
        erp.update(entity, record.local_id, {top: unflatten(flat).get(top)})
        provider.update(entity, record.external_id or "", resolved, self.references(store, name, resolved))
        snapshot = link.snapshot_flat() or {}
        snapshot[record.field] = provider_view(provider, entity, resolved).get(record.field, value)
        links.complete_link(
            link, external_id=link.external_id or "", source_updated_at=None, snapshot=snapshot, now=self._clock()
        )
        record.update(
            actions=[
                conflicts.ConflictRecord.status.set(conflicts.RESOLVED),
                conflicts.ConflictRecord.updated_at.set(self._clock()),
            ]
        )
        return SyncOutcome(
            SyncAction.UPDATE, SyncStatus.SUCCESS, record.external_id, "conflict_resolved", record.local_id
        )

    # ================================================================ plumbing
    def _run(self, logged: _Logged, attempt: int, final_attempt: bool, work: Callable[[], SyncOutcome]) -> SyncOutcome:
        started = self._monotonic()
        try:
            outcome = work()
        except HubError as exc:
            transient = isinstance(exc, TransientError)
            status = SyncStatus.RETRY if transient and not final_attempt else SyncStatus.ERROR
            self._log(logged, SyncAction.SKIP, status, started, attempt, error=exc)
            if logged.event_id:
                set_event_status(
                    logged.event_id, "retrying" if status is SyncStatus.RETRY else "failed", error=exc.message
                )
            metrics.add_metric(
                name="SyncFailed" if status is SyncStatus.ERROR else "SyncRetried", unit="Count", value=1
            )
            raise
        self._log(logged, outcome.action, outcome.status, started, attempt, outcome=outcome)
        if logged.event_id:
            set_event_status(logged.event_id, "processed")
        metrics.add_metric(
            name="Synced" if outcome.status is SyncStatus.SUCCESS else "SyncSkipped", unit="Count", value=1
        )
        logger.info(
            "synced",
            extra={
                "store": logged.store_id,
                "provider": logged.provider,
                "entity": logged.entity,
                "direction": logged.direction,
                "local_id": outcome.local_id or logged.local_id,
                "action": str(outcome.action),
                "status": str(outcome.status),
                "reason": outcome.reason,
            },
        )
        return outcome

    @contextmanager
    def _leased(self, link: links.EntityLink) -> Iterator[links.EntityLink]:
        """Hold the record while syncing it (see :func:`crmhub.storage.entity_links.lease`);
        yields the link as stored. Busy → retried shortly (its FIFO group waits)."""
        try:
            with links.lease(
                link, owner=secrets.token_hex(8), seconds=self._settings.record_lease_seconds, now=self._clock()
            ) as leased:
                yield leased
        except links.LeaseUnavailable as exc:
            metrics.add_metric(name="RecordBusy", unit="Count", value=1)
            raise TransientError(exc.message, retry_after=1, blocked_for_s=exc.held_for_s) from None

    def _connection(self, store_id: str, provider: str) -> ConnectionRecord:
        try:
            return get_connection(store_id, provider)
        except NotFound as exc:
            raise PermanentError(exc.message) from None

    def _default_erp(self, store_id: str) -> ErpClient | None:
        from crmhub.erp.connection import erp_client_for
        from crmhub.storage.stores import get_store

        store = get_store(store_id)
        if not store.erp_base_url:
            return None
        return erp_client_for(store, self._credentials)

    def _log(
        self,
        logged: _Logged,
        action: SyncAction,
        status: SyncStatus,
        started: float,
        attempt: int,
        *,
        outcome: SyncOutcome | None = None,
        error: HubError | None = None,
    ) -> None:
        write_log(
            LogWrite(
                store_id=logged.store_id,
                provider=logged.provider,
                entity=logged.entity,
                local_id=(outcome.local_id if outcome and outcome.local_id else logged.local_id),
                action=str(action),
                status=status,
                duration_ms=(self._monotonic() - started) * 1000,
                external_id=outcome.external_id if outcome else None,
                change_id=logged.change_id,
                attempt=attempt,
                direction=logged.direction,
                error_code=error.code if error else None,
                error_message=error.message if error else None,
            ),
            retention_days=self._settings.sync_log_retention_days,
            now=self._clock(),
        )


def _validated(entity: Entity, data: dict[str, Any]) -> CanonicalRecord:
    try:
        return ENTITY_MODELS[entity].model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise PermanentError(f"record is not valid: {fields}") from None


def _natural_key(record: CanonicalRecord) -> dict[str, str]:
    """What identifies the record in the provider besides its id (kept on the intent)."""
    key: dict[str, str] = {}
    for field in ("document", "email", "sku"):
        value = getattr(record, field, None)
        if value:
            key[field] = str(value)
    return key


# Provider clocks and ours differ, and some providers keep whole seconds.
CLOCK_TOLERANCE = timedelta(seconds=2)


def _same_natural_key(ours: dict[str, str], theirs: dict[str, str]) -> bool:
    """Whether two natural keys may name the same record (either empty: cannot tell, so yes)."""
    if not ours or not theirs:
        return True
    return any(
        ours.get(field) and theirs.get(field) and ours[field].casefold() == theirs[field].casefold()
        for field in ("document", "email", "sku")
    )


def _clearly_after(change: ProviderChange, link: links.EntityLink) -> bool:
    """True when the provider changed the record well after the hub last wrote it."""
    return link.last_synced_at is not None and change.occurred_at > link.last_synced_at + CLOCK_TOLERANCE
