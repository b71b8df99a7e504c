"""An HTTP client of the hub's REST API for operators: one method per operation, every
failure turned into a :class:`CliError` whose message says what to do about it.

The transport is injectable (``httpx.MockTransport`` in tests); nothing is opened until
the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT_S = 30.0


class CliError(Exception):
    """A failure the operator can act on; ``exit_code`` is what the process exits with."""

    exit_code = 1

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body

    def as_json(self) -> dict[str, Any]:
        """The error as scripts read it (``--json``)."""
        return {"error": {"code": self.code or type(self).__name__, "status": self.status, "message": self.message}}


class UsageProblem(CliError):
    """A missing setting (store, key) the operator has to supply."""

    exit_code = 2


class HubUnreachable(CliError):
    """No connection (refused, DNS, timeout) or a server that is not the hub."""

    exit_code = 3


class KeyRejected(CliError):
    """401, or 403 for a key that is invalid or belongs to another store."""

    exit_code = 4


class NotFoundError(CliError):
    """404: an unknown store, job, link, conflict or dead letter."""

    exit_code = 5


class ApiError(CliError):
    """Any other error answer (422 validation, 409 conflict, 429, 5xx)."""

    exit_code = 1


@dataclass(frozen=True)
class Started:
    """Answer of an operation that starts a job: the job and whether this call created it
    (``False``: the same job was already running and is returned instead)."""

    job: dict[str, Any]
    created: bool


def _path(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


class HubClient:
    """The hub's API for one store (``store`` may be ``None`` for commands that need none)."""

    def __init__(
        self,
        url: str,
        key: str | None,
        store: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.store = store
        self._transport = transport
        self._timeout_s = timeout_s
        self._http: httpx.Client | None = None

    def close(self) -> None:
        """Close the connection pool (if one was opened)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _client(self) -> httpx.Client:
        if self._http is None:
            if not self.key:
                raise UsageProblem("no API key: pass --key or set CRMHUB_API_KEY", code="missing_api_key")
            try:
                self._http = httpx.Client(
                    base_url=self.url,
                    headers={"x-api-key": self.key, "accept": "application/json", "user-agent": "crmhub-cli"},
                    timeout=self._timeout_s,
                    transport=self._transport,
                )
            except (httpx.InvalidURL, ValueError) as exc:
                raise HubUnreachable(f"not a valid hub URL: {self.url!r} ({exc})", code="invalid_url") from None
        return self._http

    def _store_path(self, *parts: str) -> str:
        if not self.store:
            raise UsageProblem("no store: pass --store or set CRMHUB_STORE", code="missing_store")
        return f"/api/v1/stores/{_path(self.store, *parts)}"

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        """Send one request; any failure becomes a :class:`CliError` (never an httpx error)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client().request(method, path, params=query or None, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise HubUnreachable(
                f"cannot reach the hub at {self.url} (is `make run` running?): {_reason(exc)}", code="unreachable"
            ) from None
        except httpx.TimeoutException:
            raise HubUnreachable(
                f"the hub at {self.url} did not answer within {self._timeout_s:g} s", code="timeout"
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise HubUnreachable(f"not a valid hub URL: {self.url!r} ({exc})", code="invalid_url") from None
        except httpx.TransportError as exc:
            raise HubUnreachable(f"the connection to {self.url} failed: {_reason(exc)}", code="transport") from None
        if response.status_code >= 400:
            raise self._error(method, path, response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decode(method, path, self.request(method, path, **kwargs))

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise HubUnreachable(
                f"{self.url} answered {method} {path} with something that is not JSON: is --url the hub's API?",
                status=response.status_code,
                code="not_the_hub",
            ) from None

    def _error(self, method: str, path: str, response: httpx.Response) -> CliError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {}
        code = error.get("code")
        message = error.get("message") or (body.get("message") if isinstance(body, dict) else None) or response.text
        raw_details = error.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        if status == 401 or code == "invalid_api_key":
            return KeyRejected(
                f"the API key was rejected ({status} {code or 'unauthorized'}: {message}); "
                "check --key / CRMHUB_API_KEY and that it is this hub's key",
                status=status,
                code=code or "unauthorized",
                body=body,
            )
        if status == 403 and code == "forbidden":
            return KeyRejected(
                f"the API key may not do this for store {self.store!r}: {message}",
                status=status,
                code=code,
                body=body,
            )
        if status == 403 and code is None:
            # API Gateway's answer to a path it has no route for ("Missing Authentication Token").
            return NotFoundError(
                f"the hub at {self.url} has no endpoint {method} {path} ({message}): "
                "is --url the hub's API, and is the hub up to date?",
                status=status,
                code="no_such_endpoint",
                body=body,
            )
        if status == 404:
            if "store_id" in details:
                return NotFoundError(
                    f"store {details['store_id']!r} does not exist on the hub at {self.url} "
                    "(check --store / CRMHUB_STORE)",
                    status=status,
                    code=code,
                    body=body,
                )
            if code is None:
                return NotFoundError(
                    f"{self.url} answered 404 to {method} {path}: is --url the hub's API?",
                    status=status,
                    code="no_such_endpoint",
                    body=body,
                )
            what = ", ".join(f"{k} {v!r}" for k, v in details.items())
            return NotFoundError(f"not found: {message}" + (f" ({what})" if what else ""), status=status, code=code)
        if status == 422 and isinstance(error.get("fields"), list):
            fields = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in error["fields"])
            return ApiError(f"the hub rejected the request: {fields}", status=status, code=code, body=body)
        if status == 429:
            return ApiError(f"throttled by the hub (429): {message}; try again shortly", status=status, code=code)
        if status >= 500:
            return ApiError(f"the hub failed ({status}): {message}", status=status, code=code, body=body)
        return ApiError(f"{status} {code or ''}: {message}".replace("  ", " "), status=status, code=code, body=body)

    # ------------------------------------------------------------------ operations

    def store_info(self) -> dict[str, Any]:
        """The store (also proves the key may read it)."""
        return dict(self._json("GET", self._store_path()))

    def stats(self) -> dict[str, Any]:
        """Processed today, errors 24 h, success rate, per entity/provider, lane depths."""
        return dict(self._json("GET", self._store_path("stats")))

    def start_bulk(self, entity: str) -> Started:
        """Enqueue every active record of ``entity`` (or get the job already running)."""
        path = self._store_path("sync", entity, "bulk")
        response = self.request("POST", path)
        return Started(dict(self._decode("POST", path, response)), created=response.status_code == 202)

    def sync_record(self, entity: str, local_id: str) -> dict[str, Any]:
        """Read one record from the ERP now and send it to every connection."""
        return dict(self._json("POST", self._store_path("sync", entity, "records", local_id)))

    def start_import(self, provider: str, entity: str) -> Started:
        """Start an incremental import from ``provider`` now (or get the run in progress)."""
        path = self._store_path("sync", provider, entity, "import")
        response = self.request("POST", path)
        return Started(dict(self._decode("POST", path, response)), created=response.status_code == 202)

    def job(self, job_id: str) -> dict[str, Any]:
        """One job's progress."""
        return dict(self._json("GET", self._store_path("jobs", job_id)))

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first."""
        return list(self._json("GET", self._store_path("jobs"), params={"limit": limit}))

    def link(self, side: str, provider: str, entity: str, record_id: str) -> dict[str, Any]:
        """The entity link by the ERP's id (``side="local"``) or the provider's (``"external"``)."""
        return dict(self._json("GET", self._store_path("links", provider, entity, side, record_id)))

    def logs(self, entity: str, local_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """A record's sync log, newest first."""
        return list(self._json("GET", self._store_path("logs", entity, local_id), params={"limit": limit}))

    def errors(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent sync errors, newest first."""
        return list(self._json("GET", self._store_path("errors"), params={"limit": limit}))

    def conflicts(self, status: str = "open", limit: int = 100) -> list[dict[str, Any]]:
        """Conflicts with ``status`` (open, resolving, resolved, all)."""
        return list(self._json("GET", self._store_path("conflicts"), params={"status": status, "limit": limit}))

    def conflict(self, conflict_id: str) -> dict[str, Any]:
        """Both values, the base and when each side changed."""
        return dict(self._json("GET", self._store_path("conflicts", conflict_id)))

    def resolve_conflict(self, conflict_id: str, use: str, value: Any = None) -> dict[str, Any]:
        """Keep the ERP's value, the CRM's, or write ``value`` to both."""
        body: dict[str, Any] = {"use": use}
        if use == "value":
            body["value"] = value
        return dict(self._json("POST", self._store_path("conflicts", conflict_id, "resolve"), json=body))

    def dead_letters(self, lane: str | None = None, status: str | None = "open") -> dict[str, Any]:
        """Dead-lettered messages (and the DLQ depth per lane)."""
        return dict(self._json("GET", self._store_path("dead-letters"), params={"lane": lane, "status": status}))

    def dead_letter(self, dead_letter_id: str) -> dict[str, Any]:
        """One dead letter with its message."""
        return dict(self._json("GET", self._store_path("dead-letters", dead_letter_id)))

    def retry_dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        """Send it back to its lane."""
        return _optional_dict(self._json("POST", self._store_path("dead-letters", dead_letter_id, "retry")))

    def retry_all_dead_letters(self) -> dict[str, Any]:
        """Send every open dead letter back; answers ``{"retried", "method"}``."""
        return dict(self._json("POST", self._store_path("dead-letters", "retry-all")))

    def archive_dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        """Keep it for the record but out of the open list."""
        return _optional_dict(self._json("POST", self._store_path("dead-letters", dead_letter_id, "archive")))

    def delete_dead_letter(self, dead_letter_id: str) -> None:
        """Delete it for good."""
        self.request("DELETE", self._store_path("dead-letters", dead_letter_id))


def _reason(exc: Exception) -> str:
    """What the transport said, e.g. "[Errno 111] Connection refused"."""
    return str(exc) or type(exc).__name__


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None
