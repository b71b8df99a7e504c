"""Stores: the tenants of the hub (one business or branch each)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from crmhub.errors import NotFound
from crmhub.storage.base import HubModel, UTCDateTime, utc_now


class StoreRecord(HubModel):
    """A store."""

    settings_field = "stores_table"

    class Meta:
        table_name = "unbound-stores"

    store_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    erp_base_url = UnicodeAttribute(null=True)  # the ERP's API; its token is in Secrets Manager
    created_at = UTCDateTime(default=utc_now)


def get_store(store_id: str) -> StoreRecord:
    """The store, or :class:`NotFound`."""
    try:
        return StoreRecord.get(store_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"store {store_id!r} does not exist", details={"store_id": store_id}) from None


def put_store(store_id: str, name: str, *, active: bool = True, erp_base_url: str | None = None) -> StoreRecord:
    """Create or replace a store."""
    store = StoreRecord(store_id, name=name, active=active, erp_base_url=erp_base_url)
    store.save()
    return store


def list_stores() -> list[StoreRecord]:
    """Every store (a small table: tenants of one deployment)."""
    return list(StoreRecord.scan())
