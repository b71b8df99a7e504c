"""``crmhub``: the operators' command line for a local or deployed hub.

Every command talks to the hub's REST API (``--url`` / ``CRMHUB_URL``) with a key
(``--key`` / ``CRMHUB_API_KEY``) for one store (``--store`` / ``CRMHUB_STORE``); ``--json``
prints the API's JSON instead of tables. Failures print one line on stderr and exit
non-zero: 1 API error, 2 usage, 3 hub unreachable, 4 key rejected, 5 not found,
6 job still running after ``--timeout``, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from cli import render
from cli.client import DEFAULT_TIMEOUT_S, CliError, HubClient, Started
from cli.progress import wait_for_job

DEFAULT_URL = "http://127.0.0.1:3000"  # `make run` / `python -m local.runtime` (its --api-port)

ENTITY_NAMES = {
    "customer": "customer",
    "customers": "customer",
    "product": "product",
    "products": "product",
    "sale": "sale",
    "sales": "sale",
    "activity": "activity",
    "activities": "activity",
}


# Provider and Lane mirror crmhub.models.common (importing it would build every pydantic
# model on each command, ~200 ms); a unit test keeps them equal.
class Provider(StrEnum):
    """Providers the hub connects to."""

    GESTAOCLICK = "gestaoclick"
    PIPEDRIVE = "pipedrive"
    BLING = "bling"


class Side(StrEnum):
    """Which id a link is looked up by."""

    LOCAL = "local"
    EXTERNAL = "external"


class Use(StrEnum):
    """How to resolve a conflict."""

    ERP = "erp"
    CRM = "crm"
    VALUE = "value"


class ConflictStatus(StrEnum):
    """Conflict states the API filters by."""

    OPEN = "open"
    RESOLVING = "resolving"
    RESOLVED = "resolved"
    ALL = "all"


class Lane(StrEnum):
    """SQS FIFO lanes."""

    HIGH = "high"
    DEFAULT = "default"
    LOW = "low"


@dataclass
class Overrides:
    """What tests inject through ``CliRunner.invoke(app, …, obj=Overrides(...))``."""

    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass
class Session:
    """The global options of one invocation."""

    url: str
    key: str | None
    store: str | None
    json_output: bool
    timeout_s: float
    overrides: Overrides = field(default_factory=Overrides)

    def client(self) -> HubClient:
        return HubClient(self.url, self.key, self.store, transport=self.overrides.transport, timeout_s=self.timeout_s)


app = typer.Typer(
    name="crmhub",
    help="Operate a crmhub (local or deployed): stats, bulk sync, imports, jobs, links, logs, conflicts, dead letters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sync_app = typer.Typer(help="Start syncs.", no_args_is_help=True)
links_app = typer.Typer(help="Entity links (ERP id ⇄ provider id).", no_args_is_help=True)
conflicts_app = typer.Typer(help="Records edited on both sides since the last sync.", no_args_is_help=True)
dead_letters_app = typer.Typer(help="Messages that failed for good: inspect, retry, archive, delete.")
app.add_typer(sync_app, name="sync")
app.add_typer(links_app, name="links")
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(dead_letters_app, name="dead-letters", no_args_is_help=True)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="CRMHUB_URL", help="The hub's API base URL.")] = DEFAULT_URL,
    key: Annotated[
        str | None, typer.Option(envvar="CRMHUB_API_KEY", help="The store's (or an admin) API key.", show_default=False)
    ] = None,
    store: Annotated[str | None, typer.Option(envvar="CRMHUB_STORE", help="The store (tenant) id.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")] = False,
    timeout: Annotated[float, typer.Option(help="HTTP timeout per request, in seconds.", min=0.1)] = DEFAULT_TIMEOUT_S,
) -> None:
    """Global options (flags or environment variables)."""
    overrides = ctx.obj if isinstance(ctx.obj, Overrides) else Overrides()
    ctx.obj = Session(url=url, key=key, store=store, json_output=json_output, timeout_s=timeout, overrides=overrides)


# ---------------------------------------------------------------------- helpers


@contextmanager
def _hub(ctx: typer.Context) -> Iterator[tuple[HubClient, Session]]:
    """The client, with every failure turned into one line on stderr and an exit code."""
    session: Session = ctx.obj
    client = session.client()
    try:
        yield client, session
    except CliError as exc:
        if session.json_output:
            typer.echo(json.dumps(exc.as_json()), err=True)
        else:
            Console(stderr=True).print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted (jobs already started carry on in the hub)")
        raise typer.Exit(130) from None
    finally:
        client.close()


PIPE_WIDTH = 200  # when piped (no terminal, no COLUMNS): wide enough that tables keep their ids whole


def _console() -> Console:
    # soft_wrap: one-line messages stay one line when piped (grep, scripts).
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(highlight=False, soft_wrap=True, width=PIPE_WIDTH if piped else None)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _output(session: Session, data: Any, show: Callable[[Console], object]) -> None:
    """``--json`` prints the API's answer as it came; otherwise ``show`` renders it."""
    if session.json_output:
        _print_json(data)
    else:
        show(_console())


