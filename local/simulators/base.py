"""Shared machinery for provider simulators: server, controls, record store, webhooks.

Every simulator is a Flask app built by a ``make_app`` factory that calls
:func:`install_simulator`. That wires in, for every non-control request: sliding-window
rate limiting (429 in the provider's error shape), latency, scripted and random faults and
request statistics; and it mounts the ``/_sim/*`` control endpoints, which are never rate
limited, faulted or counted.
"""

from __future__ import annotations

import copy
import errno
import math
import queue
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self

import httpx
from flask import Blueprint, Flask, Response, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

CONTROL_PREFIX = "/_sim/"

# (status, code, message, retry_after_s | None) -> provider-shaped error response
ErrorFactory = Callable[[int, str, str, "int | None"], Response]
# (resource, data, namespace) -> record to store (without id); raises ValueError if invalid
Seeder = Callable[[str, dict[str, Any], str], dict[str, Any]]
# (getter, setter) for a simulator-specific key of ``/_sim/config``; setter raises ValueError
ConfigHook = tuple[Callable[[], Any], Callable[[Any], None]]


def digits(value: Any) -> str:
    """Only the digits of ``value`` ("123.456.789-09" -> "12345678909")."""
    return re.sub(r"\D", "", str(value or ""))


# --------------------------------------------------------------------------- server


class PortInUseError(OSError):
    """The simulator's port is already taken by another program."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.port = port
        self.host = host


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log request lines (query strings may hold PII)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class SimulatorServer:
    """Serves a WSGI app with werkzeug's threaded server in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind and start serving; raises :class:`PortInUseError` if the port is busy."""
        if self._server is not None:
            return self
        # Bind ourselves: werkzeug's own bind calls sys.exit(1) on EADDRINUSE.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(self.port, self.host) from exc
            raise
        try:
            server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
            )
        finally:
            sock.close()  # the server holds its own duplicate of the descriptor
        self._server = server
        self.port = server.port
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"simulator-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- controls


class ControlSettings(BaseModel):
    """Runtime knobs shared by every simulator (``POST /_sim/config``)."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: int = Field(default=10, ge=1, description="requests allowed per window")
    window_s: float = Field(default=1.0, gt=0, description="sliding window length, seconds")
    rate_limit_enabled: bool = True
    retry_after_header: bool = True
    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    faults_enabled: bool = True
    fault_rate: float = Field(default=0.0, ge=0, le=1, description="chance of a random fault")
    fault_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503])
    recent_limit: int = Field(default=200, ge=0, description="how many recent requests to keep")
    seed: int | None = None


class Fault(BaseModel):
    """A scripted fault, consumed by the next ``count`` matching requests."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["status", "timeout", "drop_after_commit"] = "status"
    status: int = Field(default=500, ge=400, le=599)
    count: int = Field(default=1, ge=1)
    path_prefix: str | None = None
    method: str | None = None
    seconds: float = Field(default=0.0, ge=0, description="timeout: sleep before answering")
    close: bool = Field(default=False, description="drop_after_commit: close the connection")
    retry_after: int | None = Field(default=None, ge=1)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path_prefix and not path.startswith(self.path_prefix):
            return False
        # Only a write can be committed and then lost.
        return not (self.type == "drop_after_commit" and method in ("GET", "HEAD", "OPTIONS"))


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after: int | None = None


