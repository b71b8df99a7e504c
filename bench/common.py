"""Shared helpers of the benchmarks: paths, statistics, results, test data, a local hub.

Everything here talks to 127.0.0.1 only. The LocalHub benchmarks start the whole local
stack in-process on ephemeral ports; ``python -m bench`` runs each benchmark in its own
interpreter, so caches bound to one hub (settings, boto3 clients) never leak into the next.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import random
import statistics
import sys
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOCALHOST = "127.0.0.1"

# Template parameters for the hub benchmarks: the API usage plan must not be what we measure.
HUB_PARAMETERS = {"ApiRateLimitPerSecond": "1000", "ApiBurstLimit": "1000"}


# --------------------------------------------------------------------------- output


def say(message: str) -> None:
    """Progress line on the real stdout (even while a hub's output is swallowed)."""
    stream = sys.__stdout__ or sys.stdout
    stream.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    stream.flush()


def say_problems(name: str, result: dict[str, Any], limit: int = 5) -> None:
    """The first errors of a run and the first problems the hub printed, one line each."""
    for problem in result["errors"][:limit] + result["hub_console_problems"][:limit]:
        say(f"{name}: ! {problem}")


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "load_average_at_end": load_average(),  # other work on the machine skews the numbers
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (``p`` in 0..100) of ``values``; NaN if empty."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return float(data[low] + (data[high] - data[low]) * (rank - low))


def summarize_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean/min of millisecond values, rounded to 0.1 ms."""
    if not values:
        return {}
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p90_ms": round(percentile(values, 90), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
        "min_ms": round(min(values), 1),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


# --------------------------------------------------------------------------- results


@dataclass
class Check:
    """One row of the summary table."""

    metric: str
    value: Any
    target: str | None = None
    met: bool | None = None  # None: informational (no target)

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "target": self.target, "met": self.met}


def all_met(checks: Iterable[Check]) -> bool:
    """True when every row that has a target met it."""
    return all(c.met for c in checks if c.met is not None)


def result_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (pretty, stable key order)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = result_path(name)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    try:
        return json.loads(result_path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- test data


def cpf_check_digits(base9: str) -> str:
    from local.simulators.erp import cpf_check_digits as check_digits

    return check_digits(base9)


def distinct_cpfs(count: int, *, seed: int = 2024) -> list[str]:
    """``count`` distinct valid CPFs (11 digits), deterministic for a seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        base = f"{rng.randrange(10**8, 10**9):09d}"
        if len(set(base)) == 1:
            continue  # 111.111.111-xx and friends are invalid
        cpf = base + cpf_check_digits(base)
        if cpf not in seen:
            seen.add(cpf)
            out.append(cpf)
    return out


def format_cpf(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


_FIRST = ["Ana", "João", "Maria", "José", "Carla", "Paulo", "Juliana", "Rafael", "Beatriz", "Lucas"]
_LAST = ["Silva", "Santos", "Oliveira", "Souza", "Lima", "Costa", "Ribeiro", "Almeida"]


def customer_data(index: int, cpf: str) -> dict[str, Any]:
    """A valid canonical customer (PF) for the ERP / the changes API."""
    first, last = _FIRST[index % len(_FIRST)], _LAST[(index // len(_FIRST)) % len(_LAST)]
    return {
        "person_type": "PF",
        "name": f"{first} {last} {index}",
        "email": f"cliente{index}@example.com",
        "phones": [f"+55 11 9{index % 10000:04d}-{(index * 7) % 10000:04d}"],
        "document": format_cpf(cpf) if index % 2 else cpf,
        "active": True,
    }


# --------------------------------------------------------------------------- the local hub


class _Sink(io.TextIOBase):
    """A text stream that counts and drops what is written (handler logs, EMF metrics)."""

    def __init__(self) -> None:
        self.lines = 0
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self.lines += text.count("\n")
        return len(text)


@dataclass
class HubConsole:
    """Collects the local runtime's console lines (one per invocation) instead of printing."""

    keep: int = 300
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=300))
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.counts["lines"] += 1
        lowered = line.lower()
        if any(word in lowered for word in ("unhandled", "importmoduleerror", "timed out", "failed (")):
            self.counts["problems"] += 1
            if len(self.problems) < 20:
                self.problems.append(line[:500])
        if "kept for retry" in lowered:
            self.counts["batches_with_retries"] += 1


@dataclass
class RunningHub:
    hub: Any
    console: HubConsole
    sink: _Sink

    @property
    def api(self) -> str:
        return str(self.hub.api_url)

    @property
    def erp(self) -> str:
        return str(self.hub.simulators["erp"])

    @property
    def gc(self) -> str:
        return str(self.hub.simulators["gestaoclick"])


@contextlib.contextmanager
def local_hub(*, quiet: bool = True, parameters: dict[str, str] | None = None) -> Iterator[RunningHub]:
    """A started LocalHub (ephemeral ports, ERP + GestãoClick simulators, no schedules).

    With ``quiet`` the process's stdout is swallowed while the hub runs (Powertools writes
    one JSON log line per record and one EMF metrics blob per invocation there), so the
    handlers still do that work, as in Lambda, without flooding the terminal.
    """
    from local.runtime.hub import LocalHub
    from local.simulators.erp import make_app as make_erp_app
    from local.simulators.gestaoclick import make_app as make_gestaoclick_app

    console = HubConsole()
    sink = _Sink()
    hub = LocalHub(
        TEMPLATE,
        ROOT,
        api_port=0,
        aws_port=0,
        parameter_overrides={**HUB_PARAMETERS, **(parameters or {})},
        simulators={"erp": (make_erp_app, 0), "gestaoclick": (make_gestaoclick_app, 0)},
        run_schedules=False,
        console=console,
    )
    redirect = contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with redirect:
        started = time.perf_counter()
        hub.start()
        say(f"local hub up in {time.perf_counter() - started:.1f} s (API {hub.api_url})")
        try:
            yield RunningHub(hub, console, sink)
        finally:
            hub.stop()


def setup_store(running: RunningHub, store: str, *, rate_limit: int, window_s: float = 1.0) -> str:
    """Admin key + store + GestãoClick connection at ``rate_limit`` per ``window_s`` (the
    simulator gets the same limit). Returns the store's API key."""
    import httpx

    from local.demo import create_admin_key, setup_tenant

    admin = create_admin_key()
    key = setup_tenant(
        running.api, admin, store=store, erp_url=running.erp, gestaoclick_url=running.gc, rate_limit=rate_limit
    )
    if window_s != 1.0:
        with httpx.Client(base_url=running.api, timeout=30) as api:
            api.put(
                f"/api/v1/stores/{store}/connections/gestaoclick",
                headers={"x-api-key": key},
                json={"settings": {"base_url": running.gc, "rate_limit": rate_limit, "rate_window_s": window_s}},
            ).raise_for_status()
    httpx.post(f"{running.gc}/_sim/reset", timeout=10).raise_for_status()
    httpx.post(
        f"{running.gc}/_sim/config", json={"rate_limit": rate_limit, "window_s": window_s}, timeout=10
    ).raise_for_status()
    return key


# --------------------------------------------------------------------------- timing helpers


class Stopwatch:
    """Accumulates wall time per label across threads (``with sw.measure("x"): ...``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    @contextlib.contextmanager
    def measure(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(label, time.perf_counter() - started)

    def add(self, label: str, seconds: float, calls: int = 1) -> None:
        with self._lock:
            self.seconds[label] += seconds
            self.calls[label] += calls

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                label: {
                    "calls": self.calls[label],
                    "total_s": round(self.seconds[label], 3),
                    "mean_ms": round(1000 * self.seconds[label] / self.calls[label], 2) if self.calls[label] else 0,
                }
                for label in sorted(self.seconds, key=lambda k: -self.seconds[k])
            }


@dataclass
class Span:
    label: str
    key: Any
    start: float
    end: float
    thread: str
    value: Any = None  # the return value, when asked for
    error: str | None = None  # the exception's type name, if the call raised

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Probe:
    """Times calls of chosen methods in this process (monkeypatched for the run only).

    Used to explain the numbers (where a record's time goes); never changes behaviour:
    the wrapper calls the original and re-raises whatever it raises.
    """

    def __init__(self, keep: int = 200_000) -> None:
        self._lock = threading.Lock()
        self.spans: deque[Span] = deque(maxlen=keep)
        self.counts: Counter[tuple[str, Any, str | None]] = Counter()  # (label, key, error) -> calls
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(
        self,
        owner: Any,
        attr: str,
        label: str,
        key: Callable[..., Any] | None = None,
        *,
        keep_result: bool = False,
    ) -> None:
        original = getattr(owner, attr)
        probe = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result: Any = None
            error: str | None = None
            try:
                result = original(*args, **kwargs)
                return result
            except BaseException as exc:
                error = type(exc).__name__
                raise
            finally:
                ended = time.perf_counter()
                try:
                    ident = key(*args, **kwargs) if key else None
                except Exception:
                    ident = None
                span = Span(
                    label,
                    ident,
                    started,
                    ended,
                    threading.current_thread().name,
                    result if keep_result else None,
                    error,
                )
                with probe._lock:
                    probe.spans.append(span)
                    probe.counts[(label, ident, error)] += 1

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attr, timed)
        self._undo.append((owner, attr, original))

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()

    def of(self, label: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.label == label]

    def between(self, start: float, end: float) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.start >= start and s.end <= end]


class SchedulingMonitor:
    """Measures how late a thread wakes from a short sleep: in one busy Python process that
    is mostly waiting for the GIL (and for a CPU when the machine is loaded)."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.every_s = every_s
        self.delays_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sched-monitor", daemon=True)

    def start(self) -> SchedulingMonitor:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(2)
        return summarize_ms(self.delays_ms)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            time.sleep(self.every_s)
            self.delays_ms.append((time.perf_counter() - started - self.every_s) * 1000)


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
