"""Translating the ids inside a record between the ERP's and the provider's id spaces."""

from __future__ import annotations

from crmhub.errors import TransientError
from crmhub.models import Activity, CanonicalRecord, Entity, Sale
from crmhub.providers.base import References
from crmhub.storage import entity_links as links


def external_references(store_id: str, provider: str, record: CanonicalRecord) -> References:
    """Provider ids of the records a sale/activity points to. A reference not linked yet is
    retried later (its own sync may still be on another lane)."""
    ids: dict[tuple[Entity, str], str] = {}
    for entity, local_id in _references(record):
        if (entity, local_id) in ids:
            continue
        link = links.get_link(store_id, provider, entity, local_id)
        if link is None or not link.is_linked:
            raise TransientError(f"waiting for {entity} {local_id} to be linked", retry_after=5)
        ids[(entity, local_id)] = link.external_id or ""
    return References(ids)


def localize(store_id: str, provider: str, record: CanonicalRecord) -> CanonicalRecord:
    """The provider's record with its references mapped to the ERP's ids."""
    if not isinstance(record, Sale | Activity):
        return record
    mapping: dict[tuple[Entity, str], str] = {}
    for entity, external_id in _references(record):
        if (entity, external_id) in mapping:
            continue
        link = links.find_by_external_id(store_id, provider, entity, external_id)
        if link is None:
            raise TransientError(f"waiting for {entity} {external_id} of {provider} to be linked", retry_after=10)
        mapping[(entity, external_id)] = link.local_id
    if isinstance(record, Sale):
        items = [
            item.model_copy(update={"product_id": mapping[(Entity.PRODUCT, item.product_id)]}) for item in record.items
        ]
        return record.model_copy(update={"customer_id": mapping[(Entity.CUSTOMER, record.customer_id)], "items": items})
    if record.customer_id:
        return record.model_copy(update={"customer_id": mapping[(Entity.CUSTOMER, record.customer_id)]})
    return record


def _references(record: CanonicalRecord) -> list[tuple[Entity, str]]:
    if isinstance(record, Sale):
        return [(Entity.CUSTOMER, record.customer_id)] + [(Entity.PRODUCT, i.product_id) for i in record.items]
    if isinstance(record, Activity) and record.customer_id:
        return [(Entity.CUSTOMER, record.customer_id)]
    return []
