"""Follow a job until it finishes: poll ``GET …/jobs/{job_id}`` and show a progress bar
of records read against the total (indeterminate until the total is known)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli import render
from cli.client import CliError, HubClient


class StillRunning(CliError):
    """The job did not finish within ``--timeout``; it carries on in the hub."""

    exit_code = 6


def wait_for_job(
    hub: HubClient,
    job: dict[str, Any],
    *,
    console: Console | None,
    interval_s: float,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the job until its status is final; with a console, draw the progress bar."""
    deadline = clock() + timeout_s
    if console is None:
        while job.get("status") not in render.FINISHED:
            _check_deadline(job, clock(), deadline, timeout_s)
            sleep(interval_s)
            job = hub.job(str(job["job_id"]))
        return job
    what = " ".join(str(p) for p in (job.get("kind"), job.get("provider"), job.get("entity")) if p)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(what, total=None, status="")
        _update(progress, task, job)
        while job.get("status") not in render.FINISHED:
            _check_deadline(job, clock(), deadline, timeout_s)
            sleep(interval_s)
            job = hub.job(str(job["job_id"]))
            _update(progress, task, job)
    return job


def _update(progress: Progress, task: TaskID, job: dict[str, Any]) -> None:
    read = int(job.get("records_read") or 0)
    total = int(job.get("total") or 0) or None
    if job.get("status") in render.FINISHED and total is None:
        total = read  # nothing told us the total (imports): a finished job read everything
    progress.update(task, completed=read, total=total, status=str(job.get("status")), refresh=True)


def _check_deadline(job: dict[str, Any], now: float, deadline: float, timeout_s: float) -> None:
    if now >= deadline:
        raise StillRunning(
            f"job {job.get('job_id')} is still {job.get('status')} after {timeout_s:g} s; "
            f"it carries on in the hub: follow it with `crmhub job {job.get('job_id')} --watch`",
            code="still_running",
        )