class SimulatorControls:
    """Thread-safe rate limiter, latency/fault injector and request statistics."""

    _total: int
    _count_429: int
    _peak: int  # most arrivals seen in any sliding window
    _peak_allowed: int  # most admitted requests in any sliding window
    _faults_injected: int

    def __init__(self, settings: ControlSettings | None = None) -> None:
        self._lock = threading.RLock()
        self._settings = settings or ControlSettings()
        self._rng = random.Random(self._settings.seed)
        self._faults: deque[Fault] = deque()
        self._allowed: deque[float] = deque()  # arrival times of admitted requests
        self._arrivals: deque[float] = deque()  # arrival times of all requests
        self._recent: deque[dict[str, Any]] = deque(maxlen=self._settings.recent_limit)
        self.reset_stats()

    # settings
    @property
    def settings(self) -> ControlSettings:
        with self._lock:
            return self._settings

    def update(self, patch: dict[str, Any]) -> ControlSettings:
        """Validate and apply a partial settings update; raises ``ValidationError``."""
        with self._lock:
            merged = {**self._settings.model_dump(), **patch}
            self._settings = ControlSettings.model_validate(merged)
            if "seed" in patch:
                self._rng = random.Random(self._settings.seed)
            self._recent = deque(self._recent, maxlen=self._settings.recent_limit)
            return self._settings

    # rate limiting
    def admit(self, now: float | None = None) -> Admission:
        """Record an arrival and decide it against the strict sliding window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            s = self._settings
            horizon = now - s.window_s
            for dq in (self._allowed, self._arrivals):
                while dq and dq[0] <= horizon:
                    dq.popleft()
            self._arrivals.append(now)
            self._peak = max(self._peak, len(self._arrivals))
            if s.rate_limit_enabled and len(self._allowed) >= s.rate_limit:
                self._count_429 += 1
                wait = self._allowed[0] + s.window_s - now
                return Admission(False, max(1, math.ceil(wait)))
            self._allowed.append(now)
            self._peak_allowed = max(self._peak_allowed, len(self._allowed))
            return Admission(True)

    # latency and faults
    def latency_s(self) -> float:
        with self._lock:
            s = self._settings
            jitter = self._rng.uniform(0, s.jitter_ms) if s.jitter_ms else 0.0
            return (s.latency_ms + jitter) / 1000.0

    def add_faults(self, faults: Iterable[Fault]) -> int:
        with self._lock:
            self._faults.extend(faults)
            return len(self._faults)

    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return [f.model_copy() for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume the first scripted fault matching the request, else maybe a random one."""
        with self._lock:
            if not self._settings.faults_enabled:
                return None
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    self._faults_injected += 1
                    return fault.model_copy(update={"count": 1})
            s = self._settings
            if s.fault_rate and s.fault_statuses and self._rng.random() < s.fault_rate:
                self._faults_injected += 1
                return Fault(status=self._rng.choice(s.fault_statuses))
            return None

    # statistics
    def reset_stats(self) -> None:
        with self._lock:
            self._total = 0
            self._by_route: dict[str, int] = {}
            self._by_status: dict[str, int] = {}
            self._count_429 = 0
            self._peak = 0
            self._peak_allowed = 0
            self._faults_injected = 0
            self._counters: dict[str, int] = {}
            self._recent = deque(maxlen=self._settings.recent_limit)
            self._allowed.clear()
            self._arrivals.clear()

    def record(self, method: str, path: str, route: str, status: int, duration_s: float) -> None:
        """Count one finished request (path only: query strings may carry personal data)."""
        with self._lock:
            key = f"{method} {route}"
            self._total += 1
            self._by_route[key] = self._by_route.get(key, 0) + 1
            self._by_status[str(status)] = self._by_status.get(str(status), 0) + 1
            self._recent.append(
                {
                    "at": datetime.now(UTC).isoformat(timespec="microseconds"),
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration_s * 1000, 3),
                }
            )

    def incr(self, counter: str, by: int = 1) -> None:
        with self._lock:
            self._counters[counter] = self._counters.get(counter, 0) + by

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": self._total,
                "by_route": dict(self._by_route),
                "by_status": dict(self._by_status),
                "responses_429": self._count_429,
                "peak": self._peak,
                "peak_allowed": self._peak_allowed,
                "rate_limit": self._settings.rate_limit,
                "window_s": self._settings.window_s,
                "faults_injected": self._faults_injected,
                "faults_pending": sum(f.count for f in self._faults),
                "counters": dict(self._counters),
                "recent": list(self._recent),
            }


# --------------------------------------------------------------------------- records


