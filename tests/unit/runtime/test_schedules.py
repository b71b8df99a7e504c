"""schedules.py: rate/cron/at parsing with time zones, cadence, on-demand runs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from local.runtime import LocalHub
from local.runtime.schedules import (
    Cron,
    Rate,
    ScheduleExpressionError,
    Scheduler,
    UnknownScheduleError,
    parse_expression,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def next_run(expression: str, after: datetime, tz: str = "UTC") -> datetime | None:
    parsed = parse_expression(expression, tz)
    local_after = after.astimezone(ZoneInfo(tz))
    return parsed.next_after(local_after, local_after)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(10 minutes)", 600),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 3 * 86400),
    ],
)
def test_rate(expression: str, seconds: int) -> None:
    parsed = parse_expression(expression)
    assert isinstance(parsed, Rate) and parsed.interval == timedelta(seconds=seconds)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    assert parsed.next_after(anchor, anchor) == anchor + parsed.interval
    assert parsed.next_after(anchor + parsed.interval * 2.5, anchor) == anchor + parsed.interval * 3


@pytest.mark.parametrize(
    ("expression", "after", "tz", "expected"),
    [
        # the project's own schedules (America/Sao_Paulo is UTC-3, no DST)
        (
            "cron(30 3 * * ? *)",
            datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
            "America/Sao_Paulo",
            datetime(2026, 11, 23, 6, 30, tzinfo=UTC),
        ),
        (
            "cron(30 3 * * ? *)",
            datetime(2026, 11, 23, 6, 30, tzinfo=UTC),
            "America/Sao_Paulo",
            datetime(2026, 11, 24, 6, 30, tzinfo=UTC),
        ),
        (
            "cron(0 4 ? * SUN *)",
            datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
            "America/Sao_Paulo",
            datetime(2026, 11, 29, 7, 0, tzinfo=UTC),
        ),
        # ranges, steps, lists, names, numeric day-of-week (1 = SUN)
        (
            "cron(0/15 9-17 ? * MON-FRI *)",
            datetime(2026, 11, 27, 17, 50, tzinfo=UTC),
            "UTC",
            datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        ),
        (
            "cron(0/15 9-17 ? * MON-FRI *)",
            datetime(2026, 11, 23, 9, 1, tzinfo=UTC),
            "UTC",
            datetime(2026, 11, 23, 9, 15, tzinfo=UTC),
        ),
        (
            "cron(0 8,20 * * ? *)",
            datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
            "UTC",
            datetime(2026, 11, 23, 20, 0, tzinfo=UTC),
        ),
        ("cron(0 0 1 JAN,JUL ? *)", datetime(2026, 2, 1, tzinfo=UTC), "UTC", datetime(2026, 7, 1, tzinfo=UTC)),
        ("cron(0 12 ? * 2 *)", datetime(2026, 11, 24, tzinfo=UTC), "UTC", datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),
        ("cron(0 0 L * ? *)", datetime(2026, 2, 3, tzinfo=UTC), "UTC", datetime(2026, 2, 28, tzinfo=UTC)),
        ("cron(0 10 ? * 6L *)", datetime(2026, 11, 1, tzinfo=UTC), "UTC", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("cron(0 10 ? * MON#1 *)", datetime(2026, 11, 3, tzinfo=UTC), "UTC", datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2028)", datetime(2026, 11, 23, tzinfo=UTC), "UTC", datetime(2028, 1, 1, tzinfo=UTC)),
        # 02:30 does not exist in New York on 2026-03-08 (DST starts): that day is skipped
        (
            "cron(30 2 * * ? *)",
            datetime(2026, 3, 7, 12, 0, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_cron(expression: str, after: datetime, tz: str, expected: datetime) -> None:
    result = next_run(expression, after, tz)
    assert result is not None
    assert result.astimezone(UTC) == expected
    assert str(result.tzinfo) == tz


def test_at() -> None:
    parsed = parse_expression("at(2030-01-01T09:00:00)", "America/Sao_Paulo")
    start = datetime(2029, 1, 1, tzinfo=UTC)
    assert parsed.next_after(start, start) == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parsed.next_after(datetime(2031, 1, 1, tzinfo=UTC), start) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(0 minutes)", "at least 1"),
        ("rate(1 minutes)", "use '1 minute'"),
        ("rate(5 minute)", "'N minutes'"),
        ("rate(2 weeks)", "expected rate(...), cron(...) or at(...)"),
        ("cron(0 12 * * *)", "cron needs 6 fields"),
        ("cron(0 12 * * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 12 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(61 * * * ? *)", "outside 0-59"),
        ("cron(0 0 15W * ? *)", "W (nearest weekday)"),
        ("cron(0 0 ? * FUNDAY *)", "not a number or a name"),
        ("every 5 minutes", "expected rate(...)"),
    ],
)
def test_bad_expressions(expression: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError) as info:
        parse_expression(expression)
    assert message in str(info.value)


def test_unknown_timezone() -> None:
    with pytest.raises(ScheduleExpressionError, match="unknown time zone 'Mars/Olympus'"):
        parse_expression("at(2030-01-01T00:00:00)", "Mars/Olympus")
    assert isinstance(parse_expression("cron(0 0 * * ? *)"), Cron)


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    with LocalHub(
        FIXTURE / "template.yaml",
        FIXTURE,
        api_port=0,
        aws_port=0,
        run_pollers=False,
        run_schedules=False,
        console=lambda line: None,
    ) as running:
        yield running


def cron_events(hub: LocalHub) -> list[dict]:
    assert hub.invoker is not None
    return sys.modules[hub.invoker.load("CronFunction").__module__].EVENTS


def test_run_schedule_on_demand_sends_the_scheduler_event(hub: LocalHub) -> None:
    before = len(cron_events(hub))
    result = hub.run_schedule("rt-dev-tick")
    assert result.ok and result.function == "CronFunction"
    event = cron_events(hub)[before]
    assert event["source"] == "aws.scheduler"
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/rt-dev-tick"]
    assert (event["account"], event["region"], event["version"], event["detail"]) == (
        "123456789012",
        "us-east-1",
        "0",
        {},
    )
    assert abs(
        datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - datetime.now(UTC)
    ) < timedelta(seconds=10)
    assert event["id"]


def test_run_schedule_by_event_name_and_input(hub: LocalHub) -> None:
    assert hub.run_schedule("Daily").ok
    before = len(cron_events(hub))
    hub.run_schedule("CronFunction.Legacy")
    assert cron_events(hub)[before] == {"kind": "legacy"}  # Input is passed as is
    with pytest.raises(UnknownScheduleError, match="matches several schedules"):
        hub.run_schedule("CronFunction")
    with pytest.raises(UnknownScheduleError, match="no schedule 'nope'"):
        hub.run_schedule("nope")


def test_http_controls(hub: LocalHub) -> None:
    with httpx.Client(base_url=hub.api_url, timeout=10) as client:
        listing = client.get("/_local/schedules").json()["schedules"]
        by_name = {s["name"]: s for s in listing}
        assert set(by_name) == {"rt-dev-tick", "rt-dev-daily", "crmhub-local-CronFunctionLegacy"}
        daily = by_name["rt-dev-daily"]
        assert daily["timezone"] == "America/Sao_Paulo" and daily["next_run"].endswith("03:30:00-03:00")
        r = client.post("/_local/schedules/rt-dev-daily")
        assert r.status_code == 200
        body = r.json()
        assert body["outcome"] == "ok" and body["function"] == "CronFunction" and body["result"]["seen"] >= 1
        assert client.post("/_local/schedules/nope").status_code == 404
        after = {s["name"]: s for s in client.get("/_local/schedules").json()["schedules"]}
        assert after["rt-dev-daily"]["runs"] == daily["runs"] + 1


def test_cadence_fires_on_time(hub: LocalHub) -> None:
    assert hub.model is not None and hub.invoker is not None
    clock = {"now": datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)}
    lock = threading.Lock()

    def now() -> datetime:
        with lock:
            return clock["now"]

    scheduler = Scheduler(hub.model, hub.invoker, console=lambda line: None, now=now)
    tick = scheduler.find("rt-dev-tick")
    assert tick.next_run == datetime(2026, 11, 23, 12, 1, 10, tzinfo=UTC)
    before = len(cron_events(hub))
    scheduler.start()
    try:
        time.sleep(0.2)
        assert len(cron_events(hub)) == before  # not yet due
        with lock:
            clock["now"] += timedelta(seconds=61)
        deadline = time.monotonic() + 5
        while len(cron_events(hub)) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        fired = [e for e in cron_events(hub)[before:] if isinstance(e, dict) and "resources" in e]
        assert fired and fired[0]["time"] == "2026-11-23T12:01:10Z"
        assert fired[0]["resources"][0].endswith("/rt-dev-tick")
        assert tick.next_run == datetime(2026, 11, 23, 12, 2, 10, tzinfo=UTC)
    finally:
        started = time.monotonic()
        assert scheduler.stop(timeout=3)
        assert time.monotonic() - started < 2
