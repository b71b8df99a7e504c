"""Rate-limit buckets: one item per connection holding the GCRA "theoretical arrival time"."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from crmhub.storage.base import HubModel


class RateLimitBucket(HubModel):
    """The shared budget of one connection (all workers draw from it)."""

    settings_field = "rate_limit_table"

    class Meta:
        table_name = "unbound-rate-limit"

    bucket_id = UnicodeAttribute(hash_key=True)
    tat = NumberAttribute(default=0)  # epoch seconds when the next request may be sent
    version = NumberAttribute(default=0)
    throttled_until = NumberAttribute(default=0)  # provider said 429: nobody sends before this
    expires_at = NumberAttribute(null=True)
