"""Provider registry. Adding a provider = a folder here + one entry in ``REGISTRY``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmhub.models.common import Entity, ProviderName
from crmhub.providers.base import Provider
from crmhub.rate_limit import RateLimiter


@dataclass(frozen=True)
class ProviderSpec:
    """How to build a provider and its documented default rate limit."""

    factory: Callable[..., Provider]
    rate_limit: int
    rate_window_s: float
    entities: frozenset[Entity] = frozenset(Entity)


def _gestaoclick(*, store_id: str | None = None, **kwargs: Any) -> Provider:
    from crmhub.providers.gestaoclick import GestaoClickProvider

    return GestaoClickProvider(**kwargs)


def _pipedrive(*, store_id: str | None = None, **kwargs: Any) -> Provider:
    from crmhub.providers.pipedrive import PipedriveProvider

    return PipedriveProvider(**kwargs)


def _bling(*, store_id: str | None = None, **kwargs: Any) -> Provider:
    """Bling's refresh tokens rotate: the token manager stores each new pair in the
    connection's secret under a lock, so it needs to know the store."""
    from crmhub.providers.bling import BlingProvider

    if store_id is not None and "tokens" not in kwargs:
        from crmhub.credentials import CredentialStore
        from crmhub.providers.bling.oauth import TokenManager

        kwargs["tokens"] = TokenManager(store_id, credentials=CredentialStore(), initial=kwargs.get("credentials"))
    return BlingProvider(**kwargs)


REGISTRY: dict[ProviderName, ProviderSpec] = {
    ProviderName.GESTAOCLICK: ProviderSpec(
        factory=_gestaoclick,
        rate_limit=3,
        rate_window_s=1.0,
        entities=frozenset({Entity.CUSTOMER, Entity.PRODUCT, Entity.SALE}),
    ),
    # Burst per API token over a rolling 2 s window: 20 on Lite (40 Growth, 100 Premium) —
    # raise it per connection (ConnectionSettings.rate_limit). Requests draw their token cost.
    ProviderName.PIPEDRIVE: ProviderSpec(factory=_pipedrive, rate_limit=20, rate_window_s=2.0),
    ProviderName.BLING: ProviderSpec(
        factory=_bling,
        rate_limit=3,
        rate_window_s=1.0,
        entities=frozenset({Entity.CUSTOMER, Entity.PRODUCT, Entity.SALE}),
    ),
}


def build_provider(
    name: ProviderName,
    credentials: dict[str, Any],
    *,
    base_url: str | None,
    limiter: RateLimiter | None,
    timeout_s: float,
    store_id: str | None = None,
) -> Provider:
    """A ready client for a connection."""
    from crmhub.errors import PermanentError

    spec = REGISTRY.get(name)
    if spec is None:
        raise PermanentError(f"provider {name} is not available in this deployment")
    return spec.factory(
        credentials=credentials, base_url=base_url, limiter=limiter, timeout_s=timeout_s, store_id=store_id
    )
