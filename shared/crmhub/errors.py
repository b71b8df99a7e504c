"""Domain exceptions. Two families decide what the queue does with a failed message:
``TransientError`` is retried (with backoff through the SQS visibility timeout),
``PermanentError`` is recorded at once and not retried."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    code = "hub_error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class TransientError(HubError):
    """Worth retrying later: timeouts, 5xx, rate limits, lost connections."""

    code = "transient"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        blocked_for_s: float | None = None,
        details: dict | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after
        # Waiting on another worker (a record lease, a creation in flight): the seconds until
        # its hold expires even if that worker died. The last retries are spaced to pass
        # it, so a long but legitimate hold never exhausts the message's deliveries.
        self.blocked_for_s = blocked_for_s


class RateLimited(TransientError):
    """The provider (or our own budget) said: not now. ``retry_after`` in seconds."""

    code = "rate_limited"


class PermanentError(HubError):
    """Retrying cannot help: the provider rejected the data, or our input is invalid."""

    code = "permanent"


class ProviderRejected(PermanentError):
    """A 4xx validation/business error from the provider, with its own message."""

    code = "provider_rejected"

    def __init__(self, message: str, *, status: int, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.status = status


class AuthenticationFailed(PermanentError):
    """The provider refused our credentials (401/403)."""

    code = "provider_auth_failed"


class NotFound(HubError):
    """A store, connection, link or record that does not exist."""

    code = "not_found"


class Forbidden(HubError):
    """The caller's key may not touch this store."""

    code = "forbidden"


class Unauthorized(HubError):
    """No key or an unknown key."""

    code = "unauthorized"


class InvalidInput(HubError):
    """Input that fails validation after parsing (pydantic errors are mapped separately)."""

    code = "invalid_input"


class Conflict(HubError):
    """A write lost a race (conditional check failed) or a resource already exists."""

    code = "conflict"
