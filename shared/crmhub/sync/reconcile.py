"""Bringing one linked record's two sides together (both directions use it).

The merge runs on what the provider can hold (``provider.project``), so a field the
provider does not keep never looks like a change. The link's snapshot is that view of
the last synced state: the merge's base, and what recognises our own writes echoed back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmhub.conflicts.merge import MergeResult, flatten, merge_three_way, unflatten
from crmhub.conflicts.policy import ConflictPolicy
from crmhub.models import ENTITY_MODELS, CanonicalRecord, Entity
from crmhub.models.connection import EntitySettings
from crmhub.observability import logger, metrics
from crmhub.providers.base import Provider, References
from crmhub.storage import conflicts
from crmhub.storage import entity_links as links
from crmhub.storage.base import utc_now

if TYPE_CHECKING:
    from crmhub.erp.client import ErpClient


@dataclass(frozen=True)
class Reconciled:
    """What reconciling a record did."""

    crm_written: bool
    erp_written: bool
    conflicts: int
    auto_resolved: int

    @property
    def changed(self) -> bool:
        """True when either side was written."""
        return self.crm_written or self.erp_written


def provider_view(provider: Provider, entity: Entity, record: CanonicalRecord) -> dict[str, Any]:
    """The flat, comparable form of ``record`` as ``provider`` would hold it."""
    return flatten(provider.project(entity, record).comparable())


def effective_policy(settings: EntitySettings, erp_available: bool) -> ConflictPolicy:
    """One-way entities never let the other side win a field."""
    if settings.direction == "crm_to_erp":
        return ConflictPolicy(default="crm_wins")
    if settings.direction == "erp_to_crm" or not erp_available:
        return ConflictPolicy(default="erp_wins")
    return settings.conflict


class Reconciler:
    """Three-way merge of a linked record and the writes it implies."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def reconcile(
        self,
        *,
        store_id: str,
        provider_name: str,
        provider: Provider,
        erp: ErpClient | None,
        entity: Entity,
        link: links.EntityLink,
        erp_record: CanonicalRecord,
        crm_record: CanonicalRecord,
        erp_updated_at: datetime | None,
        crm_updated_at: datetime | None,
        settings: EntitySettings,
        refs: Callable[[CanonicalRecord], References],
    ) -> Reconciled:
        """Merge, write what changed to each side, record conflicts, move the snapshot on."""
        local_id = link.local_id
        external_id = link.external_id or ""
        keep_open = conflicts.open_fields(store_id, provider_name, str(entity), local_id)
        result = merge_three_way(
            link.snapshot_flat(),
            provider_view(provider, entity, erp_record),
            flatten(crm_record.comparable()),
            effective_policy(settings, erp is not None),
            erp_updated_at=erp_updated_at,
            crm_updated_at=crm_updated_at,
            keep_open=keep_open,
        )
        crm_written = erp_written = False
        if result.crm_changes and settings.sends_to_provider():
            merged = self._record(entity, local_id, result.crm, base=erp_record)
            provider.update(entity, external_id, merged, refs(merged))
            crm_written = True
        if result.erp_changes and erp is not None and settings.receives_from_provider():
            erp.update(entity, local_id, self._erp_patch(result))
            erp_written = True
        auto = self._record_conflicts(store_id, provider_name, entity, link, result, erp_updated_at, crm_updated_at)
        links.complete_link(
            link,
            external_id=external_id,
            source_updated_at=erp_updated_at,
            crm_updated_at=crm_updated_at,
            snapshot=result.snapshot,
            now=self._clock(),
        )
        if result.conflicts:
            metrics.add_metric(name="Conflicts", unit="Count", value=len(result.conflicts))
        logger.info(
            "reconciled",
            extra={
                "store": store_id,
                "provider": provider_name,
                "entity": str(entity),
                "local_id": local_id,
                "to_crm": sorted(result.crm_changes),
                "to_erp": sorted(result.erp_changes),
                "conflicts": [c.field for c in result.conflicts],
            },
        )
        return Reconciled(crm_written, erp_written, len(result.conflicts), auto)

    @staticmethod
    def _record(entity: Entity, local_id: str, flat: dict[str, Any], *, base: CanonicalRecord) -> CanonicalRecord:
        """A canonical record from a merged flat view (fields the view lacks come from ``base``)."""
        data = {**base.model_dump(mode="json", exclude={"id"}), **unflatten(flat), "id": local_id}
        return ENTITY_MODELS[entity].model_validate(data)

    @staticmethod
    def _erp_patch(result: MergeResult) -> dict[str, Any]:
        """Top-level fields to PATCH in the ERP (a nested change sends its whole object)."""
        merged = unflatten(result.erp)
        return {name.split(".", 1)[0]: merged.get(name.split(".", 1)[0]) for name in result.erp_changes}

    def _record_conflicts(
        self,
        store_id: str,
        provider_name: str,
        entity: Entity,
        link: links.EntityLink,
        result: MergeResult,
        erp_at: datetime | None,
        crm_at: datetime | None,
    ) -> int:
        """Open a conflict per ``manual`` field; keep a resolved record of every field that
        both sides changed and a policy decided, so the losing value is never lost silently."""
        common: dict[str, Any] = {
            "provider": provider_name,
            "entity": str(entity),
            "local_id": link.local_id,
            "external_id": link.external_id,
            "erp_updated_at": erp_at,
            "crm_updated_at": crm_at,
        }
        for item in result.conflicts:
            conflicts.open_conflict(store_id, field=item.field, base=item.base, erp=item.erp, crm=item.crm, **common)
        for name, item in result.both_changed.items():
            record = conflicts.open_conflict(store_id, field=name, base=item.base, erp=item.erp, crm=item.crm, **common)
            record.update(
                actions=[
                    conflicts.ConflictRecord.status.set(conflicts.RESOLVED),
                    conflicts.ConflictRecord.resolution.set(result.decisions[name]),
                    conflicts.ConflictRecord.resolved_value.set(json.dumps(result.snapshot.get(name), default=str)),
                ]
            )
        return len(result.both_changed)