def _entity(value: str) -> str:
    try:
        return ENTITY_NAMES[value.lower()]
    except KeyError:
        raise typer.BadParameter(
            f"{value!r} is not an entity; use one of: customers, products, sales, activities"
        ) from None


EntityArg = Annotated[
    str, typer.Argument(help="customers, products, sales or activities (singular works too).", callback=_entity)
]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Return once the job is started; do not follow it.")]
Interval = Annotated[float, typer.Option(help="Seconds between progress polls.", min=0.05)]
WaitTimeout = Annotated[float, typer.Option("--wait-timeout", help="Stop following after this many seconds.", min=1)]


def _follow(
    client: HubClient, session: Session, started: Started, *, no_wait: bool, interval: float, timeout: float
) -> None:
    """Report a started (or already running) job and, unless told not to, follow it to the end."""
    job = started.job
    console = None if session.json_output else _console()
    if console is not None:
        if started.created:
            console.print(f"started {job.get('kind')} job {job.get('job_id')}")
        else:
            console.print(
                f"a {job.get('kind')} job for {job.get('entity')} is already running: {job.get('job_id')} "
                f"(started {job.get('created_at')}); showing it instead of starting another"
            )
    if not no_wait:
        job = wait_for_job(
            client,
            job,
            console=console,
            interval_s=interval,
            timeout_s=timeout,
            sleep=session.overrides.sleep,
            clock=session.overrides.clock,
        )
    if console is None:
        _print_json(job)
    elif no_wait:
        console.print(render.job_summary(job))
        console.print(f"follow it with: crmhub job {job.get('job_id')} --watch")
    else:
        console.print(render.job_summary(job))


# ---------------------------------------------------------------------- commands


@app.command()
def stats(ctx: typer.Context) -> None:
    """Processed today, errors in 24 h, success rate, per entity and provider, lane depths."""
    with _hub(ctx) as (client, session):
        store = client.store_info()  # a clear 404 for a store that does not exist
        body = client.stats()
        _output(session, body, lambda console: render.stats(console, store, body))


@sync_app.command("bulk")
def sync_bulk(
    ctx: typer.Context,
    entity: EntityArg,
    no_wait: NoWait = False,
    interval: Interval = 0.5,
    wait_timeout: WaitTimeout = 1800,
) -> None:
    """Enqueue every active customer/product, the last 30 days of sales or the open activities.

    Idempotent: while a job runs, running this again shows that job; records already
    enqueued with the same version are counted as duplicates, not sent again."""
    with _hub(ctx) as (client, session):
        started = client.start_bulk(entity)
        _follow(client, session, started, no_wait=no_wait, interval=interval, timeout=wait_timeout)


@sync_app.command("record")
def sync_record(
    ctx: typer.Context,
    entity: EntityArg,
    local_id: Annotated[str, typer.Argument(help="The record's id in the ERP.")],
) -> None:
    """Sync one record now: the hub reads it from the ERP and sends it to every connection."""
    with _hub(ctx) as (client, session):
        body = client.sync_record(entity, local_id)
        if session.json_output:
            _print_json(body)
        else:
            providers = ", ".join(body.get("providers") or []) or "no connection"
            change = body.get("change_id")
            _console().print(f"{entity} {local_id}: {body.get('status')} → {providers} (change {change})")
            _console().print(f"follow it with: crmhub logs {entity} {local_id}")


