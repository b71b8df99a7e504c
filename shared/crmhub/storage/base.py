"""PynamoDB plumbing: binding models to the tables the template created.

Table names come from :class:`~crmhub.settings.HubSettings` (the template passes them as
environment variables). ``bind_tables`` is called at a handler's cold start and by tests;
it only configures the models, it opens no connection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.models import Model

from crmhub.settings import HubSettings

_MODELS: list[type[HubModel]] = []


class HubModel(Model):
    """A pynamodb model whose table name is the settings field named by ``settings_field``."""

    settings_field: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.settings_field:
            _MODELS.append(cls)


def bind_tables(settings: HubSettings) -> None:
    """Point every model at the table, region and endpoint of ``settings``."""
    for model in _MODELS:
        model.Meta.table_name = getattr(settings, model.settings_field)
        model.Meta.region = settings.aws_region
        model.Meta.host = settings.aws_endpoint_url
        model._connection = None  # drop a connection made for another endpoint


def bound_models() -> list[type[HubModel]]:
    """Every registered model (for health checks and tests)."""
    return list(_MODELS)


def utc_now() -> datetime:
    """Timezone-aware now, the default clock."""
    return datetime.now(UTC)


class UTCDateTime(UTCDateTimeAttribute):
    """A UTC datetime attribute (pynamodb's, named for readability)."""
