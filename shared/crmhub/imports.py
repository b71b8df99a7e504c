"""Scheduled incremental imports (provider → ERP).

Today this only plans: it lists, per enabled connection, the entities that flow from the
provider to the ERP. Pulling pages and applying them arrives with the CRM → ERP work.
"""

from __future__ import annotations

from typing import Any

from crmhub.models.common import Entity
from crmhub.observability import logger
from crmhub.storage.connections import list_connections
from crmhub.storage.stores import list_stores


def plan_imports() -> dict[str, Any]:
    """Which (store, provider, entity) an import run covers."""
    planned = []
    for store in list_stores():
        if not store.active:
            continue
        for connection in list_connections(store.store_id, enabled_only=True):
            for entity in Entity:
                if connection.settings.for_entity(entity).receives_from_provider():
                    planned.append({"store": store.store_id, "provider": connection.provider, "entity": str(entity)})
    logger.info("import_planned", extra={"count": len(planned)})
    return {"planned": planned, "imported": 0}
