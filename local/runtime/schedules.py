"""Schedule / ScheduleV2 events: run on their cadence, or on demand.

moto stores schedules but never fires them, so the runtime does. Expressions:
``rate(N minute|minutes|hour|hours|day|days)``, ``cron(min hour dom month dow year)``
(AWS's 6 fields: ``*``, ``?``, lists, ranges, steps, ``JAN-DEC``, ``SUN-SAT`` or 1-7
with 1 = Sunday, ``L`` in day-of-month and day-of-week, ``n#k``) and ``at(yyyy-mm-ddThh:mm:ss)``.
``ScheduleExpressionTimezone`` is honoured through ``zoneinfo`` (``croniter`` is not
installed, so this is a small parser of its own). A rate schedule first fires one period
after start, like a newly created schedule.

The event is EventBridge Scheduler's default payload for ScheduleV2 (source
``aws.scheduler``) and an EventBridge rule's for Schedule (source ``aws.events``), unless
the event sets ``Input``, which is then passed as is.
"""

from __future__ import annotations

import calendar
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .context import InvocationResult, Invoker
from .template import Function, LocalRuntimeError, ScheduleEvent, TemplateModel

Console = Callable[[str], None]


class ScheduleExpressionError(LocalRuntimeError):
    """A schedule expression the runtime cannot parse."""


