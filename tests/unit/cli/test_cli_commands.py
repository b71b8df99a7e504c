"""The operators' CLI against a scripted hub (``httpx.MockTransport``): the requests it
makes, what it prints, its ``--json`` output and its errors (never a traceback)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import Overrides, app

URL = "http://hub.test"
KEY = "store-key-123"
STORE = "loja-1"
BASE = f"/api/v1/stores/{STORE}"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def job(status: str, read: int, total: int, **details: int) -> dict[str, Any]:
    return {
        "job_id": "bulk.customer.20261123T100000.abc123",
        "kind": "bulk",
        "entity": "customer",
        "provider": None,
        "status": status,
        "records_read": read,
        "total": total,
        "details": details,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:05Z",
    }


@dataclass
class FakeHub:
    """Routes (method, path) to scripted answers; a list answers once per call, in order."""

    routes: dict[tuple[str, str], Answer | list[Answer]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> FakeHub:
        self.routes[(method, path)] = list(answers) if len(answers) > 1 else answers[0]
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, self.path(request)))
        if answer is None:
            return httpx.Response(403, json={"message": "Missing Authentication Token"})
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return answer(request) if callable(answer) else answer

    @staticmethod
    def path(request: httpx.Request) -> str:
        return request.url.raw_path.decode().split("?")[0]  # still percent-encoded

    def calls(self) -> list[str]:
        return [f"{r.method} {self.path(r)}" for r in self.requests]


@dataclass
class FakeClock:
    now: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(hub: FakeHub | httpx.BaseTransport, *args: str, clock: FakeClock | None = None, **kwargs: Any) -> Any:
    transport = httpx.MockTransport(hub.handle) if isinstance(hub, FakeHub) else hub
    clock = clock or FakeClock()
    overrides = Overrides(transport=transport, sleep=clock.sleep, clock=lambda: clock.now)
    runner = CliRunner()
    return runner.invoke(
        app,
        ["--url", URL, "--key", KEY, "--store", STORE, *args],
        obj=overrides,
        env={"COLUMNS": "200"},
        **kwargs,
    )


STATS = {
    "store_id": STORE,
    "window_hours": 24,
    "processed_today": 42,
    "errors_24h": 3,
    "retries_24h": 5,
    "success_rate": 0.9333,
    "retrying_now": 1,
    "by_entity_provider": [{"entity": "customer", "provider": "gestaoclick", "success": 40, "error": 3}],
    "queues": {"high": {"visible": 7, "in_flight": 2, "delayed": 0}, "high_dlq": {"visible": 1}},
}
STORE_VIEW = {"store_id": STORE, "name": "Loja Um", "active": True, "erp_base_url": None, "created_at": "x"}


def test_stats_renders_tables_with_the_key_sent():
    # Given a hub with stats for the store
    hub = (
        FakeHub()
        .on("GET", BASE, httpx.Response(200, json=STORE_VIEW))
        .on("GET", f"{BASE}/stats", httpx.Response(200, json=STATS))
    )
    # When the operator asks for stats
    result = run(hub, "stats")
    # Then it read the store and its stats with the key
    assert result.exit_code == 0, result.stderr
    assert hub.calls() == [f"GET {BASE}", f"GET {BASE}/stats"]
    assert all(r.headers["x-api-key"] == KEY for r in hub.requests)
    # And it shows the counters, the per entity/provider row and the lane depths
    out = result.stdout
    assert "processed today" in out and "42" in out
    assert "93.3 %" in out
    assert "customer" in out and "gestaoclick" in out
    high_row = next(line for line in out.splitlines() if "│ high " in line)
    assert "7" in high_row and "2" in high_row


def test_stats_json_is_the_api_body():
    hub = (
        FakeHub()
        .on("GET", BASE, httpx.Response(200, json=STORE_VIEW))
        .on("GET", f"{BASE}/stats", httpx.Response(200, json=STATS))
    )
    result = run(hub, "--json", "stats")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == STATS


def test_connection_refused_says_where_and_what_to_do():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = run(httpx.MockTransport(refuse), "stats")
    assert result.exit_code == 3
    assert f"cannot reach the hub at {URL} (is `make run` running?)" in result.stderr
    assert "Connection refused" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_timeout_is_reported_as_unreachable():
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    result = run(httpx.MockTransport(hang), "jobs")
    assert result.exit_code == 3
    assert "did not answer within 30 s" in result.stderr


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": {"code": "unauthorized", "message": "the API key is not valid"}}),
        (403, {"error": {"code": "invalid_api_key", "message": "The x-api-key header is missing or not valid."}}),
    ],
)
def test_rejected_key_is_a_clear_message(status, body):
    hub = FakeHub().on("GET", BASE, httpx.Response(status, json=body))
    result = run(hub, "stats")
    assert result.exit_code == 4
    assert "the API key was rejected" in result.stderr and "CRMHUB_API_KEY" in result.stderr
    assert result.stdout == ""


def test_key_of_another_store_is_named_as_such():
    body = {"error": {"code": "forbidden", "message": "this API key belongs to another store", "details": {}}}
    hub = FakeHub().on("GET", f"{BASE}/jobs", httpx.Response(403, json=body))
    result = run(hub, "jobs")
    assert result.exit_code == 4
    assert f"may not do this for store '{STORE}'" in result.stderr


def test_unknown_store_is_a_clear_404():
    body = {
        "error": {"code": "not_found", "message": f"store {STORE!r} does not exist", "details": {"store_id": STORE}}
    }
    hub = FakeHub().on("POST", f"{BASE}/sync/customer/bulk", httpx.Response(404, json=body))
    result = run(hub, "sync", "bulk", "customers")
    assert result.exit_code == 5
    assert f"store '{STORE}' does not exist on the hub at {URL}" in result.stderr
    assert "CRMHUB_STORE" in result.stderr


def test_missing_route_and_non_json_server_are_explained():
    # Given a gateway without the dead-letter routes (unknown path → 403 Missing Authentication Token)
    result = run(FakeHub(), "dead-letters", "list")
    assert result.exit_code == 5
    assert f"has no endpoint GET {BASE}/dead-letters" in result.stderr
    # And a URL that points at some other web server
    other = FakeHub().on("GET", f"{BASE}/jobs", httpx.Response(200, text="<html>hello</html>"))
    result = run(other, "jobs")
    assert result.exit_code == 3
    assert "is --url the hub's API?" in result.stderr


def test_json_errors_are_machine_readable():
    hub = FakeHub().on("GET", f"{BASE}/jobs", httpx.Response(401, json={"error": {"code": "unauthorized"}}))
    result = run(hub, "--json", "jobs")
    assert result.exit_code == 4
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "unauthorized" and error["status"] == 401


def test_missing_key_or_store_is_a_usage_error():
    runner = CliRunner()
    no_key = runner.invoke(app, ["--url", URL, "--store", STORE, "jobs"], obj=Overrides(), env={"CRMHUB_API_KEY": ""})
    assert no_key.exit_code == 2 and "no API key" in no_key.stderr
    no_store = runner.invoke(app, ["--url", URL, "--key", KEY, "jobs"], obj=Overrides(), env={"CRMHUB_STORE": ""})
    assert no_store.exit_code == 2 and "no store" in no_store.stderr


def test_settings_come_from_the_environment():
    hub = FakeHub().on("GET", "/api/v1/stores/env-store/jobs", httpx.Response(200, json=[]))
    result = CliRunner().invoke(
        app,
        ["jobs"],
        obj=Overrides(transport=httpx.MockTransport(hub.handle)),
        env={"CRMHUB_URL": "http://env.test", "CRMHUB_API_KEY": "env-key", "CRMHUB_STORE": "env-store"},
    )
    assert result.exit_code == 0, result.stderr
    [request] = hub.requests
    assert str(request.url).startswith("http://env.test/") and request.headers["x-api-key"] == "env-key"


def test_bulk_follows_the_job_to_the_end_with_a_progress_bar():
    # Given a bulk job that reads 250 customers over a few polls
    job_path = f"{BASE}/jobs/bulk.customer.20261123T100000.abc123"
    hub = (
        FakeHub()
        .on("POST", f"{BASE}/sync/customer/bulk", httpx.Response(202, json=job("running", 0, 0)))
        .on(
            "GET",
            job_path,
            httpx.Response(200, json=job("running", 100, 250, pages=1, enqueued=100, duplicates=0)),
            httpx.Response(200, json=job("done", 250, 250, pages=3, enqueued=248, duplicates=0, invalid=2)),
        )
    )
    # When the operator starts it (plural entity names are accepted)
    result = run(hub, "sync", "bulk", "customers", "--interval", "0.1")
    # Then it started the job once and polled it until done
    assert result.exit_code == 0, result.stderr
    assert hub.calls() == [f"POST {BASE}/sync/customer/bulk", f"GET {job_path}", f"GET {job_path}"]
    out = result.stdout
    assert "started bulk job bulk.customer.20261123T100000.abc123" in out
    assert "250/250" in out  # the bar's final state
    assert out.rstrip().splitlines()[-1] == (
        "bulk customer job bulk.customer.20261123T100000.abc123: done, records read 250/250 "
        "(pages 3, enqueued 248, duplicates 0, invalid 2)"
    )


def test_bulk_while_a_job_runs_shows_that_job():
    # Given the hub answers 200 with the job already running
    hub = FakeHub().on("POST", f"{BASE}/sync/product/bulk", httpx.Response(200, json=job("running", 10, 50)))
    # When the operator starts a bulk sync without waiting
    result = run(hub, "sync", "bulk", "product", "--no-wait")
    # Then it says so, shows the same job and does not poll
    assert result.exit_code == 0, result.stderr
    assert hub.calls() == [f"POST {BASE}/sync/product/bulk"]
    assert "already running: bulk.customer.20261123T100000.abc123" in result.stdout
    assert "records read 10/50" in result.stdout
    assert "crmhub job bulk.customer.20261123T100000.abc123 --watch" in result.stdout


def test_bulk_json_prints_the_final_job():
    hub = (
        FakeHub()
        .on("POST", f"{BASE}/sync/sale/bulk", httpx.Response(202, json=job("running", 0, 0)))
        .on("GET", f"{BASE}/jobs/bulk.customer.20261123T100000.abc123", httpx.Response(200, json=job("done", 5, 5)))
    )
    result = run(hub, "--json", "sync", "bulk", "sales")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "done"


def test_bulk_gives_up_following_after_the_wait_timeout():
    running = httpx.Response(200, json=job("running", 1, 100))
    hub = (
        FakeHub()
        .on("POST", f"{BASE}/sync/customer/bulk", httpx.Response(202, json=job("running", 0, 0)))
        .on("GET", f"{BASE}/jobs/bulk.customer.20261123T100000.abc123", running)
    )
    result = run(hub, "sync", "bulk", "customer", "--interval", "1", "--wait-timeout", "5")
    assert result.exit_code == 6
    assert "still running after 5 s" in result.stderr
    assert 4 <= hub.calls().count(f"GET {BASE}/jobs/bulk.customer.20261123T100000.abc123") <= 6


def test_import_polls_until_idle():
    import_job = {
        **job("running", 0, 0),
        "job_id": "import.gestaoclick.customer",
        "kind": "import",
        "provider": "gestaoclick",
    }
    hub = (
        FakeHub()
        .on("POST", f"{BASE}/sync/gestaoclick/customer/import", httpx.Response(202, json=import_job))
        .on(
            "GET",
            f"{BASE}/jobs/import.gestaoclick.customer",
            httpx.Response(200, json={**import_job, "status": "idle", "records_read": 7, "details": {"changed": 2}}),
        )
    )
    result = run(hub, "import", "gestaoclick", "customers")
    assert result.exit_code == 0, result.stderr
    assert "import gestaoclick customer job import.gestaoclick.customer: idle" in result.stdout
    assert "changed 2" in result.stdout
    assert run(hub, "import", "zoho", "customers").exit_code == 2  # not a provider: usage error


def test_jobs_job_links_logs_errors_hit_the_right_paths():
    log = {
        "log_id": "l1",
        "provider": "gestaoclick",
        "entity": "customer",
        "local_id": "c-1",
        "external_id": "77",
        "direction": "erp_to_crm",
        "action": "create",
        "status": "error",
        "attempt": 2,
        "duration_ms": 12.5,
        "error_code": "provider_rejected",
        "error_message": "CPF inválido",
        "created_at": "2026-11-23T10:00:00Z",
    }
    link = {"provider": "gestaoclick", "entity": "customer", "local_id": "c-1", "external_id": "77", "status": "linked"}
    hub = (
        FakeHub()
        .on("GET", f"{BASE}/jobs", httpx.Response(200, json=[job("done", 3, 3)]))
        .on("GET", f"{BASE}/jobs/j%2F1", httpx.Response(200, json=job("done", 3, 3, enqueued=3)))
        .on("GET", f"{BASE}/links/gestaoclick/customer/local/c-1", httpx.Response(200, json=link))
        .on("GET", f"{BASE}/links/gestaoclick/customer/external/77", httpx.Response(200, json=link))
        .on("GET", f"{BASE}/logs/customer/c-1", httpx.Response(200, json=[log]))
        .on("GET", f"{BASE}/errors", httpx.Response(200, json=[log]))
    )
    assert "bulk.customer.20261123T100000.abc123" in run(hub, "jobs", "--limit", "5").stdout
    assert hub.requests[-1].url.params["limit"] == "5"
    shown = run(hub, "job", "j/1")
    assert shown.exit_code == 0 and "enqueued" in shown.stdout
    local = run(hub, "links", "local", "gestaoclick", "customers", "c-1")
    assert local.exit_code == 0 and "77" in local.stdout and "linked" in local.stdout
    external = run(hub, "--json", "links", "external", "gestaoclick", "customer", "77")
    assert json.loads(external.stdout)["local_id"] == "c-1"
    logs = run(hub, "logs", "customers", "c-1")
    assert "provider_rejected CPF inválido" in logs.stdout
    assert json.loads(run(hub, "--json", "errors", "--limit", "3").stdout)[0]["log_id"] == "l1"
    assert hub.requests[-1].url.params["limit"] == "3"


CONFLICT = {
    "conflict_id": "cf-1",
    "provider": "gestaoclick",
    "entity": "customer",
    "local_id": "c-1",
    "external_id": "77",
    "field": "name",
    "base_value": "Loja Antiga",
    "erp_value": "Loja Nova ERP",
    "crm_value": "Loja Nova CRM",
    "erp_updated_at": "2026-11-23T10:00:00Z",
    "crm_updated_at": "2026-11-23T10:05:00Z",
    "status": "open",
    "resolution": None,
    "created_at": "2026-11-23T10:06:00Z",
    "updated_at": "2026-11-23T10:06:00Z",
}


def test_conflicts_list_show_side_by_side_and_resolve():
    resolved = {**CONFLICT, "status": "resolving", "resolution": "value"}
    hub = (
        FakeHub()
        .on("GET", f"{BASE}/conflicts", httpx.Response(200, json=[CONFLICT]))
        .on("GET", f"{BASE}/conflicts/cf-1", httpx.Response(200, json=CONFLICT))
        .on("POST", f"{BASE}/conflicts/cf-1/resolve", httpx.Response(202, json=resolved))
    )
    listed = run(hub, "conflicts", "list", "--status", "all")
    assert listed.exit_code == 0 and "cf-1" in listed.stdout
    assert hub.requests[-1].url.params["status"] == "all"

    shown = run(hub, "conflicts", "show", "cf-1")
    value_row = next(line for line in shown.stdout.splitlines() if "│ value" in line)
    # ERP, CRM and base in that order on one row
    assert value_row.index("Loja Nova ERP") < value_row.index("Loja Nova CRM") < value_row.index("Loja Antiga")

    done = run(hub, "conflicts", "resolve", "cf-1", "--use", "value", "--value", '"Loja Nova"')
    assert done.exit_code == 0, done.stderr
    assert json.loads(hub.requests[-1].content) == {"use": "value", "value": "Loja Nova"}
    assert "resolving" in done.stdout

    run(hub, "conflicts", "resolve", "cf-1", "--use", "crm")
    assert json.loads(hub.requests[-1].content) == {"use": "crm"}


def test_conflict_resolve_validates_before_calling():
    hub = FakeHub()
    not_json = run(hub, "conflicts", "resolve", "cf-1", "--use", "value", "--value", "Loja Nova")
    assert not_json.exit_code == 2 and "not JSON" in not_json.stderr
    missing = run(hub, "conflicts", "resolve", "cf-1", "--use", "value")
    assert missing.exit_code == 2
    assert hub.requests == []


def test_already_resolved_conflict_is_reported():
    body = {"error": {"code": "conflict", "message": "conflict is already resolved", "details": {}}}
    hub = FakeHub().on("POST", f"{BASE}/conflicts/cf-1/resolve", httpx.Response(409, json=body))
    result = run(hub, "conflicts", "resolve", "cf-1", "--use", "erp")
    assert result.exit_code == 1 and "conflict is already resolved" in result.stderr


def test_validation_errors_list_the_fields():
    body = {
        "error": {
            "code": "validation_error",
            "message": "request is not valid",
            "fields": [{"field": "value", "message": "'value' is required when use is 'value'"}],
        }
    }
    hub = FakeHub().on("POST", f"{BASE}/conflicts/cf-1/resolve", httpx.Response(422, json=body))
    result = run(hub, "conflicts", "resolve", "cf-1", "--use", "value", "--value", "null")
    assert result.exit_code == 1
    assert "value: 'value' is required when use is 'value'" in result.stderr


DEAD = {
    "id": "dl-1",
    "lane": "high",
    "status": "open",
    "kind": "change",
    "entity": "sale",
    "local_id": "s-9",
    "provider": "gestaoclick",
    "error_code": "provider_rejected",
    "error_message": "produto inexistente",
    "attempts": 5,
    "dead_lettered_at": "2026-11-23T09:00:00Z",
    "message": {"entity": "sale", "local_id": "s-9"},
}


def test_dead_letters_commands_follow_the_contract():
    hub = (
        FakeHub()
        .on(
            "GET",
            f"{BASE}/dead-letters",
            httpx.Response(
                200,
                json={"store_id": STORE, "items": [DEAD], "count": 1, "dlq_depth": {"high": 1, "default": 0, "low": 0}},
            ),
        )
        .on("GET", f"{BASE}/dead-letters/dl-1", httpx.Response(200, json=DEAD))
        .on("POST", f"{BASE}/dead-letters/dl-1/retry", httpx.Response(202, json={**DEAD, "status": "retried"}))
        .on("POST", f"{BASE}/dead-letters/retry-all", httpx.Response(202, json={"retried": 4, "method": "redrive"}))
        .on("POST", f"{BASE}/dead-letters/dl-1/archive", httpx.Response(200, json={**DEAD, "status": "archived"}))
        .on("DELETE", f"{BASE}/dead-letters/dl-1", httpx.Response(204))
    )
    listed = run(hub, "dead-letters", "list", "--lane", "high")
    assert listed.exit_code == 0, listed.stderr
    assert dict(hub.requests[-1].url.params) == {"lane": "high", "status": "open"}
    assert "dl-1" in listed.stdout and "produto inexistente" in listed.stdout
    assert "DLQ depth: high 1, default 0, low 0" in listed.stdout

    shown = run(hub, "dead-letters", "show", "dl-1")
    assert shown.exit_code == 0 and '"local_id": "s-9"' in shown.stdout

    assert "sent back" in run(hub, "dead-letters", "retry", "dl-1").stdout
    assert hub.calls()[-1] == f"POST {BASE}/dead-letters/dl-1/retry"
    retried = run(hub, "--json", "dead-letters", "retry-all")
    assert json.loads(retried.stdout) == {"retried": 4, "method": "redrive"}
    assert "archived" in run(hub, "dead-letters", "archive", "dl-1").stdout

    # delete asks first; "n" sends nothing
    before = len(hub.requests)
    declined = run(hub, "dead-letters", "delete", "dl-1", input="n\n")
    assert declined.exit_code != 0 and len(hub.requests) == before
    deleted = run(hub, "dead-letters", "delete", "dl-1", "--yes")
    assert deleted.exit_code == 0 and hub.calls()[-1] == f"DELETE {BASE}/dead-letters/dl-1"


def test_unknown_dead_letter_is_not_found():
    body = {"error": {"code": "not_found", "message": "no such dead letter", "details": {"id": "dl-x"}}}
    hub = FakeHub().on("GET", f"{BASE}/dead-letters/dl-x", httpx.Response(404, json=body))
    result = run(hub, "dead-letters", "show", "dl-x")
    assert result.exit_code == 5 and "no such dead letter" in result.stderr


def test_the_cli_offers_exactly_the_hubs_providers_and_lanes() -> None:
    # The CLI keeps its own copies (importing crmhub.models would build every pydantic
    # model: ~200 ms on each command); they must not drift from the hub's.
    from cli.main import Lane as CliLane
    from cli.main import Provider as CliProvider
    from crmhub.models.common import Lane, ProviderName

    assert [p.value for p in CliProvider] == [p.value for p in ProviderName]
    assert [lane.value for lane in CliLane] == [lane.value for lane in Lane]
