"""Retry timing: capped exponential backoff with jitter, through the SQS visibility timeout."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """``base_s · 2^(attempt-1)``, capped at ``cap_s``, with "equal jitter" (half fixed,
    half random), never sooner than the provider's ``retry_after``."""

    base_s: float = 2.0
    cap_s: float = 300.0

    def delay_s(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        rng: random.Random | None = None,
        blocked_for_s: float | None = None,
        retries_left: int | None = None,
    ) -> int:
        """Whole seconds before the message may be received again (SQS granularity).

        ``blocked_for_s``: what is left of another worker's hold on the record (its lease
        or creation claim expires then even if that worker died); ``retries_left``: the
        deliveries still to come. The first retries stay short (a hold usually ends in
        well under a second); the last two share what is left of the hold, so the final
        delivery comes after it has expired and is not dead-lettered for waiting.
        """
        uniform = (rng or random).uniform
        ceiling = min(self.cap_s, self.base_s * 2 ** max(attempt - 1, 0))
        delay = ceiling / 2 + uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if blocked_for_s is not None and retries_left is not None and 0 < retries_left <= 2:
            delay = max(delay, blocked_for_s / retries_left + 1)
        return max(1, min(math.ceil(delay), 43_200))  # SQS allows at most 12 h