@dataclass
class _Entry:
    ns: str
    record: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RecordStore:
    """In-memory, thread-safe records with integer ids (rendered as strings) per resource.

    Each record lives in a namespace (e.g. the ERP's store); ids are unique per resource
    across namespaces. The store keeps its own created/updated times beside each record
    (for inspection; providers stamp their own fields). Callers always get deep copies.
    """

    def __init__(self, resources: Iterable[str]) -> None:
        self._lock = threading.RLock()
        self.resources: tuple[str, ...] = tuple(resources)
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._entries: dict[str, dict[int, _Entry]] = {r: {} for r in self.resources}
            self._next: dict[str, int] = dict.fromkeys(self.resources, 1)

    def _find(self, resource: str, record_id: Any, ns: str | None) -> _Entry | None:
        text = str(record_id)
        entry = self._entries[resource].get(int(text)) if text.isdigit() else None
        return None if entry is None or (ns is not None and entry.ns != ns) else entry

    def create(self, resource: str, data: dict[str, Any], ns: str = "") -> dict[str, Any]:
        with self._lock:
            key = self._next[resource]
            self._next[resource] = key + 1
            record = {"id": str(key), **{k: v for k, v in data.items() if k != "id"}}
            now = datetime.now(UTC)
            self._entries[resource][key] = _Entry(ns, copy.deepcopy(record), now, now)
            return record

    def get(self, resource: str, record_id: Any, ns: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            entry = self._find(resource, record_id, ns)
            return copy.deepcopy(entry.record) if entry else None

    def meta(self, resource: str, record_id: Any) -> dict[str, Any] | None:
        """Namespace and store-side timestamps of a record."""
        with self._lock:
            entry = self._find(resource, record_id, None)
            if entry is None:
                return None
            return {
                "store": entry.ns,
                "created_at": entry.created_at.isoformat(),
                "updated_at": entry.updated_at.isoformat(),
            }

    def update(
        self, resource: str, record_id: Any, change: Callable[[dict[str, Any]], dict[str, Any]], ns: str | None = None
    ) -> dict[str, Any] | None:
        """Atomically replace a record with ``change(copy_of_record)``; None if absent."""
        with self._lock:
            entry = self._find(resource, record_id, ns)
            if entry is None:
                return None
            new = change(copy.deepcopy(entry.record))
            if new != entry.record:
                new["id"] = entry.record["id"]
                entry.record, entry.updated_at = copy.deepcopy(new), datetime.now(UTC)
            return copy.deepcopy(entry.record)

    def delete(self, resource: str, record_id: Any, ns: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            entry = self._find(resource, record_id, ns)
            if entry is None:
                return None
            del self._entries[resource][int(entry.record["id"])]
            return entry.record

    def list(self, resource: str, ns: str | None = None) -> list[dict[str, Any]]:
        """All records of a resource in id order (optionally one namespace)."""
        with self._lock:
            return [
                copy.deepcopy(entry.record)
                for _, entry in sorted(self._entries[resource].items())
                if ns is None or entry.ns == ns
            ]


def paginate(items: list[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """The slice for 1-based ``page`` and the number of pages (0 when empty)."""
    pages = math.ceil(len(items) / per_page) if items else 0
    start = (page - 1) * per_page
    return items[start : start + per_page], pages


class StrictClock:
    """UTC clock whose readings strictly increase (by at least 1 µs)."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            current = self._source()
            if self._last is not None and current <= self._last:
                current = self._last + timedelta(microseconds=1)
            self._last = current
            return current


# --------------------------------------------------------------------------- webhooks


class WebhookSender:
    """Delivers JSON POSTs from one background thread, retrying transport errors and 5xx.

    Never blocks the caller. Outcomes are counted on ``controls`` as ``<prefix>_ok`` /
    ``<prefix>_failed`` / ``<prefix>_retries``.
    """

    def __init__(self, controls: SimulatorControls, counter_prefix: str = "notify", idle_s: float = 10.0) -> None:
        self._controls = controls
        self._prefix = counter_prefix
        self._idle_s = idle_s  # the worker thread exits after this long without work
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0

    def submit(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        timeout_s: float = 5.0,
    ) -> None:
        """Queue one delivery and return at once."""
        with self._cond:  # enqueue under the lock so an idle worker cannot exit past it
            self._pending += 1
            self._queue.put((self._generation, url, body, headers, max_attempts, backoff_s, timeout_s))
            self._stop.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
                self._thread.start()

    @property
    def pending(self) -> int:
        """Deliveries submitted and not yet finished (attempts and retries included)."""
        with self._cond:
            return self._pending

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every submitted delivery finished; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def clear(self) -> None:
        """Forget deliveries not yet attempted (used by ``/_sim/reset``)."""
        with self._cond:
            self._generation += 1

    def close(self) -> None:
        """Stop the worker soon; deliveries not yet attempted are dropped."""
        with self._cond:
            self._generation += 1
            self._stop.set()

    def _run(self) -> None:
        idle = 0.0
        with httpx.Client() as client:
            while True:
                try:
                    generation, *job = self._queue.get(timeout=0.2)
                except queue.Empty:
                    idle += 0.2
                    with self._cond:
                        if self._queue.empty() and (self._stop.is_set() or idle >= self._idle_s):
                            self._thread = None
                            return
                    continue
                idle = 0.0
                try:
                    if generation == self._generation and not self._stop.is_set():
                        self._deliver(client, *job)
                finally:
                    with self._cond:
                        self._pending -= 1
                        self._cond.notify_all()

    def _deliver(
        self,
        client: httpx.Client,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
    ) -> None:
        for attempt in range(1, max_attempts + 1):
            retryable = True
            try:
                resp = client.post(url, json=body, headers=headers, timeout=timeout_s)
                if resp.status_code < 300:
                    self._controls.incr(f"{self._prefix}_ok")
                    return
                retryable = resp.status_code >= 500 or resp.status_code == 429
            except httpx.TransportError:
                pass
            if not retryable or attempt == max_attempts:
                break
            self._controls.incr(f"{self._prefix}_retries")
            if self._stop.wait(min(backoff_s * 2 ** (attempt - 1), 5.0)):
                break
        self._controls.incr(f"{self._prefix}_failed")


# --------------------------------------------------------------------------- Flask wiring


PENDING_DELIVERIES = "simulator_pending_deliveries"


def pending_deliveries(app: Any) -> int:
    """Webhooks ``app`` (any WSGI app) has queued and not yet delivered; 0 if it sends none."""
    count = getattr(app, "extensions", {}).get(PENDING_DELIVERIES)
    return int(count()) if callable(count) else 0


def is_control_request() -> bool:
    """True for ``/_sim/*`` requests (no auth, limits, faults or stats)."""
    return request.path.startswith(CONTROL_PREFIX)


def install_simulator(
    app: Flask,
    *,
    name: str,
    controls: SimulatorControls,
    store: RecordStore,
    error_response: ErrorFactory,
    seeder: Seeder,
    config_hooks: dict[str, ConfigHook] | None = None,
    on_reset: Callable[[], None] | None = None,
    sender: WebhookSender | None = None,
) -> None:
    """Install limits/faults/stats hooks and the ``/_sim`` control blueprint on ``app``.

    Call it before registering the simulator's own ``before_request`` hooks (e.g. auth),
    so a rate-limited or faulted request is refused before authentication, like a gateway.
    A simulator that sends webhooks passes its ``sender``: :func:`pending_deliveries`
    then reports what it still has to deliver (the local hub waits for it before idle).
    """
    hooks = config_hooks or {}
    if sender is not None:
        app.extensions[PENDING_DELIVERIES] = lambda: sender.pending

    @app.before_request
    def _sim_before() -> Response | None:
        if is_control_request():
            return None
        g.sim_t0 = time.monotonic()
        admission = controls.admit()
        if not admission.allowed:
            retry = admission.retry_after if controls.settings.retry_after_header else None
            return error_response(429, "rate_limited", "rate limit exceeded", retry)
        delay = controls.latency_s()
        if delay:
            time.sleep(delay)
        fault = controls.take_fault(request.method, request.path)
        if fault is None:
            return None
        if fault.type == "timeout":
            time.sleep(fault.seconds)
            return None
        if fault.type == "drop_after_commit":
            g.sim_drop = fault
            return None
        retry = (fault.retry_after or 1) if fault.status == 429 else fault.retry_after
        return error_response(fault.status, "injected_fault", "injected fault", retry)

    @app.after_request
    def _sim_after(response: Response) -> Response:
        if is_control_request():
            return response
        drop: Fault | None = g.pop("sim_drop", None)
        if drop is not None and response.status_code < 400:
            sock = request.environ.get("werkzeug.socket")
            if drop.close and sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            response = error_response(drop.status, "injected_fault", "injected fault", None)
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        started = g.get("sim_t0", time.monotonic())
        controls.record(request.method, request.path, rule, response.status_code, time.monotonic() - started)
        return response

    app.register_blueprint(_control_blueprint(name, controls, store, seeder, hooks, on_reset))


def _control_blueprint(
    name: str,
    controls: SimulatorControls,
    store: RecordStore,
    seeder: Seeder,
    hooks: dict[str, ConfigHook],
    on_reset: Callable[[], None] | None,
) -> Blueprint:
    bp = Blueprint("sim_controls", __name__, url_prefix=CONTROL_PREFIX.rstrip("/"))

    def bad(message: str, status: int = 400, **extra: Any) -> tuple[Response, int]:
        return jsonify({"error": message, **extra}), status

    def current_config() -> dict[str, Any]:
        return {**controls.settings.model_dump(), **{key: get() for key, (get, _) in hooks.items()}}

    @bp.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok", "simulator": name})

    @bp.get("/stats")
    def stats() -> Response:
        return jsonify(controls.stats())

    @bp.post("/reset")
    def reset() -> Response:
        store.clear()
        controls.reset_stats()
        controls.clear_faults()
        if on_reset:
            on_reset()
        return jsonify({"status": "reset"})

    @bp.get("/config")
    def get_config() -> Response:
        return jsonify(current_config())

    @bp.post("/config")
    def set_config() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return bad("expected a JSON object")
        own = {k: v for k, v in body.items() if k not in hooks}
        try:
            if own:
                controls.update(own)
            for key in hooks.keys() & body.keys():
                hooks[key][1](body[key])
        except (ValidationError, ValueError, TypeError) as exc:
            return bad("invalid config", detail=str(exc))
        return jsonify(current_config())

    @bp.get("/faults")
    def list_faults() -> Response:
        return jsonify({"faults": [f.model_dump() for f in controls.pending_faults()]})

    @bp.delete("/faults")
    def clear_faults() -> Response:
        controls.clear_faults()
        return jsonify({"faults": []})

    @bp.post("/faults")
    def add_faults() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True)
        items = body.get("faults", body) if isinstance(body, dict) and "faults" in body else body
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list):
            return bad("expected a fault object or a list of faults")
        try:
            faults = [Fault.model_validate(item) for item in items]
        except ValidationError as exc:
            return bad("invalid fault", detail=str(exc))
        pending = controls.add_faults(faults)
        return jsonify({"added": len(faults), "pending": pending})

    @bp.get("/records/<resource>")
    def list_records(resource: str) -> Response | tuple[Response, int]:
        if resource not in store.resources:
            return bad("unknown resource", 404, resources=list(store.resources))
        ns = request.args.get("store")
        data = store.list(resource, ns)
        return jsonify({"resource": resource, "store": ns, "count": len(data), "data": data})

    @bp.get("/records/<resource>/<record_id>")
    def get_record(resource: str, record_id: str) -> Response | tuple[Response, int]:
        if resource not in store.resources:
            return bad("unknown resource", 404, resources=list(store.resources))
        record = store.get(resource, record_id)
        if record is None:
            return bad("record not found", 404)
        return jsonify({**(store.meta(resource, record_id) or {}), "data": record})

    @bp.post("/records/<resource>")
    def seed_records(resource: str) -> Response | tuple[Response, int]:
        if resource not in store.resources:
            return bad("unknown resource", 404, resources=list(store.resources))
        body = request.get_json(silent=True)
        items = [body] if isinstance(body, dict) else body
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return bad("expected a record object or a list of records")
        ns = request.args.get("store", "")
        try:
            prepared = [seeder(resource, item, ns) for item in items]
        except ValueError as exc:
            return bad("invalid record", detail=str(exc))
        created = [store.create(resource, rec, ns) for rec in prepared]
        return jsonify({"resource": resource, "count": len(created), "data": created}), 201

    return bp
