"""Cold-start wiring shared by every handler: settings read, tables bound (no I/O)."""

from __future__ import annotations

from crmhub.settings import HubSettings, get_settings


def init() -> HubSettings:
    """Read settings and bind the storage models to the template's tables."""
    from crmhub.storage import bind_tables

    settings = get_settings()
    bind_tables(settings)
    return settings