@app.command("import")
def import_(
    ctx: typer.Context,
    provider: Annotated[Provider, typer.Argument(help="The provider to import from.")],
    entity: EntityArg,
    no_wait: NoWait = False,
    interval: Interval = 0.5,
    wait_timeout: WaitTimeout = 1800,
) -> None:
    """Run the incremental import from a provider now (the 10-minute schedule's run)."""
    with _hub(ctx) as (client, session):
        started = client.start_import(str(provider), entity)
        _follow(client, session, started, no_wait=no_wait, interval=interval, timeout=wait_timeout)


@app.command("jobs")
def list_jobs(
    ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=100)] = 20
) -> None:
    """Bulk, import and initial-sync jobs, newest first."""
    with _hub(ctx) as (client, session):
        items = client.jobs(limit)
        _output(session, items, lambda console: render.jobs(console, items))


@app.command("job")
def show_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id (from `crmhub jobs`).")],
    watch: Annotated[bool, typer.Option("--watch", help="Follow it with a progress bar until it finishes.")] = False,
    interval: Interval = 0.5,
    wait_timeout: WaitTimeout = 1800,
) -> None:
    """One job's progress."""
    with _hub(ctx) as (client, session):
        job = client.job(job_id)
        if watch:
            console = None if session.json_output else _console()
            job = wait_for_job(
                client,
                job,
                console=console,
                interval_s=interval,
                timeout_s=wait_timeout,
                sleep=session.overrides.sleep,
                clock=session.overrides.clock,
            )
        _output(session, job, lambda console: render.job(console, job))


@links_app.command("local")
def link_local(
    ctx: typer.Context,
    provider: Annotated[Provider, typer.Argument()],
    entity: EntityArg,
    local_id: Annotated[str, typer.Argument(help="The record's id in the ERP.")],
) -> None:
    """The provider's id of an ERP record."""
    _link(ctx, Side.LOCAL, provider, entity, local_id)


@links_app.command("external")
def link_external(
    ctx: typer.Context,
    provider: Annotated[Provider, typer.Argument()],
    entity: EntityArg,
    external_id: Annotated[str, typer.Argument(help="The record's id in the provider.")],
) -> None:
    """The ERP's id of a provider record."""
    _link(ctx, Side.EXTERNAL, provider, entity, external_id)


def _link(ctx: typer.Context, side: Side, provider: Provider, entity: str, record_id: str) -> None:
    with _hub(ctx) as (client, session):
        body = client.link(str(side), str(provider), entity, record_id)
        _output(session, body, lambda console: render.link(console, body))


@app.command()
def logs(
    ctx: typer.Context,
    entity: EntityArg,
    local_id: Annotated[str, typer.Argument(help="The record's id in the ERP.")],
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """A record's sync log (every attempt, newest first)."""
    with _hub(ctx) as (client, session):
        items = client.logs(entity, local_id, limit)
        _output(session, items, lambda console: render.logs(console, f"sync log of {entity} {local_id}", items))


@app.command()
def errors(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=200)] = 50) -> None:
    """Recent sync errors with the provider's message, newest first."""
    with _hub(ctx) as (client, session):
        items = client.errors(limit)
        _output(session, items, lambda console: render.logs(console, "recent sync errors", items))


@conflicts_app.command("list")
def conflicts_list(
    ctx: typer.Context,
    status: Annotated[ConflictStatus, typer.Option(help="Which conflicts.")] = ConflictStatus.OPEN,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 100,
) -> None:
    """Conflicts, newest first."""
    with _hub(ctx) as (client, session):
        items = client.conflicts(str(status), limit)
        _output(session, items, lambda console: render.conflicts(console, items))


