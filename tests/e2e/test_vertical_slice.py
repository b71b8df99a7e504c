"""The first vertical slice, end to end: ERP change → API → SQS FIFO → worker →
GestãoClick simulator → entity link and sync log in DynamoDB."""

import time

import httpx
import pytest

from e2e_support import ADMIN_KEY, gestaoclick_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-e2e"


@pytest.fixture(scope="module")
def tenant(hub):
    return gestaoclick_tenant(hub, STORE)


def post_change(hub, key, local_id, name, when, **data):
    body = {
        "entity": "customer",
        "local_id": local_id,
        "operation": "upsert",
        "updated_at": when,
        "data": {"name": name, "document": "529.982.247-25", "email": "maria@example.com", **data},
    }
    return httpx.post(f"{hub.api_url}/api/v1/stores/{STORE}/changes", json=body, headers={"x-api-key": key}, timeout=30)


def gc_clientes(hub):
    return httpx.get(f"{hub.simulators['gestaoclick']}/_sim/records/clientes").json()["data"]


def link_item(hub, local_id):
    item = hub.boto3("dynamodb").get_item(
        TableName=hub.table("EntityLinksTable"),
        Key={"scope": {"S": f"{STORE}#gestaoclick#customer"}, "local_id": {"S": local_id}},
        ConsistentRead=True,
    )
    return item.get("Item")


def test_health(hub):
    response = httpx.get(f"{hub.api_url}/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_customer_change_reaches_gestaoclick_and_is_linked(hub, tenant):
    # Given the ERP reports a new customer
    response = post_change(hub, tenant, "c-100", "Maria Oliveira", "2026-11-23T10:00:00Z")
    assert response.status_code == 202, response.text
    # When the worker has drained the queue
    assert hub.wait_idle(60)
    # Then GestãoClick has the customer
    [record] = [r for r in gc_clientes(hub) if r["cpf"] == "52998224725"]
    assert record["nome"] == "Maria Oliveira"
    # And DynamoDB links the ERP id to GestãoClick's id
    link = link_item(hub, "c-100")
    assert link["status"]["S"] == "linked" and link["external_id"]["S"] == str(record["id"])
    # And the sync log recorded the create (by record, through the API)
    logs = httpx.get(f"{hub.api_url}/api/v1/stores/{STORE}/logs/customer/c-100", headers={"x-api-key": tenant}).json()
    assert [(entry["action"], entry["status"]) for entry in logs] == [("create", "success")]

    # When the ERP changes the same customer
    assert post_change(hub, tenant, "c-100", "Maria Oliveira Santos", "2026-11-23T11:00:00Z").status_code == 202
    assert hub.wait_idle(60)
    # Then GestãoClick's record is updated, not duplicated
    matching = [r for r in gc_clientes(hub) if r["cpf"] == "52998224725"]
    assert len(matching) == 1 and matching[0]["nome"] == "Maria Oliveira Santos"


def test_bad_requests_get_clear_errors(hub, tenant):
    bad = httpx.post(
        f"{hub.api_url}/api/v1/stores/{STORE}/changes",
        headers={"x-api-key": tenant},
        json={"entity": "customer", "local_id": "x", "updated_at": "yesterday", "data": {}},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert post_change(hub, "wrong-key", "c-1", "A", "2026-11-23T10:00:00Z").status_code in (401, 403)
    missing = httpx.post(f"{hub.api_url}/api/v1/stores/{STORE}/changes", json={})
    assert missing.status_code == 403  # API Gateway: no x-api-key on a key-required route
    unknown = httpx.post(
        f"{hub.api_url}/api/v1/stores/nope/changes",
        headers={"x-api-key": ADMIN_KEY},
        json={"entity": "customer", "local_id": "1", "updated_at": "2026-11-23T10:00:00Z", "data": {"name": "A"}},
    )
    assert unknown.status_code == 404


def test_erp_notifications_flow_through(hub, tenant):
    from local.demo import point_erp_at_hub

    point_erp_at_hub(hub.simulators["erp"], hub.api_url, tenant)
    erp = httpx.Client(
        base_url=f"{hub.simulators['erp']}/api/v1/stores/{STORE}", headers={"authorization": "Bearer erp-local-token"}
    )
    created = erp.post("/products", json={"sku": "E2E-1", "name": "Produto E2E", "price": "10.00"}).json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        produtos = httpx.get(f"{hub.simulators['gestaoclick']}/_sim/records/produtos").json()["data"]
        if any(p["codigo_interno"] == "E2E-1" for p in produtos):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"product {created['id']} never reached GestãoClick")
