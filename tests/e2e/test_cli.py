"""The operators' CLI against the real local runtime: ``crmhub`` runs as a subprocess (the
installed entry point) over HTTP, exactly as an operator would run it."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from e2e_support import ADMIN_KEY, ROOT, gestaoclick_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-cli"
CUSTOMERS = 12


def crmhub(hub, key: str | None, *args: str, store: str = STORE, timeout_s: float = 180) -> subprocess.CompletedProcess:
    """Run the ``crmhub`` command (the console script pip installed beside this Python)."""
    script = Path(sys.executable).parent / "crmhub"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]
    env = {**os.environ, "COLUMNS": "200", "CRMHUB_URL": hub.api_url, "CRMHUB_STORE": store}
    env.pop("CRMHUB_API_KEY", None)
    if key is not None:
        env["CRMHUB_API_KEY"] = key
    return subprocess.run(
        [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )


@pytest.fixture(scope="module")
def tenant(hub):
    return gestaoclick_tenant(hub, STORE)


@pytest.fixture(scope="module")
def seeded_customers(hub, tenant) -> dict[str, str]:
    """Customers that exist only in the ERP (it does not notify the hub: only bulk sends them)."""
    from local.simulators.erp import demo_customer

    rng = random.Random(20261123)
    records = [demo_customer(rng, business=False) for _ in range(CUSTOMERS)]
    response = httpx.post(f"{hub.simulators['erp']}/_sim/records/customers?store={STORE}", json=records)
    response.raise_for_status()
    return {str(r["id"]): re.sub(r"\D", "", r["document"]) for r in response.json()["data"]}


def gc_clientes(hub) -> list[dict]:
    return httpx.get(f"{hub.simulators['gestaoclick']}/_sim/records/clientes").json()["data"]


def final_line(result: subprocess.CompletedProcess) -> str:
    return result.stdout.rstrip().splitlines()[-1]


def test_bulk_sync_reaches_gestaoclick_and_a_second_run_sends_nothing_again(hub, tenant, seeded_customers):
    # When the operator runs a bulk sync of the customers
    first = crmhub(hub, tenant, "sync", "bulk", "customers", "--interval", "0.2")
    # Then the progress ends with the job done, every record read and enqueued
    assert first.returncode == 0, first.stderr
    assert "started bulk job bulk.customer." in first.stdout
    assert f"{CUSTOMERS}/{CUSTOMERS}" in first.stdout  # the progress bar's final state
    summary = final_line(first)
    assert re.match(rf"bulk customer job bulk\.customer\.\S+: done, records read {CUSTOMERS}/{CUSTOMERS} ", summary)
    assert f"enqueued {CUSTOMERS}" in summary and "duplicates 0" in summary
    # And once the workers are done every customer is in GestãoClick, once
    assert hub.wait_idle(120)
    cpfs = [c["cpf"] for c in gc_clientes(hub)]
    assert sorted(cpfs) == sorted(seeded_customers.values())

    # When the operator runs it again
    second = crmhub(hub, tenant, "sync", "bulk", "customers", "--interval", "0.2")
    # Then it reads the same records but enqueues none of them again
    assert second.returncode == 0, second.stderr
    again = final_line(second)
    assert f"done, records read {CUSTOMERS}/{CUSTOMERS}" in again
    assert "enqueued 0" in again and f"duplicates {CUSTOMERS}" in again
    assert hub.wait_idle(120)
    # And GestãoClick still has each customer exactly once
    assert sorted(c["cpf"] for c in gc_clientes(hub)) == sorted(seeded_customers.values())
    # And the job list shows both runs, the second having enqueued nothing
    jobs = json.loads(crmhub(hub, tenant, "--json", "jobs", "--limit", "5").stdout)
    bulk_jobs = [j for j in jobs if j["kind"] == "bulk" and j["entity"] == "customer"]
    assert [j["details"]["enqueued"] for j in bulk_jobs] == [0, CUSTOMERS]  # newest first


def test_bulk_while_a_job_runs_shows_the_same_job(hub, tenant):
    # Given the ERP answers slowly, so the job is still reading its first page
    erp = hub.simulators["erp"]
    httpx.post(f"{erp}/_sim/records/products?store={STORE}", json=[{"sku": "CLI-1", "name": "Café", "price": "9.90"}])
    httpx.post(f"{erp}/_sim/config", json={"latency_ms": 2000}).raise_for_status()
    try:
        # When the operator starts a bulk sync twice without waiting
        first = crmhub(hub, tenant, "--json", "sync", "bulk", "products", "--no-wait")
        second = crmhub(hub, tenant, "sync", "bulk", "products", "--no-wait")
    finally:
        httpx.post(f"{erp}/_sim/config", json={"latency_ms": 0}).raise_for_status()
    # Then the second run shows the job the first one started
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    job_id = json.loads(first.stdout)["job_id"]
    assert f"already running: {job_id}" in second.stdout
    # And watching it follows it to the end
    watched = crmhub(hub, tenant, "--json", "job", job_id, "--watch", "--interval", "0.2")
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["status"] == "done"
    assert hub.wait_idle(120)


def test_stats_links_and_logs_against_the_live_hub(hub, tenant, seeded_customers):
    # Given the customers were synced by the bulk test
    assert hub.wait_idle(120)
    # When the operator asks for stats
    table = crmhub(hub, tenant, "stats")
    as_json = crmhub(hub, tenant, "--json", "stats")
    # Then both views show the work done today
    assert table.returncode == 0, table.stderr
    assert "processed today" in table.stdout and "queue depths" in table.stdout
    stats = json.loads(as_json.stdout)
    assert stats["store_id"] == STORE and stats["processed_today"] >= CUSTOMERS
    assert set(stats["queues"]) >= {"high", "default", "low"}

    # And a synced record can be followed through its link and its sync log
    local_id, cpf = next(iter(seeded_customers.items()))
    link = json.loads(crmhub(hub, tenant, "--json", "links", "local", "gestaoclick", "customers", local_id).stdout)
    [record] = [c for c in gc_clientes(hub) if c["cpf"] == cpf]
    assert link["status"] == "linked" and link["external_id"] == str(record["id"])
    back = crmhub(hub, tenant, "links", "external", "gestaoclick", "customer", str(record["id"]))
    assert back.returncode == 0 and local_id in back.stdout
    log = crmhub(hub, tenant, "logs", "customers", local_id)
    assert log.returncode == 0 and "create" in log.stdout and "success" in log.stdout
    errors = crmhub(hub, tenant, "--json", "errors")
    assert errors.returncode == 0 and json.loads(errors.stdout) == []
    jobs = json.loads(crmhub(hub, tenant, "--json", "jobs").stdout)
    assert jobs and all(j["status"] == "done" for j in jobs if j["kind"] == "bulk")


def test_wrong_key_unknown_store_and_unreachable_hub_are_clear(hub, tenant):
    wrong = crmhub(hub, "not-a-key", "stats")
    assert wrong.returncode == 4
    assert "the API key was rejected" in wrong.stderr and "Traceback" not in wrong.stderr

    unknown = crmhub(hub, ADMIN_KEY, "sync", "bulk", "customers", store="no-such-store")
    assert unknown.returncode == 5
    assert "store 'no-such-store' does not exist" in unknown.stderr

    other_store = crmhub(hub, tenant, "stats", store="someone-else")
    assert other_store.returncode == 4 and "may not do this for store 'someone-else'" in other_store.stderr

    env_url = hub.api_url.rsplit(":", 1)[0] + ":9"  # the discard port: nothing listens there
    down = subprocess.run(
        [sys.executable, "-m", "cli", "--url", env_url, "--key", tenant, "--store", STORE, "stats"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 3
    assert f"cannot reach the hub at {env_url} (is `make run` running?)" in down.stderr
