"""Bling OAuth2: the authorization-code exchange, and refreshes that never lose the token.

Bling (official + community): ``POST /Api/v3/oauth/token`` with HTTP Basic
``client_id:client_secret`` and a form body ``grant_type=authorization_code&code=…`` or
``grant_type=refresh_token&refresh_token=…``; the access token lives 6 h, the refresh token
30 days, and **the refresh token rotates on every refresh**: the old one is dead as soon as
the new pair is issued. Two workers refreshing with the same refresh token means one of
them gets ``invalid_grant`` — and if the winner's pair is not stored, the connection is lost.

So a refresh (:meth:`TokenManager.refresh`) is serialised per connection:

1. take a short lock — a conditional put of the item ``lock#bling#<store>`` in the
   rate-limit table (``attribute_not_exists OR expires_at < now``; the owner's nonce in
   ``version`` so only the owner releases it, and the TTL frees a crashed owner's lock);
2. re-read the secret (bypassing caches): if another worker already refreshed, use its
   token and stop;
3. else call the token endpoint, write the new pair to Secrets Manager (``version`` + 1),
   release the lock.

Why a DynamoDB lock rather than Secrets Manager version staging: ``PutSecretValue`` has no
compare-and-set, so two writers cannot be told apart after the fact, and by then the
losing refresh has already killed the winner's refresh token at Bling. The lock prevents
the second call to Bling instead of detecting it, and the rate-limit table (one item per
connection, TTL on ``expires_at``) is already where per-connection coordination lives.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pynamodb.exceptions import DeleteError, PutError

from crmhub.credentials import CredentialStore
from crmhub.errors import AuthenticationFailed, PermanentError, RateLimited, TransientError
from crmhub.observability import logger, metrics
from crmhub.storage.rate_limit_buckets import RateLimitBucket

DEFAULT_BASE_URL = "https://api.bling.com.br/Api/v3"
TOKEN_PATH = "/oauth/token"  # noqa: S105  # a URL path, not a secret
REFRESH_SKEW_S = 300.0  # refresh this long before the access token expires
LOCK_TTL_S = 30.0  # a refresh takes one HTTP call; a crashed owner frees the lock after this
LOCK_WAIT_S = 10.0  # how long a worker waits for another one's refresh
LOCK_POLL_S = 0.2

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class TokenPair:
    """An access/refresh token pair as issued by the token endpoint."""

    access_token: str
    refresh_token: str
    expires_at: datetime

    def as_secret(self, previous: Mapping[str, Any]) -> dict[str, Any]:
        """The connection secret with this pair in it (``version`` + 1)."""
        return {
            **previous,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "version": int(previous.get("version") or 0) + 1,
        }


def expires_at_of(secret: Mapping[str, Any]) -> float | None:
    """``expires_at`` of a secret as epoch seconds (ISO-8601 or a number), if known."""
    value = secret.get("expires_at")
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class BlingOAuth:
    """Calls Bling's token endpoint (no storage: see :class:`TokenManager`)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._url = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}{TOKEN_PATH}"
        self._clock = clock
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
            headers={"accept": "application/json", "user-agent": "crmhub/0.1"},
        )

    def exchange_code(self, code: str, redirect_uri: str | None = None) -> TokenPair:
        """Connection setup: trade the authorization code for the first token pair."""
        form = {"grant_type": "authorization_code", "code": code}
        if redirect_uri:
            form["redirect_uri"] = redirect_uri
        return self._token(form)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token for a new pair (the old refresh token dies)."""
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def close(self) -> None:
        """Release the HTTP pool."""
        self._client.close()

    def _token(self, form: dict[str, str]) -> TokenPair:
        try:
            response = self._client.post(self._url, data=form, auth=self._auth)
        except httpx.TransportError as exc:
            raise TransientError(f"bling token endpoint unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429:
            raise RateLimited("bling token endpoint rate limit (429)", retry_after=60.0)
        if status >= 500:
            raise TransientError(f"bling token endpoint answered {status}")
        if status >= 400:
            metrics.add_metric(name="ProviderTokenRejected", unit="Count", value=1)
            raise AuthenticationFailed(f"bling refused the grant ({status}): {_oauth_error(response)}")
        try:
            body = response.json()
            issued = TokenPair(
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_at=datetime.fromtimestamp(self._clock(), UTC)
                + timedelta(seconds=float(body.get("expires_in") or 21600)),
            )
        except (ValueError, KeyError, TypeError):
            raise TransientError("bling token endpoint answered an unreadable token") from None
        return issued


def _oauth_error(response: httpx.Response) -> str:
    """``invalid_grant``-style reason from either OAuth's or Bling's error shape."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("type") or error.get("message") or error)[:200]
    if error:
        return str(error)[:200]
    return str(body)[:200]


