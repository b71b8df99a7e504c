"""Provider registry. Adding a provider = a folder here + one entry in ``REGISTRY``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmhub.models.common import ProviderName
from crmhub.providers.base import Provider
from crmhub.rate_limit import RateLimiter


@dataclass(frozen=True)
class ProviderSpec:
    """How to build a provider and its documented default rate limit."""

    factory: Callable[..., Provider]
    rate_limit: int
    rate_window_s: float


def _gestaoclick(**kwargs: Any) -> Provider:
    from crmhub.providers.gestaoclick import GestaoClickProvider

    return GestaoClickProvider(**kwargs)


REGISTRY: dict[ProviderName, ProviderSpec] = {
    ProviderName.GESTAOCLICK: ProviderSpec(factory=_gestaoclick, rate_limit=3, rate_window_s=1.0),
}


def build_provider(
    name: ProviderName,
    credentials: dict[str, Any],
    *,
    base_url: str | None,
    limiter: RateLimiter | None,
    timeout_s: float,
) -> Provider:
    """A ready client for a connection."""
    from crmhub.errors import PermanentError

    spec = REGISTRY.get(name)
    if spec is None:
        raise PermanentError(f"provider {name} is not available in this deployment")
    return spec.factory(credentials=credentials, base_url=base_url, limiter=limiter, timeout_s=timeout_s)