class UnknownScheduleError(LocalRuntimeError, KeyError):
    """No schedule with that name (or function logical id)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------- expressions

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_MONTHS = {
    m: i
    for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


@dataclass(frozen=True)
class Rate:
    interval: timedelta

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """Next tick after ``after`` on the grid ``anchor + k * interval`` (k >= 1)."""
        if after < anchor:
            return anchor + self.interval
        periods = int((after - anchor) / self.interval) + 1
        return anchor + periods * self.interval


@dataclass(frozen=True)
class At:
    when: datetime  # aware, in the schedule's zone

    def next_after(self, after: datetime, anchor: datetime) -> datetime | None:
        return self.when if self.when > after else None


def _parse_value(token: str, names: dict[str, int] | None, where: str) -> int:
    token = token.upper()
    if names and token in names:
        return names[token]
    if not token.isdigit():
        raise ScheduleExpressionError(f"{where}: {token!r} is not a number" + (" or a name" if names else ""))
    return int(token)


def _parse_field(text: str, lo: int, hi: int, names: dict[str, int] | None, where: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleExpressionError(f"{where}: empty list item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"{where}: bad step {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _parse_value(a, names, where), _parse_value(b, names, where)
        else:
            start = _parse_value(base, names, where)
            end = hi if step_text else start
        if not (lo <= start <= hi and lo <= end <= hi):
            raise ScheduleExpressionError(f"{where}: {part!r} is outside {lo}-{hi}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # wrap-around range such as FRI-MON
            span = list(range(start, hi + 1)) + list(range(lo, end + 1))
            values.update(span[::step])
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str  # raw day-of-month field ("?" when unused)
    months: frozenset[int]
    dow: str  # raw day-of-week field ("?" when unused)
    years: frozenset[int] | None
    _dom_values: frozenset[int] | None
    _dow_values: frozenset[int] | None

    @classmethod
    def parse(cls, body: str, where: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(
                f"{where}: cron needs 6 fields (minute hour day-of-month month day-of-week year), got {len(fields)}"
            )
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(f"{where}: exactly one of day-of-month and day-of-week must be '?'")
        dom_values = None
        if dom != "?" and dom != "L":
            if "W" in dom.upper():
                raise ScheduleExpressionError(f"{where}: the W (nearest weekday) wildcard is not supported locally")
            dom_values = _parse_field(dom, 1, 31, None, f"{where} day-of-month")
        dow_values = None
        if dow != "?" and not re.fullmatch(r"(\w+)(L|#\d)", dow.upper()):
            dow_values = _parse_field(dow, 1, 7, _DAYS, f"{where} day-of-week")
        elif dow != "?":
            match = re.fullmatch(r"(\w+)(L|#(\d))", dow.upper())
            assert match
            _parse_value(match.group(1), _DAYS, f"{where} day-of-week")
            if match.group(3) and not 1 <= int(match.group(3)) <= 5:
                raise ScheduleExpressionError(f"{where}: day-of-week {dow!r}: the # index must be 1-5")
        return cls(
            minutes=_parse_field(minute, 0, 59, None, f"{where} minutes"),
            hours=_parse_field(hour, 0, 23, None, f"{where} hours"),
            dom=dom.upper(),
            months=_parse_field(month, 1, 12, _MONTHS, f"{where} month"),
            dow=dow.upper(),
            years=None if year == "*" else _parse_field(year, 1970, 2199, None, f"{where} year"),
            _dom_values=dom_values,
            _dow_values=dow_values,
        )

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        last = calendar.monthrange(day.year, day.month)[1]
        if self.dom != "?":
            return day.day == last if self.dom == "L" else day.day in (self._dom_values or ())
        aws_dow = (day.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
        if self._dow_values is not None:
            return aws_dow in self._dow_values
        match = re.fullmatch(r"(\w+)(L|#(\d))", self.dow)
        assert match
        wanted = _parse_value(match.group(1), _DAYS, "day-of-week")
        if aws_dow != wanted:
            return False
        if match.group(2) == "L":
            return day.day + 7 > last
        return (day.day - 1) // 7 + 1 == int(match.group(3))

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime | None:
        """First firing strictly after ``after`` (aware), in ``after``'s time zone."""
        tz = after.tzinfo
        start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(366 * 8):
            if self.matches_day(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        # skip wall-clock times that do not exist (DST gap)
                        round_trip = candidate.astimezone(UTC).astimezone(tz)
                        if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
                            continue
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def parse_expression(expression: str, timezone: str = "UTC") -> Rate | Cron | At:
    expr = expression.strip()
    where = f"schedule expression {expression!r}"
    match = _RATE.match(expr)
    if match:
        value, unit = int(match.group(1)), match.group(2)
        if value < 1:
            raise ScheduleExpressionError(f"{where}: the rate must be at least 1")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleExpressionError(f"{where}: use '1 {unit.rstrip('s')}' or 'N {unit.rstrip('s')}s'")
        seconds = {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
        return Rate(timedelta(seconds=value * seconds))
    if expr.startswith("cron(") and expr.endswith(")"):
        return Cron.parse(expr[5:-1], where)
    if expr.startswith("at(") and expr.endswith(")"):
        try:
            when = datetime.strptime(expr[3:-1], "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 - zone set below
        except ValueError:
            raise ScheduleExpressionError(f"{where}: at() needs yyyy-mm-ddThh:mm:ss") from None
        return At(when.replace(tzinfo=_zone(timezone)))
    raise ScheduleExpressionError(f"{where}: expected rate(...), cron(...) or at(...)")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(f"unknown time zone {name!r}") from None


# --------------------------------------------------------------------------- runner


@dataclass
class ScheduleState:
    function: Function
    event: ScheduleEvent
    expression: Rate | Cron | At
    zone: ZoneInfo
    anchor: datetime
    next_run: datetime | None = None
    last_run: datetime | None = None
    last_outcome: str | None = None
    runs: int = 0

    @property
    def name(self) -> str:
        return self.event.schedule_name

    def compute_next(self, after: datetime) -> datetime | None:
        local_after = after.astimezone(self.zone)
        return self.expression.next_after(local_after, self.anchor)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "event": self.event.name,
            "function": self.function.logical_id,
            "type": self.event.type,
            "expression": self.event.expression,
            "timezone": self.event.timezone,
            "enabled": self.event.enabled,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "last_outcome": self.last_outcome,
            "runs": self.runs,
        }


def build_event(model: TemplateModel, event: ScheduleEvent, when: datetime) -> Any:
    """The payload EventBridge Scheduler (or an EventBridge rule) passes to the function."""
    if event.input is not None:
        try:
            return json.loads(event.input)
        except ValueError:
            return event.input
    r, a = model.region, model.account_id
    if event.type == "ScheduleV2":
        source = "aws.scheduler"
        resource = f"arn:aws:scheduler:{r}:{a}:schedule/{event.group_name}/{event.schedule_name}"
    else:
        source, resource = "aws.events", f"arn:aws:events:{r}:{a}:rule/{event.schedule_name}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": source,
        "account": a,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": r,
        "resources": [resource],
        "detail": {},
    }


class Scheduler:
    """Fires every schedule of the template on its cadence (one thread each)."""

    def __init__(
        self,
        model: TemplateModel,
        invoker: Invoker,
        *,
        console: Console = print,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.model = model
        self.invoker = invoker
        self.console = console
        self._now = now or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        started = self._now()
        self.states: list[ScheduleState] = []
        for fn, ev in model.schedules():
            zone = _zone(ev.timezone)
            state = ScheduleState(
                fn, ev, parse_expression(ev.expression, ev.timezone), zone, anchor=started.astimezone(zone)
            )
            state.next_run = state.compute_next(started) if ev.enabled else None
            self.states.append(state)

    def find(self, name: str) -> ScheduleState:
        """By schedule name, event name, or function logical id (if it has one schedule)."""
        exact = [s for s in self.states if name in (s.name, f"{s.function.logical_id}.{s.event.name}")]
        if not exact:
            exact = [s for s in self.states if s.event.name == name]
        if not exact:
            exact = [s for s in self.states if s.function.logical_id == name]
        if len(exact) == 1:
            return exact[0]
        known = ", ".join(s.name for s in self.states) or "none"
        if not exact:
            raise UnknownScheduleError(f"no schedule {name!r} (known: {known})")
        raise UnknownScheduleError(f"{name!r} matches several schedules ({', '.join(s.name for s in exact)})")

    def run(self, name: str, *, when: datetime | None = None, trigger: str = "on demand") -> InvocationResult:
        state = self.find(name)
        fire_time = when or self._now()
        event = build_event(self.model, state.event, fire_time)
        result = self.invoker.invoke(state.function.logical_id, event, f"schedule {state.name}")
        with self._lock:
            state.last_run = fire_time
            state.runs += 1
            state.last_outcome = "ok" if result.ok else f"error {result.error_type}"
        self.console(
            f"{state.function.logical_id:<24} schedule {state.name} ({trigger})  -> "
            f"{state.last_outcome} ({result.timing})"
        )
        return result

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.describe() for s in self.states]

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for state in self.states:
            if state.next_run is None:
                continue
            thread = threading.Thread(target=self._loop, args=(state,), name=f"schedule-{state.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self, state: ScheduleState) -> None:
        while not self._stop.is_set():
            due = state.next_run
            if due is None:
                return
            remaining = (due - self._now()).total_seconds()
            if remaining > 0:
                self._stop.wait(min(remaining, 1.0))
                continue
            try:
                self.run(state.name, when=due, trigger="cadence")
            except Exception as exc:  # keep the schedule alive
                self.console(f"schedule {state.name}: {type(exc).__name__}: {exc}")
            with self._lock:
                state.next_run = state.compute_next(max(due, self._now()))

    def stop(self, timeout: float = 5.0) -> bool:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = alive
        return not alive