class RefreshLock:
    """An exclusive, expiring lock on one connection's token refresh (DynamoDB item)."""

    def __init__(self, lock_id: str, *, ttl_s: float = LOCK_TTL_S, clock: Clock = time.time) -> None:
        self.lock_id = lock_id
        self._ttl_s = ttl_s
        self._clock = clock

    @classmethod
    def for_connection(cls, store_id: str, provider: str = "bling", **kwargs: Any) -> RefreshLock:
        """The lock of one store's connection (``lock#<provider>#<store>``)."""
        return cls(f"lock#{provider}#{store_id}", **kwargs)

    def acquire(self) -> int | None:
        """Take the lock; returns the owner's nonce, or None when someone else holds it."""
        now = self._clock()
        owner = secrets.randbits(52)
        try:
            RateLimitBucket(self.lock_id, version=owner, expires_at=now + self._ttl_s, tat=0, throttled_until=0).save(
                condition=RateLimitBucket.bucket_id.does_not_exist() | (RateLimitBucket.expires_at < now)
            )
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return owner

    def release(self, owner: int) -> None:
        """Free the lock if we still own it."""
        try:
            RateLimitBucket(self.lock_id).delete(condition=RateLimitBucket.version == owner)
        except DeleteError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


OAuthFactory = Callable[[Mapping[str, Any]], BlingOAuth]


class TokenManager:
    """The access token of one connection, refreshed before expiry or after a 401, at most
    once across all workers (see the module docstring)."""

    def __init__(
        self,
        store_id: str,
        *,
        credentials: CredentialStore,
        provider: str = "bling",
        initial: Mapping[str, Any] | None = None,
        oauth_factory: OAuthFactory | None = None,
        lock: RefreshLock | None = None,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        skew_s: float = REFRESH_SKEW_S,
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> None:
        self.store_id = store_id
        self.provider = provider
        self._store = credentials
        self._secret: dict[str, Any] | None = dict(initial) if initial else None
        self._oauth_factory = oauth_factory or (
            lambda s: BlingOAuth(str(s["client_id"]), str(s["client_secret"]), clock=clock)
        )
        self._lock = lock or RefreshLock.for_connection(store_id, provider, clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._skew_s = skew_s
        self._lock_wait_s = lock_wait_s
        self._unsaved: dict[str, Any] | None = None  # a refreshed pair we could not store yet

    def access_token(self) -> str:
        """A token valid for at least ``skew_s`` more seconds (refreshing if needed)."""
        if self._unsaved is not None:
            self._save(self._unsaved)
        secret = self._current()
        if not self._expiring(secret):
            return str(secret["access_token"])
        return self.refresh(str(secret["access_token"]))

    def refresh(self, stale_token: str) -> str:
        """Replace ``stale_token`` (expiring, or refused with 401): use another worker's
        fresh token if there is one, else refresh under the lock."""
        deadline = self._clock() + self._lock_wait_s
        while True:
            owner = self._lock.acquire()
            if owner is not None:
                break
            fresh = self._read_fresh()
            if self._replaced(fresh, stale_token):
                return str(fresh["access_token"])
            if self._clock() >= deadline:
                raise RateLimited("another worker is refreshing the bling token", retry_after=LOCK_TTL_S)
            self._sleep(LOCK_POLL_S)
        try:
            fresh = self._read_fresh()
            if self._replaced(fresh, stale_token):
                return str(fresh["access_token"])
            oauth = self._oauth_factory(fresh)
            try:
                pair = oauth.refresh(str(fresh["refresh_token"]))
            finally:
                oauth.close()
            new_secret = pair.as_secret(fresh)
            self._secret = new_secret
            self._save(new_secret)
            metrics.add_metric(name="ProviderTokenRefreshed", unit="Count", value=1)
            logger.info(
                "oauth_token_refreshed",
                extra={"store": self.store_id, "provider": self.provider, "version": new_secret["version"]},
            )
            return pair.access_token
        finally:
            self._lock.release(owner)

    # -- helpers --------------------------------------------------------------------
    def _current(self) -> dict[str, Any]:
        if self._secret is None:
            self._secret = self._store.get(self.store_id, self.provider)
        return self._secret

    def _read_fresh(self) -> dict[str, Any]:
        fresh = self._store.get(self.store_id, self.provider, fresh=True)
        if not fresh.get("refresh_token") or not fresh.get("client_id") or not fresh.get("client_secret"):
            raise PermanentError("bling credentials need client_id, client_secret and refresh_token")
        self._secret = fresh
        return fresh

    def _expiring(self, secret: Mapping[str, Any]) -> bool:
        expires = expires_at_of(secret)
        return expires is not None and expires - self._clock() < self._skew_s

    def _replaced(self, fresh: Mapping[str, Any], stale_token: str) -> bool:
        return str(fresh.get("access_token")) != stale_token and not self._expiring(fresh)

    def _save(self, secret: dict[str, Any]) -> None:
        """Store a refreshed pair; on failure keep it in memory and try again on next use
        (it is the only live refresh token)."""
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(3):
            try:
                self._store.put(self.store_id, self.provider, secret)
            except (BotoCoreError, ClientError):
                if attempt < 2:
                    self._sleep(0.2 * (attempt + 1))
                continue
            self._unsaved = None
            return
        self._unsaved = secret
        metrics.add_metric(name="ProviderTokenNotStored", unit="Count", value=1)
        logger.error("oauth_token_not_stored", extra={"store": self.store_id, "provider": self.provider})
