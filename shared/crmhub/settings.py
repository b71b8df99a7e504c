"""Runtime settings, read once from the environment (the only place that reads it).

The SAM template sets these variables on every function (``Globals.Function.Environment``);
the local runtime sets the same ones from the same template. Field ``x`` is read from the
variable ``X`` (plain pydantic rather than pydantic-settings: ~100 ms less cold start).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from crmhub.models.common import Lane

_ALIASES = {"aws_region": "AWS_REGION", "aws_endpoint_url": "AWS_ENDPOINT_URL"}


class HubSettings(BaseModel):
    """Every knob the hub reads from its environment."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: str = "dev"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None

    stores_table: str = "crmhub-stores"
    api_keys_table: str = "crmhub-api-keys"
    connections_table: str = "crmhub-connections"
    entity_links_table: str = "crmhub-entity-links"
    sync_log_table: str = "crmhub-sync-log"
    events_table: str = "crmhub-events"
    idempotency_table: str = "crmhub-idempotency"
    rate_limit_table: str = "crmhub-rate-limit"
    jobs_table: str = "crmhub-jobs"
    conflicts_table: str = "crmhub-conflicts"
    dead_letters_table: str = "crmhub-dead-letters"

    sync_high_queue_url: str = ""
    sync_default_queue_url: str = ""
    sync_low_queue_url: str = ""
    sync_high_dlq_url: str = ""
    sync_default_dlq_url: str = ""
    sync_low_dlq_url: str = ""

    secrets_prefix: str = "crmhub/dev"
    sync_log_retention_days: int = 30
    max_receive_count: int = 5
    # Messages of one store are spread over this many FIFO groups ("<store>#<shard>"), by
    # record, so one store's records keep their order while several workers share its budget.
    store_group_shards: int = 4
    credentials_cache_seconds: int = 300
    # A worker holds a record (both directions take turns) for at most this long: longer
    # than the sync worker's 60-s timeout, so a live worker never loses it mid-write.
    record_lease_seconds: int = 90

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        """Settings from environment variables (``FIELD_NAME`` upper-cased)."""
        environ = os.environ if environ is None else environ
        values = {}
        for name in cls.model_fields:
            variable = _ALIASES.get(name, name.upper())
            if variable in environ:
                values[name] = environ[variable]
        if "aws_region" not in values and "AWS_DEFAULT_REGION" in environ:
            values["aws_region"] = environ["AWS_DEFAULT_REGION"]
        return cls.model_validate(values)

    def queue_url(self, lane: Lane) -> str:
        """URL of the FIFO queue of a priority lane."""
        return {
            Lane.HIGH: self.sync_high_queue_url,
            Lane.DEFAULT: self.sync_default_queue_url,
            Lane.LOW: self.sync_low_queue_url,
        }[lane]

    def dlq_url(self, lane: Lane) -> str:
        """URL of the dead-letter queue of a priority lane."""
        return {
            Lane.HIGH: self.sync_high_dlq_url,
            Lane.DEFAULT: self.sync_default_dlq_url,
            Lane.LOW: self.sync_low_dlq_url,
        }[lane]


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process's settings (cached; ``get_settings.cache_clear()`` re-reads them)."""
    return HubSettings.from_env()
