"""Bling OAuth: code exchange, refresh before expiry or after a 401, and rotating refresh
tokens that concurrent workers must never spend twice (moto DynamoDB lock + Secrets Manager,
the Bling simulator as the token endpoint)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from crmhub.credentials import CredentialStore
from crmhub.errors import AuthenticationFailed, RateLimited
from crmhub.models import Entity, Product
from crmhub.providers.base import References
from crmhub.providers.bling import BlingOAuth, BlingProvider, RefreshLock, TokenManager
from crmhub.providers.bling.oauth import expires_at_of
from crmhub.storage.rate_limit_buckets import RateLimitBucket
from local.simulators import BlingConfig, ControlSettings, make_bling_app

STORE = "store-1"


class SlowTokenEndpoint(httpx.BaseTransport):
    """The simulator behind a slow token endpoint (widens the race) that counts refreshes."""

    def __init__(self, app: Any, delay_s: float = 0.3) -> None:
        self._inner = httpx.WSGITransport(app=app)
        self._delay_s = delay_s
        self.refresh_calls = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token") and b"refresh_token" in request.read():
            with self._lock:
                self.refresh_calls += 1
            time.sleep(self._delay_s)
        return self._inner.handle_request(request)


@pytest.fixture
def sim() -> Any:
    return make_bling_app(
        BlingConfig(
            initial_access_token="old-access",
            initial_refresh_token="old-refresh",
            controls=ControlSettings(rate_limit_enabled=False),
        )
    )


@pytest.fixture
def endpoint(sim: Any) -> SlowTokenEndpoint:
    return SlowTokenEndpoint(sim)


def stored_secret(expires_in_s: float) -> dict[str, Any]:
    return {
        "client_id": "bling-client-id",
        "client_secret": "bling-client-secret",
        "access_token": "old-access",
        "refresh_token": "old-refresh",
        "version": 1,
        "expires_at": (datetime.now(UTC) + timedelta(seconds=expires_in_s)).isoformat(),
    }


def worker(endpoint: httpx.BaseTransport) -> TokenManager:
    """One Lambda container: its own credential store (own cache) and token manager."""
    return TokenManager(
        STORE,
        credentials=CredentialStore(),
        oauth_factory=lambda s: BlingOAuth(str(s["client_id"]), str(s["client_secret"]), transport=endpoint),
    )


def test_two_workers_racing_refresh_exactly_once(aws: Any, sim: Any, endpoint: SlowTokenEndpoint) -> None:
    # Given a stored token about to expire, and two workers that both notice it at once
    CredentialStore().put(STORE, "bling", stored_secret(expires_in_s=60))
    workers = [worker(endpoint), worker(endpoint)]
    start = threading.Barrier(len(workers))
    results: list[str] = []
    errors: list[BaseException] = []

    def run(manager: TokenManager) -> None:
        start.wait()
        try:
            results.append(manager.access_token())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    # Then exactly one refresh reached Bling, both workers hold the new token…
    assert errors == []
    assert endpoint.refresh_calls == 1
    assert len(results) == 2 and results[0] == results[1] != "old-access"
    # …the rotated pair is stored (one version up), nothing was refused, and the lock is free
    secret = CredentialStore().get(STORE, "bling", fresh=True)
    assert secret["access_token"] == results[0] and secret["refresh_token"] != "old-refresh"
    assert secret["version"] == 2 and expires_at_of(secret) > time.time() + 3600  # type: ignore[operator]
    assert sim.test_client().get("/_sim/tokens").json == {"refresh_tokens_live": 1, "refresh_tokens_used": 1}
    with pytest.raises(RateLimitBucket.DoesNotExist):
        RateLimitBucket.get(f"lock#bling#{STORE}", consistent_read=True)


def test_a_valid_token_needs_no_refresh(aws: Any, endpoint: SlowTokenEndpoint) -> None:
    CredentialStore().put(STORE, "bling", stored_secret(expires_in_s=3600))
    assert worker(endpoint).access_token() == "old-access" and endpoint.refresh_calls == 0


def test_a_401_refreshes_through_the_provider_and_the_request_is_retried(
    aws: Any, sim: Any, endpoint: SlowTokenEndpoint
) -> None:
    # Given a token Bling no longer accepts although it has not reached its expiry
    CredentialStore().put(STORE, "bling", stored_secret(expires_in_s=3600))
    sim.extensions["simulator"].expire_tokens()
    provider = BlingProvider(stored_secret(3600), tokens=worker(endpoint), transport=httpx.WSGITransport(app=sim))
    # When the provider calls Bling
    created = provider.create(Entity.PRODUCT, Product(name="Caneta"), References(), intent_id="i")
    # Then it refreshed once and the request went through with the new token
    assert created.external_id == "1" and endpoint.refresh_calls == 1
    assert CredentialStore().get(STORE, "bling", fresh=True)["version"] == 2


def test_another_workers_fresh_token_is_used_without_refreshing(aws: Any, endpoint: SlowTokenEndpoint) -> None:
    # Given a worker still holding the old pair while another already stored a new one
    stale = worker(endpoint)
    CredentialStore().put(STORE, "bling", stored_secret(expires_in_s=60))
    assert stale.access_token  # loads nothing yet
    CredentialStore().put(STORE, "bling", {**stored_secret(3600), "access_token": "newer", "version": 2})
    # When it is told its token was refused
    assert stale.refresh("old-access") == "newer"
    assert endpoint.refresh_calls == 0


def test_a_spent_refresh_token_fails_the_connection_and_frees_the_lock(
    aws: Any, sim: Any, endpoint: SlowTokenEndpoint
) -> None:
    CredentialStore().put(STORE, "bling", {**stored_secret(60), "refresh_token": "already-used"})
    with pytest.raises(AuthenticationFailed, match="invalid_grant"):
        worker(endpoint).access_token()
    assert RefreshLock.for_connection(STORE).acquire() is not None  # released


def test_waiting_for_a_stuck_refresh_gives_up_with_a_retry(aws: Any, endpoint: SlowTokenEndpoint) -> None:
    # Given another worker holding the lock and never finishing
    CredentialStore().put(STORE, "bling", stored_secret(expires_in_s=60))
    assert RefreshLock.for_connection(STORE).acquire() is not None
    clock = [time.time()]
    manager = TokenManager(
        STORE,
        credentials=CredentialStore(),
        clock=lambda: clock[0],
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
        lock_wait_s=1.0,
    )
    # Then this one does not refresh behind its back: it asks to be retried later
    with pytest.raises(RateLimited):
        manager.access_token()
    assert endpoint.refresh_calls == 0


def test_an_expired_lock_can_be_taken_over(aws: Any) -> None:
    now = [1000.0]
    first = RefreshLock("lock#bling#s", ttl_s=30, clock=lambda: now[0])
    second = RefreshLock("lock#bling#s", ttl_s=30, clock=lambda: now[0])
    owner = first.acquire()
    assert owner is not None and second.acquire() is None
    now[0] += 31  # the first owner crashed
    assert second.acquire() is not None
    first.release(owner)  # a late release does not free someone else's lock
    assert RefreshLock("lock#bling#s", clock=lambda: now[0]).acquire() is None


class MemoryStore:
    """A CredentialStore whose first writes fail (Secrets Manager throttling)."""

    def __init__(self, secret: dict[str, Any], failures: int) -> None:
        self.secret = secret
        self.failures = failures
        self.puts = 0

    def get(self, store_id: str, provider: str, *, fresh: bool = False) -> dict[str, Any]:
        return dict(self.secret)

    def put(self, store_id: str, provider: str, credentials: dict[str, Any]) -> None:
        self.puts += 1
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutSecretValue")
        self.secret = dict(credentials)


class NoLock:
    def acquire(self) -> int:
        return 1

    def release(self, owner: int) -> None:
        return None


def test_a_refreshed_pair_that_cannot_be_stored_is_kept_and_stored_later(sim: Any, endpoint: SlowTokenEndpoint) -> None:
    store = MemoryStore(stored_secret(60), failures=3)
    manager = TokenManager(
        STORE,
        credentials=store,
        lock=NoLock(),  # type: ignore[arg-type]
        oauth_factory=lambda s: BlingOAuth("bling-client-id", "bling-client-secret", transport=endpoint),
        sleep=lambda s: None,
    )
    token = manager.access_token()
    assert token != "old-access" and store.secret["access_token"] == "old-access"  # not stored yet…
    assert manager.access_token() == token  # …the next use stores it, no second refresh
    assert store.secret["access_token"] == token and endpoint.refresh_calls == 1


def test_exchange_code_at_connection_setup(sim: Any) -> None:
    oauth = BlingOAuth("bling-client-id", "bling-client-secret", transport=httpx.WSGITransport(app=sim))
    pair = oauth.exchange_code("bling-auth-code", "https://hub.example/oauth/bling/callback")
    secret = pair.as_secret({"client_id": "bling-client-id", "client_secret": "bling-client-secret"})
    assert secret["version"] == 1 and secret["access_token"] and secret["refresh_token"]
    with pytest.raises(AuthenticationFailed):  # a code works once
        oauth.exchange_code("bling-auth-code", "https://hub.example/oauth/bling/callback")
    with pytest.raises(AuthenticationFailed, match="invalid_client"):
        BlingOAuth("x", "y", transport=httpx.WSGITransport(app=sim)).exchange_code("bling-auth-code")
