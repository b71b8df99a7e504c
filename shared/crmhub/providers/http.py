"""HTTP plumbing shared by provider clients: httpx, the shared rate budget, error mapping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from crmhub.errors import (
    AuthenticationFailed,
    NotFound,
    ProviderRejected,
    RateLimited,
    TransientError,
)
from crmhub.observability import logger, metrics
from crmhub.rate_limit import RateLimiter

ErrorMessage = Callable[[httpx.Response], str]


def retry_after_seconds(response: httpx.Response, default: float = 1.0) -> float:
    """Seconds to wait from ``Retry-After`` or ``x-ratelimit-reset`` (seconds), else ``default``."""
    for header in ("retry-after", "x-ratelimit-reset"):
        value = response.headers.get(header)
        if value:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return default


class ProviderHttp:
    """An httpx client that draws every request from the connection's rate budget and
    turns HTTP outcomes into domain errors."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: dict[str, str],
        limiter: RateLimiter | None,
        timeout_s: float = 10.0,
        error_message: ErrorMessage | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self._limiter = limiter
        self._error_message = error_message or (lambda r: r.text[:500])
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"accept": "application/json", "user-agent": "crmhub/0.1", **headers},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
        )

    def request(self, method: str, path: str, *, cost: int = 1, **kwargs: Any) -> httpx.Response:
        """Send one request under the rate budget; return a 2xx response or raise."""
        if self._limiter is not None:
            self._limiter.acquire(cost)
        started = time.perf_counter()
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            metrics.add_metric(name="ProviderTimeouts", unit="Count", value=1)
            raise TransientError(f"{self.provider} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransientError(f"{self.provider} unreachable ({type(exc).__name__})") from None
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(name="ProviderLatency", unit="Milliseconds", value=elapsed_ms)
        return self._check(method, path, response)

    def _check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        logger.info(
            "provider_error",
            extra={"provider": self.provider, "method": method, "path_template": _template(path), "status": status},
        )
        if status == 429:
            metrics.add_metric(name="Provider429", unit="Count", value=1)
            wait = retry_after_seconds(response)
            if self._limiter is not None:
                self._limiter.throttle(wait)
            raise RateLimited(f"{self.provider} rate limit (429)", retry_after=wait)
        if status >= 500 or status == 408:
            raise TransientError(f"{self.provider} answered {status}")
        message = self._error_message(response)
        if status in (401, 403):
            raise AuthenticationFailed(f"{self.provider} refused the credentials ({status}): {message}")
        if status == 404:
            raise NotFound(f"{self.provider} has no such record")
        raise ProviderRejected(message, status=status)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _template(path: str) -> str:
    """A path with ids replaced (no personal data, low cardinality)."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("?")[0].split("/"))
