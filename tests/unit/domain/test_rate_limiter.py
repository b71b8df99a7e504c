"""The per-connection rate budget in DynamoDB (moto): slots evenly spaced and never shared
by two workers, a provider's 429 pauses everybody, a slot too far away is handed back to
SQS (RateLimited with retry_after) instead of sleeping."""

import itertools
import threading

import pytest


class FakeClock:
    """A shared clock the limiter's sleeps advance (no real waiting)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now = max(self.now, self.now + seconds)


@pytest.fixture
def limiter_for(aws):
    from crmhub.rate_limit import RateLimiter, RateLimitPolicy

    def make(clock, limit=5, window_s=1.0, max_wait_s=2.0):
        return RateLimiter(
            "loja-1#gestaoclick",
            RateLimitPolicy(limit=limit, window_s=window_s, max_wait_s=max_wait_s),
            clock=clock.time,
            sleep=lambda s: None,  # the slot times are what we check
        )

    return make


def test_slots_are_evenly_spaced_at_the_limit_with_headroom(limiter_for):
    from crmhub.rate_limit import RateLimitPolicy
    from crmhub.storage.rate_limit_buckets import RateLimitBucket

    clock = FakeClock()
    limiter = limiter_for(clock, limit=5, max_wait_s=100)
    waits = [limiter.acquire() for _ in range(10)]
    interval = RateLimitPolicy(limit=5).interval_s
    assert interval == pytest.approx(1 / (5 * 0.95))
    assert waits == pytest.approx([i * interval for i in range(10)])
    # any 6 consecutive slots span more than one window: never more than 5 in a second
    assert 5 * interval > 1.0
    assert RateLimitBucket.get("loja-1#gestaoclick").tat == pytest.approx(clock.now + 10 * interval)


def test_concurrent_workers_never_share_a_slot(limiter_for):
    clock = FakeClock()
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = limiter_for(clock, limit=5, max_wait_s=100)
        for _ in range(5):
            wait = limiter.acquire()
            with lock:
                slots.append(clock.time() + wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    assert len(slots) == 20
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(1 / (5 * 0.95), rel=1e-6)


def test_a_slot_too_far_away_is_handed_back_not_slept(limiter_for):
    from crmhub.errors import RateLimited

    clock = FakeClock()
    limiter = limiter_for(clock, limit=1, max_wait_s=2.0)
    assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(1 / 0.95)  # ~1.05 s ahead: waited for in the Lambda
    with pytest.raises(RateLimited) as raised:
        limiter.acquire()  # ~2.1 s ahead: more than max_wait_s
    assert raised.value.retry_after == pytest.approx(2 / 0.95)


def test_a_provider_429_pauses_every_worker_until_retry_after(limiter_for):
    from crmhub.errors import RateLimited

    clock = FakeClock()
    first, second = limiter_for(clock), limiter_for(clock)
    first.acquire()
    first.throttle(30)
    with pytest.raises(RateLimited) as raised:
        second.acquire()
    assert raised.value.retry_after == pytest.approx(30, abs=0.5)
    clock.now += 31
    assert second.acquire() == 0


def test_a_slot_missed_by_more_than_the_margin_is_given_up(aws):
    from crmhub.rate_limit import RateLimiter, RateLimitPolicy
    from crmhub.storage.rate_limit_buckets import RateLimitBucket

    clock = FakeClock()
    oversleep = [0.2]  # the first wake-up is 200 ms late (a descheduled process)

    def sleep(seconds: float) -> None:
        clock.now += seconds + (oversleep.pop() if oversleep else 0.0)

    policy = RateLimitPolicy(limit=5)
    limiter = RateLimiter("loja-1#gestaoclick", policy, clock=clock.time, sleep=sleep)
    assert policy.late_tolerance_s == pytest.approx(0.9 * (1 / 0.95 - 1))
    limiter.acquire()  # slot now
    started = clock.now
    limiter.acquire()  # slot +210 ms, woken at +410 ms: too late, so a later slot is taken
    assert limiter.missed_slots == 1
    assert clock.now - started == pytest.approx(2 * policy.interval_s)  # sent in the next free slot
    # the bucket moved past both the missed slot and the new one
    assert RateLimitBucket.get("loja-1#gestaoclick").tat == pytest.approx(started + 3 * policy.interval_s)
