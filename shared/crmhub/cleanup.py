"""The daily cleanup: what DynamoDB's TTL does not do (or does too late).

- Stale create intents (a worker died between the provider's create and the link, and the
  message ended in the DLQ): search the provider by natural key; adopt the record if it
  exists, forget the intent if it does not. Never delete an intent blindly: a retried
  message would then create a duplicate.
- Stale creation claims (a worker died while creating a provider record in the ERP, and
  its message ended in the DLQ): only announcements, past their lease they hold nothing
  back, so they are removed.
- Processed inbound events after 7 days (their payloads hold personal data: LGPD
  minimisation; TTL keeps failed ones 30 days for operators).
- Jobs that stopped reporting progress: marked failed so alarms and operators see them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from crmhub.errors import HubError
from crmhub.models.changes import ChangeRequest
from crmhub.models.common import Entity
from crmhub.observability import logger, metrics
from crmhub.storage import entity_links as links
from crmhub.storage.base import utc_now
from crmhub.storage.connections import get_connection
from crmhub.storage.events import EVENT_RETENTION_DAYS, InboundEvent, get_event
from crmhub.storage.jobs import JobRecord
from crmhub.sync.engine import SyncEngine

FINISHED_EVENT_STATUSES = ("processed", "duplicate", "ignored_echo", "no_connection")


@dataclass
class CleanupReport:
    """What one run removed or repaired."""

    intents_adopted: int = 0
    intents_removed: int = 0
    intents_kept: int = 0
    claims_removed: int = 0
    events_removed: int = 0
    jobs_marked_failed: int = 0
    stopped_early: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        """For the function's response and the log."""
        return asdict(self)


class Cleanup:
    """One cleanup run (paginated scans; stops before ``out_of_time()`` says so)."""

    def __init__(
        self,
        engine: SyncEngine,
        *,
        clock: Callable[[], datetime] = utc_now,
        intent_age: timedelta = timedelta(hours=24),
        event_age: timedelta = timedelta(days=7),
        job_stale_after: timedelta = timedelta(hours=1),
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._intent_age = intent_age
        self._event_age = event_age
        self._job_stale_after = job_stale_after

    def run(self, out_of_time: Callable[[], bool] = lambda: False) -> CleanupReport:
        """Do every step; returns the report (also logged and counted)."""
        report = CleanupReport()
        now = self._clock()
        for step in (self._stale_intents, self._stale_claims, self._finished_events, self._stale_jobs):
            if out_of_time():
                report.stopped_early = True
                break
            step(now, report, out_of_time)
        logger.info("cleanup_done", extra=report.as_dict())
        for name, value in report.as_dict().items():
            if isinstance(value, int) and not isinstance(value, bool):
                metrics.add_metric(name=f"Cleanup_{name}", unit="Count", value=value)
        return report

    def _stale_intents(self, now: datetime, report: CleanupReport, out_of_time: Callable[[], bool]) -> None:
        cutoff = now - self._intent_age
        condition = (links.EntityLink.status == links.STATUS_PENDING) & (links.EntityLink.intent_at < cutoff)
        for link in links.EntityLink.scan(condition, page_size=100):
            if out_of_time():
                report.stopped_early = True
                return
            try:
                outcome = self._resolve_intent(link, now)
            except HubError as exc:
                logger.warning("intent_kept", extra={"scope": link.scope, "local_id": link.local_id, "code": exc.code})
                outcome = "kept"
            setattr(report, f"intents_{outcome}", getattr(report, f"intents_{outcome}") + 1)

    def _resolve_intent(self, link: links.EntityLink, now: datetime) -> str:
        store_id, provider, entity = link.scope.split("#", 2)
        event = get_event(link.intent_change_id) if link.intent_change_id else None
        if event is None:
            # Without the record we cannot search; after the events' retention nothing will
            # retry this create any more, so the intent guards nothing.
            if link.intent_at and now - link.intent_at > timedelta(days=EVENT_RETENTION_DAYS):
                links.delete_link(link)
                return "removed"
            return "kept"
        record = ChangeRequest.model_validate(event.payload_dict()).record()
        connection = get_connection(store_id, provider)
        client = self._engine.provider_for(connection)
        refs = self._engine.references(store_id, provider, record)
        found = client.find_existing(Entity(entity), record, intent_id=link.intent_id or "", refs=refs)
        if found is None:
            links.delete_link(link)
            return "removed"
        links.complete_link(
            link, external_id=found.external_id, source_updated_at=None, snapshot=record.comparable(), now=now
        )
        return "adopted"

    def _stale_claims(self, now: datetime, report: CleanupReport, out_of_time: Callable[[], bool]) -> None:
        condition = (links.EntityLink.status == links.STATUS_CREATING) & (
            links.EntityLink.intent_at < now - self._intent_age
        )
        for claim in links.EntityLink.scan(condition, page_size=100):
            if out_of_time():
                report.stopped_early = True
                return
            links.release_claim(claim)
            report.claims_removed += 1

    def _finished_events(self, now: datetime, report: CleanupReport, out_of_time: Callable[[], bool]) -> None:
        cutoff = (now - self._event_age).isoformat(timespec="microseconds")
        condition = InboundEvent.status.is_in(*FINISHED_EVENT_STATUSES) & (InboundEvent.received_at < cutoff)
        with InboundEvent.batch_write() as batch:
            for event in InboundEvent.scan(condition, page_size=200, attributes_to_get=["event_id"]):
                if out_of_time():
                    report.stopped_early = True
                    return
                batch.delete(event)
                report.events_removed += 1

    def _stale_jobs(self, now: datetime, report: CleanupReport, out_of_time: Callable[[], bool]) -> None:
        condition = (JobRecord.status == "running") & (JobRecord.updated_at < now - self._job_stale_after)
        for job in JobRecord.scan(condition, page_size=100):
            if out_of_time():
                report.stopped_early = True
                return
            job.update(actions=[JobRecord.status.set("failed"), JobRecord.updated_at.set(now)])
            report.jobs_marked_failed += 1
