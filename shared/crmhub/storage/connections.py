"""Connections: one store ⇄ one provider, with settings. Credentials are NOT here
(see :mod:`crmhub.credentials`)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from crmhub.errors import NotFound
from crmhub.models.common import ProviderName
from crmhub.models.connection import ConnectionSettings
from crmhub.storage.base import HubModel, UTCDateTime, utc_now


class ConnectionRecord(HubModel):
    """A store's connection to a provider."""

    settings_field = "connections_table"

    class Meta:
        table_name = "unbound-connections"

    store_id = UnicodeAttribute(hash_key=True)
    provider = UnicodeAttribute(range_key=True)
    enabled = BooleanAttribute(default=True)
    settings_json = UnicodeAttribute(default="{}")
    created_at = UTCDateTime(default=utc_now)
    updated_at = UTCDateTime(default=utc_now)
    last_test_ok = BooleanAttribute(null=True)
    last_test_at = UTCDateTime(null=True)
    last_test_message = UnicodeAttribute(null=True)

    @property
    def provider_name(self) -> ProviderName:
        """The provider as an enum."""
        return ProviderName(self.provider)

    @property
    def settings(self) -> ConnectionSettings:
        """Parsed settings."""
        return ConnectionSettings.model_validate_json(self.settings_json)


def get_connection(store_id: str, provider: str) -> ConnectionRecord:
    """The connection, or :class:`NotFound`."""
    try:
        return ConnectionRecord.get(store_id, provider, consistent_read=True)
    except DoesNotExist:
        raise NotFound(
            f"store {store_id!r} has no {provider} connection", details={"store_id": store_id, "provider": provider}
        ) from None


def put_connection(
    store_id: str, provider: ProviderName, settings: ConnectionSettings, *, enabled: bool = True
) -> ConnectionRecord:
    """Create or replace a connection's settings."""
    record = ConnectionRecord(
        store_id,
        str(provider),
        enabled=enabled,
        settings_json=settings.model_dump_json(exclude_none=True),
        updated_at=utc_now(),
    )
    record.save()
    return record


def list_connections(store_id: str, *, enabled_only: bool = False) -> list[ConnectionRecord]:
    """The store's connections (a store has a handful; one query page)."""
    connections = list(ConnectionRecord.query(store_id))
    return [c for c in connections if c.enabled] if enabled_only else connections
