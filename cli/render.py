"""Rich tables for the hub's answers. Every function takes the console to print on and
the API's JSON (no model of its own: the CLI shows what the hub says)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

# Sync log statuses in the order the per entity/provider table shows them.
_STATUS_ORDER = ("success", "skipped", "retry", "error")
# Job statuses that mean "nothing more will happen": bulk jobs end "done", import runs "idle".
FINISHED = frozenset({"done", "idle", "failed"})


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def when(value: Any) -> Any:
    """An ISO timestamp as "2026-11-23 10:00:05" (UTC); anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, ids: Sequence[str] = ()
) -> Table:
    """A table; the ``ids`` columns are never cut (an operator copies them into the next command)."""
    cells = [[_text(v) for v in row] for row in rows]
    table = Table(title=title)
    for i, column in enumerate(columns):
        if column in ids:
            widest = max((len(row[i]) for row in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    return table


def _key_values(title: str, pairs: Iterable[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, min_width=len(title) + 4)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in pairs:
        table.add_row(key, _text(when(value) if key.endswith("_at") else value))
    return table


def percent(rate: float | None) -> str:
    """0.9871 → "98.7 %" (None: nothing finished yet)."""
    return "—" if rate is None else f"{rate * 100:.1f} %"


def stats(console: Console, store: dict[str, Any], body: dict[str, Any]) -> None:
    """Headline counters, the per entity/provider table and the lanes' depths."""
    console.print(
        _key_values(
            f"store {store.get('store_id')} ({store.get('name')}) — last {body.get('window_hours', 24)} h",
            [
                ("processed today", body.get("processed_today")),
                ("errors (24 h)", body.get("errors_24h")),
                ("retries (24 h)", body.get("retries_24h")),
                ("retrying now", body.get("retrying_now")),
                ("success rate", percent(body.get("success_rate"))),
            ],
        )
    )
    per_key = body.get("by_entity_provider") or []
    extra = sorted({k for row in per_key for k in row if k not in ("entity", "provider", *_STATUS_ORDER)})
    statuses = [*_STATUS_ORDER, *extra]
    if per_key:
        console.print(
            _table(
                "by entity and provider (24 h)",
                ["entity", "provider", *statuses],
                ([row.get("entity"), row.get("provider"), *(row.get(s, 0) for s in statuses)] for row in per_key),
            )
        )
    else:
        console.print("no sync activity in the last 24 h")
    queues = body.get("queues") or {}
    if queues:
        console.print(
            _table(
                "queue depths (all stores)",
                ["lane", "visible", "in flight", "delayed"],
                ([lane, d.get("visible"), d.get("in_flight"), d.get("delayed")] for lane, d in queues.items()),
            )
        )


def job_summary(job: dict[str, Any]) -> str:
    """One line: what the job is, its status and its counters."""
    what = " ".join(str(p) for p in (job.get("kind"), job.get("provider"), job.get("entity")) if p)
    total = job.get("total") or 0
    read = job.get("records_read", 0)
    progress = f"{read}/{total}" if total else f"{read}"
    counters = ", ".join(f"{k} {v}" for k, v in (job.get("details") or {}).items() if isinstance(v, int))
    return f"{what} job {job.get('job_id')}: {job.get('status')}, records read {progress}" + (
        f" ({counters})" if counters else ""
    )


def job(console: Console, body: dict[str, Any]) -> None:
    """One job with its details."""
    pairs = [(k, body.get(k)) for k in ("job_id", "kind", "provider", "entity", "status", "records_read", "total")]
    pairs += [(f"  {k}", v) for k, v in (body.get("details") or {}).items()]
    pairs += [("created_at", when(body.get("created_at"))), ("updated_at", when(body.get("updated_at")))]
    console.print(_key_values(f"job {body.get('job_id')}", pairs))


def jobs(console: Console, items: list[dict[str, Any]]) -> None:
    """Jobs, newest first."""
    if not items:
        console.print("no jobs")
        return
    console.print(
        _table(
            "jobs",
            ["job", "kind", "provider", "entity", "status", "read", "total", "updated"],
            (
                [
                    j.get("job_id"),
                    j.get("kind"),
                    j.get("provider"),
                    j.get("entity"),
                    j.get("status"),
                    j.get("records_read"),
                    j.get("total"),
                    when(j.get("updated_at")),
                ]
                for j in items
            ),
            ids=["job"],
        )
    )


def link(console: Console, body: dict[str, Any]) -> None:
    """An entity link."""
    keys = ("provider", "entity", "local_id", "external_id", "status", "last_synced_at", "source_updated_at")
    console.print(_key_values("entity link", [(k, body.get(k)) for k in keys]))


def logs(console: Console, title: str, items: list[dict[str, Any]]) -> None:
    """Sync log entries (ids, action, status, error code and message; no record contents)."""
    if not items:
        console.print(f"{title}: none")
        return
    console.print(
        _table(
            title,
            ["when", "provider", "entity", "local id", "external id", "action", "status", "try", "ms", "error"],
            (
                [
                    when(e.get("created_at")),
                    e.get("provider"),
                    e.get("entity"),
                    e.get("local_id"),
                    e.get("external_id"),
                    e.get("action"),
                    e.get("status"),
                    e.get("attempt"),
                    round(float(e.get("duration_ms") or 0)),
                    " ".join(p for p in (e.get("error_code"), e.get("error_message")) if p) or None,
                ]
                for e in items
            ),
            ids=["local id", "external id"],
        )
    )


def conflicts(console: Console, items: list[dict[str, Any]]) -> None:
    """Conflicts (values shown by ``conflicts show``)."""
    if not items:
        console.print("no conflicts")
        return
    console.print(
        _table(
            "conflicts",
            ["id", "provider", "entity", "local id", "field", "status", "resolution", "created"],
            (
                [
                    c.get("conflict_id"),
                    c.get("provider"),
                    c.get("entity"),
                    c.get("local_id"),
                    c.get("field"),
                    c.get("status"),
                    c.get("resolution"),
                    when(c.get("created_at")),
                ]
                for c in items
            ),
            ids=["id"],
        )
    )


def conflict(console: Console, body: dict[str, Any]) -> None:
    """A conflict side by side: the ERP's value, the CRM's and their common base."""
    console.print(
        _key_values(
            f"conflict {body.get('conflict_id')}",
            [
                (k, body.get(k))
                for k in ("provider", "entity", "local_id", "external_id", "status", "resolution", "created_at")
            ],
        )
    )
    table = _table(
        f"field {body.get('field')!r}",
        ["", "ERP", "CRM", "base (last synced)"],
        [
            ["value", body.get("erp_value"), body.get("crm_value"), body.get("base_value")],
            ["changed at", when(body.get("erp_updated_at")), when(body.get("crm_updated_at")), None],
        ],
    )
    console.print(table)


def dead_letters(console: Console, body: dict[str, Any]) -> None:
    """Dead letters and the DLQ depth per lane."""
    items = body.get("items") or []
    if items:
        console.print(
            _table(
                f"dead letters ({body.get('count', len(items))})",
                ["id", "lane", "status", "kind", "entity", "local id", "provider", "tries", "error", "when"],
                (
                    [
                        d.get("id"),
                        d.get("lane"),
                        d.get("status"),
                        d.get("kind"),
                        d.get("entity"),
                        d.get("local_id"),
                        d.get("provider"),
                        d.get("attempts"),
                        " ".join(p for p in (d.get("error_code"), d.get("error_message")) if p) or None,
                        when(d.get("dead_lettered_at")),
                    ]
                    for d in items
                ),
                ids=["id"],
            )
        )
    else:
        console.print("no dead letters")
    depth = body.get("dlq_depth") or {}
    if depth:
        console.print("DLQ depth: " + ", ".join(f"{lane} {n}" for lane, n in depth.items()))


def dead_letter(console: Console, body: dict[str, Any]) -> None:
    """One dead letter with its message."""
    keys = [k for k in body if k != "message"]
    console.print(_key_values(f"dead letter {body.get('id')}", [(k, body.get(k)) for k in keys]))
    if body.get("message") is not None:
        console.print_json(json.dumps(body["message"], default=str))
