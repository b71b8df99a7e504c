"""ERP → provider sync of one change: create or update by entity link, guarded against
duplicates, drawing on the connection's shared rate budget, logged without personal data."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crmhub.credentials import CredentialStore
from crmhub.errors import Conflict, HubError, NotFound, PermanentError, TransientError
from crmhub.models import ENTITY_MODELS, CanonicalRecord, Entity, Operation, Sale, SyncAction, SyncStatus
from crmhub.models.changes import SyncMessage
from crmhub.models.common import ProviderName
from crmhub.observability import logger, metrics
from crmhub.providers import REGISTRY, build_provider
from crmhub.providers.base import ExternalRecord, Provider, References
from crmhub.rate_limit import RateLimiter, RateLimitPolicy
from crmhub.settings import HubSettings, get_settings
from crmhub.storage import entity_links as links
from crmhub.storage.base import utc_now
from crmhub.storage.connections import ConnectionRecord, get_connection
from crmhub.storage.events import set_event_status
from crmhub.storage.sync_log import LogWrite, write_log


@dataclass(frozen=True)
class SyncOutcome:
    """What the engine did with a message."""

    action: SyncAction
    status: SyncStatus
    external_id: str | None = None
    reason: str | None = None


ProviderFactory = Callable[[ConnectionRecord, dict[str, Any], RateLimiter], Provider]


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
    )


class SyncEngine:
    """Applies :class:`SyncMessage` s. One engine per container; provider clients are
    cached per connection (settings changes rebuild them)."""

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        credentials: CredentialStore | None = None,
        provider_factory: ProviderFactory = default_provider_factory,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings or get_settings()
        self._credentials = credentials or CredentialStore(self._settings)
        self._provider_factory = provider_factory
        self._clock = clock
        self._monotonic = monotonic
        self._providers: dict[tuple[str, str], tuple[str, Provider]] = {}

    # -- public ---------------------------------------------------------------------
    def apply(self, message: SyncMessage, *, attempt: int = 1, final_attempt: bool = False) -> SyncOutcome:
        """Apply one change and log it. Raises :class:`TransientError` (retry) or
        :class:`PermanentError` (do not retry) after logging the failure."""
        started = self._monotonic()
        try:
            outcome = self._apply(message)
        except HubError as exc:
            transient = isinstance(exc, TransientError)
            status = SyncStatus.RETRY if transient and not final_attempt else SyncStatus.ERROR
            self._log(message, SyncAction.SKIP, status, started, attempt, error=exc)
            set_event_status(
                message.change_id, "retrying" if status is SyncStatus.RETRY else "failed", error=exc.message
            )
            metrics.add_metric(
                name="SyncFailed" if status is SyncStatus.ERROR else "SyncRetried", unit="Count", value=1
            )
            raise
        self._log(message, outcome.action, outcome.status, started, attempt, external_id=outcome.external_id)
        set_event_status(message.change_id, "processed")
        metrics.add_metric(
            name="Synced" if outcome.status is SyncStatus.SUCCESS else "SyncSkipped", unit="Count", value=1
        )
        logger.info(
            "synced",
            extra={
                "store": message.store_id,
                "provider": str(message.provider),
                "entity": str(message.entity),
                "local_id": message.local_id,
                "action": str(outcome.action),
                "status": str(outcome.status),
                "reason": outcome.reason,
            },
        )
        return outcome

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

    def limiter_for(self, connection: ConnectionRecord) -> RateLimiter:
        """The connection's shared rate budget (the provider's documented limit by default)."""
        spec = REGISTRY.get(ProviderName(connection.provider))
        settings = connection.settings
        limit = settings.rate_limit or (spec.rate_limit if spec else 1)
        window = settings.rate_window_s or (spec.rate_window_s if spec else 1.0)
        return RateLimiter(
            f"{connection.store_id}#{connection.provider}", RateLimitPolicy(limit=limit, window_s=window)
        )

    # -- the decision ---------------------------------------------------------------
    def _apply(self, message: SyncMessage) -> SyncOutcome:
        try:
            connection = get_connection(message.store_id, str(message.provider))
        except NotFound as exc:
            raise PermanentError(exc.message) from None
        if not connection.enabled:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="connection_disabled")
        entity_settings = connection.settings.for_entity(message.entity)
        if not entity_settings.sends_to_provider():
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="entity_not_sent_to_provider")

        link = links.get_link(message.store_id, connection.provider, message.entity, message.local_id)
        if link and link.source_updated_at and message.updated_at <= link.source_updated_at:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, link.external_id, reason="stale_change")

        provider = self.provider_for(connection)
        if message.operation is Operation.DELETE:
            return self._delete(message, provider, link, entity_settings.on_delete)

        record = self._record(message)
        refs = self.references(message.store_id, connection.provider, record)
        if link and link.is_linked:
            return self._update(message, provider, link, record, refs)
        return self._create(message, provider, link, record, refs)

    def _create(
        self,
        message: SyncMessage,
        provider: Provider,
        link: links.EntityLink | None,
        record: CanonicalRecord,
        refs: References,
    ) -> SyncOutcome:
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
            except Conflict:
                raise TransientError("another worker is linking this record", retry_after=2) from None
        else:
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
            snapshot=record.comparable(),
            now=self._clock(),
        )
        return SyncOutcome(action, SyncStatus.SUCCESS, created.external_id)

    def _update(
        self,
        message: SyncMessage,
        provider: Provider,
        link: links.EntityLink,
        record: CanonicalRecord,
        refs: References,
    ) -> SyncOutcome:
        snapshot = record.comparable()
        external_id = link.external_id or ""
        if link.snapshot_hash == links.snapshot_hash(snapshot):
            action, status, reason = SyncAction.SKIP, SyncStatus.SKIPPED, "unchanged"
        else:
            try:
                provider.update(message.entity, external_id, record, refs)
                action, status, reason = SyncAction.UPDATE, SyncStatus.SUCCESS, None
            except NotFound:
                # Deleted on the provider's side: create it again and re-link.
                external_id = provider.create(message.entity, record, refs, intent_id=secrets.token_hex(8)).external_id
                action, status, reason = SyncAction.CREATE, SyncStatus.SUCCESS, "recreated"
        links.complete_link(
            link, external_id=external_id, source_updated_at=message.updated_at, snapshot=snapshot, now=self._clock()
        )
        return SyncOutcome(action, status, external_id, reason)

    def _delete(
        self, message: SyncMessage, provider: Provider, link: links.EntityLink | None, on_delete: str
    ) -> SyncOutcome:
        if link is None or not link.is_linked:
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, reason="not_linked")
        external_id = link.external_id or ""
        if on_delete == "ignore":
            return SyncOutcome(SyncAction.SKIP, SyncStatus.SKIPPED, external_id, reason="deletes_ignored")
        if on_delete == "delete":
            provider.delete(message.entity, external_id)
            action = SyncAction.DELETE
        else:
            provider.deactivate(message.entity, external_id, None)
            action = SyncAction.DEACTIVATE
        links.mark_deleted(link, source_updated_at=message.updated_at, now=self._clock())
        return SyncOutcome(action, SyncStatus.SUCCESS, external_id)

    # -- helpers --------------------------------------------------------------------
    @staticmethod
    def _record(message: SyncMessage) -> CanonicalRecord:
        try:
            return ENTITY_MODELS[message.entity].model_validate({**message.data, "id": message.local_id})
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise PermanentError(f"record is not valid: {fields}") from None

    def references(self, store_id: str, provider: str, record: CanonicalRecord) -> References:
        """External ids of the records a sale points to; a missing one is retried later
        (its own sync may still be on another lane)."""
        if not isinstance(record, Sale):
            return References()
        wanted = [(Entity.CUSTOMER, record.customer_id)] + [(Entity.PRODUCT, i.product_id) for i in record.items]
        ids: dict[tuple[Entity, str], str] = {}
        for entity, local_id in wanted:
            if (entity, local_id) in ids:
                continue
            link = links.get_link(store_id, provider, entity, local_id)
            if link is None or not link.is_linked:
                raise TransientError(f"waiting for {entity} {local_id} to be linked", retry_after=5)
            ids[(entity, local_id)] = link.external_id or ""
        return References(ids)

    def _log(
        self,
        message: SyncMessage,
        action: SyncAction,
        status: SyncStatus,
        started: float,
        attempt: int,
        *,
        external_id: str | None = None,
        error: HubError | None = None,
    ) -> None:
        write_log(
            LogWrite(
                store_id=message.store_id,
                provider=str(message.provider),
                entity=str(message.entity),
                local_id=message.local_id,
                action=str(action),
                status=status,
                duration_ms=(self._monotonic() - started) * 1000,
                external_id=external_id,
                change_id=message.change_id,
                attempt=attempt,
                error_code=error.code if error else None,
                error_message=error.message if error else None,
            ),
            retention_days=self._settings.sync_log_retention_days,
            now=self._clock(),
        )


def _natural_key(record: CanonicalRecord) -> dict[str, str]:
    """What identifies the record in the provider besides its id (kept on the intent)."""
    key: dict[str, str] = {}
    for field in ("document", "email", "sku"):
        value = getattr(record, field, None)
        if value:
            key[field] = str(value)
    return key
