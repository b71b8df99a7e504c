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

    def delay_s(self, attempt: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> int:
        """Whole seconds before the message may be received again (SQS granularity)."""
        uniform = (rng or random).uniform
        ceiling = min(self.cap_s, self.base_s * 2 ** max(attempt - 1, 0))
        delay = ceiling / 2 + uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return max(1, min(math.ceil(delay), 43_200))  # SQS allows at most 12 h
