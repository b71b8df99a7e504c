"""Canonical models (pydantic v2) for every boundary of the hub."""

from crmhub.models.activity import Activity
from crmhub.models.base import CanonicalRecord
from crmhub.models.common import DEFAULT_LANES, Entity, Lane, Operation, ProviderName, SyncAction, SyncStatus
from crmhub.models.customer import Address, Customer
from crmhub.models.product import Product
from crmhub.models.sale import Sale, SaleItem

ENTITY_MODELS: dict[Entity, type[CanonicalRecord]] = {
    Entity.CUSTOMER: Customer,
    Entity.PRODUCT: Product,
    Entity.SALE: Sale,
    Entity.ACTIVITY: Activity,
}

__all__ = [
    "DEFAULT_LANES",
    "ENTITY_MODELS",
    "Activity",
    "Address",
    "CanonicalRecord",
    "Customer",
    "Entity",
    "Lane",
    "Operation",
    "Product",
    "ProviderName",
    "Sale",
    "SaleItem",
    "SyncAction",
    "SyncStatus",
]