@conflicts_app.command("show")
def conflicts_show(ctx: typer.Context, conflict_id: Annotated[str, typer.Argument()]) -> None:
    """The ERP's value, the CRM's and their common base, side by side."""
    with _hub(ctx) as (client, session):
        body = client.conflict(conflict_id)
        _output(session, body, lambda console: render.conflict(console, body))


@conflicts_app.command("resolve")
def conflicts_resolve(
    ctx: typer.Context,
    conflict_id: Annotated[str, typer.Argument()],
    use: Annotated[Use, typer.Option(help="Keep the ERP's value, the CRM's, or supply one with --value.")],
    value: Annotated[
        str | None, typer.Option(help="The value as JSON (with --use value), e.g. '\"Maria\"' or 42.")
    ] = None,
) -> None:
    """Record the decision; the hub writes the chosen value to both systems."""
    parsed: Any = None
    if use is Use.VALUE:
        if value is None:
            raise typer.BadParameter("--use value needs --value JSON", param_hint="--value")
        try:
            parsed = json.loads(value)
        except ValueError:
            raise typer.BadParameter(
                f"not JSON: {value!r} (quote a text: --value '\"text\"')", param_hint="--value"
            ) from None
    elif value is not None:
        raise typer.BadParameter("--value only goes with --use value", param_hint="--value")
    with _hub(ctx) as (client, session):
        body = client.resolve_conflict(conflict_id, str(use), parsed)
        if session.json_output:
            _print_json(body)
        else:
            _console().print(f"conflict {conflict_id}: {body.get('status')} with the {use} value")


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context,
    lane: Annotated[Lane | None, typer.Option(help="Only this lane.")] = None,
    status: Annotated[str, typer.Option(help="open, archived, … (as the hub names them).")] = "open",
) -> None:
    """Dead letters and the DLQ depth per lane."""
    with _hub(ctx) as (client, session):
        body = client.dead_letters(str(lane) if lane else None, status)
        _output(session, body, lambda console: render.dead_letters(console, body))


@dead_letters_app.command("show")
def dead_letters_show(ctx: typer.Context, dead_letter_id: Annotated[str, typer.Argument()]) -> None:
    """One dead letter with its last error and its message."""
    with _hub(ctx) as (client, session):
        body = client.dead_letter(dead_letter_id)
        _output(session, body, lambda console: render.dead_letter(console, body))


@dead_letters_app.command("retry")
def dead_letters_retry(ctx: typer.Context, dead_letter_id: Annotated[str, typer.Argument()]) -> None:
    """Send it back to its lane."""
    with _hub(ctx) as (client, session):
        body = client.retry_dead_letter(dead_letter_id)
        if session.json_output:
            _print_json(body)
        else:
            _console().print(f"dead letter {dead_letter_id} sent back to its lane")


@dead_letters_app.command("retry-all")
def dead_letters_retry_all(ctx: typer.Context) -> None:
    """Send every open dead letter of the store back to its lane."""
    with _hub(ctx) as (client, session):
        body = client.retry_all_dead_letters()
        if session.json_output:
            _print_json(body)
        else:
            _console().print(f"{body.get('retried', 0)} dead letters sent back (method: {body.get('method')})")


@dead_letters_app.command("archive")
def dead_letters_archive(ctx: typer.Context, dead_letter_id: Annotated[str, typer.Argument()]) -> None:
    """Keep it for the record, out of the open list."""
    with _hub(ctx) as (client, session):
        body = client.archive_dead_letter(dead_letter_id)
        if session.json_output:
            _print_json(body)
        else:
            _console().print(f"dead letter {dead_letter_id} archived")


@dead_letters_app.command("delete")
def dead_letters_delete(
    ctx: typer.Context,
    dead_letter_id: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete it for good (the message is lost)."""
    if not yes:
        typer.confirm(f"delete dead letter {dead_letter_id} for good?", abort=True)
    with _hub(ctx) as (client, session):
        client.delete_dead_letter(dead_letter_id)
        if session.json_output:
            _print_json({"deleted": dead_letter_id})
        else:
            _console().print(f"dead letter {dead_letter_id} deleted")


if __name__ == "__main__":  # pragma: no cover - `python -m cli.main`
    app()
