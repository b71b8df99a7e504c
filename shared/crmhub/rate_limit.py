"""The per-connection request budget, shared by every worker through DynamoDB.

A GCRA (generic cell rate algorithm, a token bucket with burst 1): the bucket item holds
the time when the next request may be sent (``tat``). Acquiring a slot moves ``tat`` one
interval forward with a conditional update, so concurrent workers never take the same
slot. Requests are therefore evenly spaced at ``window / limit`` (less a headroom), so no
window of the provider's length ever sees more than ``limit`` requests.

A slot a little in the future is waited for (at most ``max_wait_s``, sub-second at
normal limits). A slot further away, or a provider that answered 429, raises
:class:`~crmhub.errors.RateLimited` and the worker hands the message back to SQS with a
longer visibility timeout instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from crmhub.errors import RateLimited
from crmhub.storage.rate_limit_buckets import RateLimitBucket

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RateLimitPolicy:
    """``limit`` requests per ``window_s`` seconds, used at ``headroom`` (0–1) of it."""

    limit: int
    window_s: float = 1.0
    headroom: float = 0.95
    max_wait_s: float = 2.0

    @property
    def interval_s(self) -> float:
        """Seconds between two requests."""
        return self.window_s / (self.limit * self.headroom)

    @property
    def late_tolerance_s(self) -> float:
        """How late a request may leave after its slot. ``limit + 1`` consecutive slots span
        ``window / headroom``: the headroom's margin absorbs that much lateness of one
        request relative to the next ``limit``; later than that, the provider could see
        ``limit + 1`` requests in one window."""
        return 0.9 * (self.window_s / self.headroom - self.window_s)


class RateLimiter:
    """Draws request slots for one connection from its DynamoDB bucket."""

    def __init__(
        self,
        bucket_id: str,
        policy: RateLimitPolicy,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        max_attempts: int = 20,
    ) -> None:
        self.bucket_id = bucket_id
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self._max_attempts = max_attempts
        self.missed_slots = 0  # slots given up because the request could not leave in time

    def acquire(self, cost: int = 1) -> float:
        """Reserve ``cost`` request slots; wait for the slot if it is near. Returns the wait.

        A slot missed by more than the policy's tolerance (the process was descheduled, a
        DynamoDB call was slow) is given up and a new one reserved: sending late would
        bunch this request with the next ones."""
        waited = 0.0
        for _ in range(self._max_attempts):
            now = self._clock()
            bucket = self._load()
            start = max(now, float(bucket.tat), float(bucket.throttled_until))
            wait = start - now
            if wait > self.policy.max_wait_s:
                raise RateLimited("connection budget exhausted", retry_after=wait)
            if self._reserve(bucket, start + self.policy.interval_s * cost):
                if wait > 0:
                    self._sleep(wait)
                waited += wait
                if self._clock() - start <= self.policy.late_tolerance_s:
                    return waited
                self.missed_slots += 1
        raise RateLimited("connection budget contended", retry_after=self.policy.interval_s)

    def throttle(self, retry_after_s: float) -> None:
        """The provider said 429: nobody sends before ``now + retry_after_s``."""
        until = self._clock() + retry_after_s
        try:
            RateLimitBucket(self.bucket_id).update(
                actions=[RateLimitBucket.throttled_until.set(until), RateLimitBucket.version.add(1)],
                condition=RateLimitBucket.throttled_until.does_not_exist() | (RateLimitBucket.throttled_until < until),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def _load(self) -> RateLimitBucket:
        try:
            return RateLimitBucket.get(self.bucket_id, consistent_read=True)
        except DoesNotExist:
            return RateLimitBucket(self.bucket_id, tat=0, version=-1, throttled_until=0)

    def _reserve(self, bucket: RateLimitBucket, new_tat: float) -> bool:
        expires = int(new_tat + 86400)
        try:
            if bucket.version == -1:
                RateLimitBucket(self.bucket_id, tat=new_tat, version=0, throttled_until=0, expires_at=expires).save(
                    condition=RateLimitBucket.bucket_id.does_not_exist()
                )
            else:
                RateLimitBucket(self.bucket_id).update(
                    actions=[
                        RateLimitBucket.tat.set(new_tat),
                        RateLimitBucket.version.add(1),
                        RateLimitBucket.expires_at.set(expires),
                    ],
                    condition=RateLimitBucket.version == bucket.version,
                )
        except (PutError, UpdateError) as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
