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


def test_a_wait_for_another_worker_stays_short_then_outlasts_its_hold():
    policy, rng, hold = BackoffPolicy(), random.Random(3), 90.0
    elapsed, max_receive_count = 0.0, 5
    delays = []
    for attempt in range(1, max_receive_count):
        left = max(0.0, hold - elapsed)
        delay = policy.delay_s(attempt, 1, rng=rng, blocked_for_s=left, retries_left=max_receive_count - attempt)
        delays.append(delay)
        elapsed += delay
    assert delays[0] <= 2 and delays[1] <= 4  # most holds end within a second
    assert elapsed > hold  # the final delivery comes after even a dead worker's hold


def test_a_hold_already_over_or_early_retries_add_nothing():
    policy = BackoffPolicy()
    plain = policy.delay_s(4, 1, rng=random.Random(0))
    assert policy.delay_s(4, 1, rng=random.Random(0), blocked_for_s=0.0, retries_left=1) == plain
    plain = policy.delay_s(1, 1, rng=random.Random(0))
    assert policy.delay_s(1, 1, rng=random.Random(0), blocked_for_s=90.0, retries_left=4) == plain
