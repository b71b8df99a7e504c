"""Pipedrive rate limits: per-operation token costs, header pacing, the daily token budget
and the 403 "back-off page".

Pipedrive (official docs, token-based limits):
- a daily token budget per company (30,000 × plan multiplier × seats); every request costs
  tokens by operation (list 10, get 1, create/update 5, delete 3 on API v2);
- a burst limit per API token over a rolling 2-second window (20 on Lite, 40 Growth,
  100 Premium…), answered with **429** and ``x-ratelimit-*`` headers, no ``Retry-After``;
- a client that keeps hitting 429 gets a **403 with an HTML page** instead of JSON.

The costs are charged to the connection's shared limiter (``cost=`` slots), so every worker
of a connection paces on the same budget. :class:`PipedriveHttp` also reads the headers of
every answer: ``x-ratelimit-remaining: 0`` throttles the shared limiter until
``x-ratelimit-reset``; ``x-daily-requests-left: 0`` throttles it until the daily reset and
refuses further requests locally until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from crmhub.errors import RateLimited
from crmhub.observability import logger, metrics
from crmhub.providers.http import ErrorMessage, ProviderHttp
from crmhub.rate_limit import RateLimiter

Clock = Callable[[], float]

# Burst default: Lite plan with an API token (configurable per connection).
DEFAULT_BURST_LIMIT = 20
BURST_WINDOW_S = 2.0
# A 403 HTML page means "you kept hitting 429": stay away for a while.  # [?] duration undocumented
BACKOFF_PAGE_RETRY_S = 60.0


class Operation(StrEnum):
    """Pipedrive's cost classes."""

    LIST = "list"
    GET = "get"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SEARCH = "search"


# Token costs of API v2 operations (official). Search is not in the published table we hold:
# charged like a list.  # [?] unverified
OPERATION_COSTS: dict[Operation, int] = {
    Operation.LIST: 10,
    Operation.GET: 1,
    Operation.CREATE: 5,
    Operation.UPDATE: 5,
    Operation.DELETE: 3,
    Operation.SEARCH: 10,
}


def cost_of(operation: Operation, costs: dict[Operation, int] | None = None) -> int:
    """Token cost of one request of ``operation``."""
    return (costs or OPERATION_COSTS)[operation]


def is_backoff_page(response: httpx.Response) -> bool:
    """True for the HTML 403 Pipedrive serves to clients that ignored its 429s."""
    if response.status_code != 403:
        return False
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return True
    return response.content.lstrip()[:1] == b"<"


def seconds_until_daily_reset(now: datetime) -> float:
    """Seconds until the daily budget resets: the next midnight UTC.

    # [?] unverified: Pipedrive may reset at midnight of the company's time zone; an early
    # retry only costs one refused request.
    """
    tomorrow = (now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max((tomorrow - now).total_seconds(), 1.0)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class PipedriveBudget:
    """What Pipedrive's headers said about this token's budget (one per client).

    The shared, cross-worker state lives in the :class:`RateLimiter` (its ``throttle``);
    this object only remembers a local "daily budget spent" deadline so a container does
    not keep knocking while the limiter item is unavailable (e.g. no limiter in tests).
    """

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self.daily_blocked_until = 0.0
        self.remaining: float | None = None
        self.daily_left: float | None = None

    def blocked_for(self) -> float:
        """Seconds left until the daily budget resets (0 when it is not known to be spent)."""
        return max(self.daily_blocked_until - self._clock(), 0.0)

    def check(self) -> None:
        """Raise :class:`RateLimited` while the daily budget is known to be spent."""
        wait = self.blocked_for()
        if wait > 0:
            raise RateLimited("pipedrive daily token budget exhausted", retry_after=wait)

    def observe(self, response: httpx.Response) -> float | None:
        """Read the ``x-ratelimit-*`` / ``x-daily-requests-left`` headers of an answer.

        Returns the seconds nobody should send for (burst window or day), or None.
        """
        headers = response.headers
        self.remaining = _number(headers.get("x-ratelimit-remaining"))
        self.daily_left = _number(headers.get("x-daily-requests-left"))
        if self.daily_left is not None and self.daily_left <= 0:
            now = self._clock()
            wait = seconds_until_daily_reset(datetime.fromtimestamp(now, UTC))
            self.daily_blocked_until = now + wait
            metrics.add_metric(name="ProviderDailyBudgetExhausted", unit="Count", value=1)
            return wait
        if self.remaining is not None and self.remaining <= 0 and response.status_code != 429:
            reset = _number(headers.get("x-ratelimit-reset"))
            return max(reset if reset is not None else BURST_WINDOW_S, 0.0) or None
        return None


class PipedriveHttp(ProviderHttp):
    """:class:`ProviderHttp` with Pipedrive's budget rules (see module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str],
        limiter: RateLimiter | None,
        timeout_s: float = 10.0,
        error_message: ErrorMessage | None = None,
        transport: httpx.BaseTransport | None = None,
        budget: PipedriveBudget | None = None,
    ) -> None:
        super().__init__(
            "pipedrive",
            base_url,
            headers=headers,
            limiter=limiter,
            timeout_s=timeout_s,
            error_message=error_message,
            transport=transport,
        )
        self.budget = budget or PipedriveBudget()

    def request(self, method: str, path: str, *, cost: int = 1, **kwargs: Any) -> httpx.Response:
        """Refuse early when the daily budget is spent, else send under the shared budget."""
        self.budget.check()
        return super().request(method, path, cost=cost, **kwargs)

    def _check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        pause = self.budget.observe(response)
        if pause and self._limiter is not None:
            self._limiter.throttle(pause)
        if is_backoff_page(response):
            metrics.add_metric(name="Provider429", unit="Count", value=1)
            logger.warning("pipedrive_backoff_page", extra={"method": method, "status": 403})
            if self._limiter is not None:
                self._limiter.throttle(BACKOFF_PAGE_RETRY_S)
            raise RateLimited("pipedrive answered its 403 back-off page", retry_after=BACKOFF_PAGE_RETRY_S)
        if response.status_code == 429 and self.budget.blocked_for() > 0:
            raise RateLimited("pipedrive daily token budget exhausted", retry_after=self.budget.blocked_for())
        return super()._check(method, path, response)
