"""An import over several GestãoClick pages whose worker fails mid-way (page 2 of the
list answers 503 on three deliveries in a row): the job keeps its cursor, the retried
message resumes at page 2 — page 1 is never fetched again — and every record reaches the
ERP exactly once."""

from __future__ import annotations

import time

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf
from support import ERP_HEADERS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-resume"
PAGE_SIZE = 3
RECORDS = 7  # pages of 3, 3 and 1
PAGE2_FAILURES = 3
LIST_ROUTE = "GET /clientes"


@pytest.fixture(scope="module")
def tenant(hub):
    from local.demo import point_erp_at_hub, setup_tenant

    gc = hub.simulators["gestaoclick"]
    httpx.post(f"{gc}/_sim/config", json={"rate_limit": 50, "page_size": PAGE_SIZE}).raise_for_status()
    key = setup_tenant(
        hub.api_url, ADMIN_KEY, store=STORE, erp_url=hub.simulators["erp"], gestaoclick_url=gc, rate_limit=50
    )
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    return key


def api(hub, key) -> httpx.Client:
    return httpx.Client(base_url=f"{hub.api_url}/api/v1/stores/{STORE}", headers={"x-api-key": key}, timeout=30)


def gc_stats(hub) -> dict:
    return httpx.get(f"{hub.simulators['gestaoclick']}/_sim/stats").json()


def job_item(hub, job_id: str) -> dict:
    item = hub.boto3("dynamodb").get_item(
        TableName=hub.table("JobsTable"), Key={"store_id": {"S": STORE}, "job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def wait(condition, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_an_interrupted_import_resumes_at_its_cursor_and_imports_each_record_once(hub, tenant):
    gc = hub.simulators["gestaoclick"]
    # Given GestãoClick holds more customers than one page
    seeded = [
        {
            "nome": f"Cliente Retomada {i}",
            "tipo_pessoa": "PF",
            "cpf": cpf(f"60{i:03d}1234"),
            "email": f"r{i}@example.com",
        }
        for i in range(RECORDS)
    ]
    created = httpx.post(f"{gc}/_sim/records/clientes", json=seeded)
    assert created.status_code == 201, created.text
    external_ids = {r["id"] for r in created.json()["data"]}
    # …and page 2 of the list will fail: the first list request passes (a no-op fault),
    # the next three answer 503 (each one a failed worker invocation, retried by SQS)
    httpx.post(
        f"{gc}/_sim/faults",
        json=[
            {"type": "timeout", "seconds": 0, "count": 1, "method": "GET", "path_prefix": "/clientes"},
            {"type": "status", "status": 503, "count": PAGE2_FAILURES, "method": "GET", "path_prefix": "/clientes"},
        ],
    ).raise_for_status()
    lists_before = gc_stats(hub)["by_route"].get(LIST_ROUTE, 0)

    # When the import runs
    started = api(hub, tenant).post("/sync/gestaoclick/customer/import")
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]

    # Then, while page 2 fails, the job holds page 1's progress and page 2 as its cursor
    assert wait(lambda: gc_stats(hub)["faults_pending"] <= PAGE2_FAILURES - 1, 30), gc_stats(hub)["faults_pending"]
    job = job_item(hub, job_id)
    assert job["status"] == "running" and job["cursor"] == "2", job
    assert int(job["done"]) == PAGE_SIZE

    # And once the provider recovers the same run finishes from there
    assert wait(lambda: api(hub, tenant).get(f"/jobs/{job_id}").json()["status"] == "idle", 90)
    assert hub.wait_idle(60)
    stats = gc_stats(hub)
    assert stats["faults_pending"] == 0
    pages = -(-RECORDS // PAGE_SIZE)
    # page 1 once, page 2 failed three times then once, page 3 once: page 1 never again
    assert stats["by_route"][LIST_ROUTE] - lists_before == pages + PAGE2_FAILURES
    view = api(hub, tenant).get(f"/jobs/{job_id}").json()
    assert view["records_read"] == RECORDS and view["details"]["pages"] == pages
    assert view["details"]["changed"] == RECORDS

    # And every record is in the ERP exactly once, linked to its GestãoClick id
    rows = httpx.get(
        f"{hub.simulators['erp']}/api/v1/stores/{STORE}/customers", params={"per_page": 100}, headers=ERP_HEADERS
    ).json()["data"]
    mine = [r for r in rows if r["name"].startswith("Cliente Retomada")]
    assert sorted(r["document"] for r in mine) == sorted(s["cpf"] for s in seeded)
    linked = {api(hub, tenant).get(f"/links/gestaoclick/customer/local/{r['id']}").json()["external_id"] for r in mine}
    assert linked == external_ids

    # And a second run finds nothing new and creates nothing
    again = api(hub, tenant).post("/sync/gestaoclick/customer/import")
    assert again.status_code == 202
    assert wait(lambda: api(hub, tenant).get(f"/jobs/{job_id}").json()["status"] == "idle", 60)
    assert hub.wait_idle(60)
    assert api(hub, tenant).get(f"/jobs/{job_id}").json()["details"]["changed"] == 0
    rows = httpx.get(
        f"{hub.simulators['erp']}/api/v1/stores/{STORE}/customers", params={"per_page": 100}, headers=ERP_HEADERS
    ).json()["data"]
    assert len([r for r in rows if r["name"].startswith("Cliente Retomada")]) == RECORDS
