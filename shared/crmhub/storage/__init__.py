"""DynamoDB storage (pynamodb). Import the models to register them, then ``bind_tables``."""

from crmhub.storage import (  # noqa: F401 - importing registers each model for binding
    api_keys,
    conflicts,
    connections,
    dead_letters,
    entity_links,
    events,
    jobs,
    rate_limit_buckets,
    stores,
    sync_log,
)
from crmhub.storage.base import bind_tables, bound_models

__all__ = ["bind_tables", "bound_models"]
