"""Backoff: capped, exponential, jittered, never sooner than the provider asked."""

import random

from crmhub.sync.retries import BackoffPolicy


def test_backoff_grows_and_is_capped():
    policy = BackoffPolicy(base_s=2, cap_s=60)
    rng = random.Random(1)
    delays = [policy.delay_s(attempt, rng=rng) for attempt in range(1, 10)]
    # each delay lies in [ceiling/2, ceiling] of its attempt
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(60, 2 * 2 ** (attempt - 1))
        assert max(1, ceiling / 2) <= delay <= max(1, ceiling) + 1
    assert max(delays) <= 60


def test_backoff_honours_retry_after():
    assert BackoffPolicy().delay_s(1, retry_after=37.2, rng=random.Random(0)) == 38


def test_jitter_spreads_retries():
    policy = BackoffPolicy(base_s=2, cap_s=300)
    values = {policy.delay_s(6, rng=random.Random(seed)) for seed in range(20)}
    assert len(values) > 5
