"""Dead letters end to end on the local runtime: GestãoClick rejects a customer (4xx) → the
worker dead-letters it → the operators' API lists it with the provider's reason, with counts
that reconcile with the DLQs → /health/detailed is degraded → retry after the fault is gone
→ the customer reaches GestãoClick and the DLQ is empty; archive and delete; another store's
key cannot touch it."""

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-dlq"
OTHER = "loja-dlq-outra"


@pytest.fixture(scope="module")
def keys(hub):
    from local.demo import setup_tenant

    common = {"erp_url": hub.simulators["erp"], "gestaoclick_url": hub.simulators["gestaoclick"], "rate_limit": 50}
    mine = setup_tenant(hub.api_url, ADMIN_KEY, store=STORE, **common)
    other = setup_tenant(hub.api_url, ADMIN_KEY, store=OTHER, **common)
    httpx.post(f"{hub.simulators['gestaoclick']}/_sim/config", json={"rate_limit": 50}).raise_for_status()
    return mine, other


def api(hub, key, store=STORE):
    return httpx.Client(base_url=f"{hub.api_url}/api/v1/stores/{store}", headers={"x-api-key": key}, timeout=60)


def reject_next_customers(hub, count):
    """The GestãoClick simulator answers 400 to the next ``count`` customer creates."""
    httpx.post(
        f"{hub.simulators['gestaoclick']}/_sim/faults",
        json={"type": "status", "status": 400, "method": "POST", "path_prefix": "/clientes", "count": count},
    ).raise_for_status()


def post_customer(hub, key, local_id, document):
    body = {
        "entity": "customer",
        "local_id": local_id,
        "updated_at": "2026-11-23T10:00:00Z",
        "data": {"name": "Cliente DLQ", "document": document},
    }
    response = api(hub, key).post("/changes", json=body)
    assert response.status_code == 202, response.text


def gc_has(hub, document):
    clientes = httpx.get(f"{hub.simulators['gestaoclick']}/_sim/records/clientes").json()["data"]
    return any(c.get("cpf") == document for c in clientes)


def listing(hub, key, store=STORE):
    response = api(hub, key, store).get("/dead-letters")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_rejected_customer_is_listed_retried_and_reaches_gestaoclick(hub, keys):
    mine, other = keys
    document = cpf("111444777")
    # Given GestãoClick rejects the next customer
    reject_next_customers(hub, 1)
    # When the ERP reports a customer
    post_customer(hub, mine, "dl-1", document)
    assert hub.wait_idle(60)
    assert not gc_has(hub, document)

    # Then the operators' API lists it with the provider's reason
    body = listing(hub, mine)
    [item] = body["items"]
    assert item["error_code"] == "provider_rejected" and item["error_message"]
    assert (item["lane"], item["entity"], item["local_id"], item["provider"]) == (
        "default",
        "customer",
        "dl-1",
        "gestaoclick",
    )
    assert item["message"]["local_id"] == "dl-1"
    # And the counts reconcile with the DLQs (only this store has dead letters)
    assert body["count"] == 1 and sum(body["dlq_depth"].values()) == 1
    # And the detailed health is degraded while the DLQ is not empty
    health = httpx.get(f"{hub.api_url}/health/detailed", headers={"x-api-key": ADMIN_KEY}, timeout=60)
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert any("dlq" in reason for reason in health.json()["reasons"])
    assert httpx.get(f"{hub.api_url}/health/detailed", headers={"x-api-key": mine}).status_code == 403

    # And another store's key can neither see nor retry it
    assert api(hub, other, STORE).get(f"/dead-letters/{item['id']}").status_code == 403
    assert api(hub, other, STORE).post(f"/dead-letters/{item['id']}/retry").status_code == 403
    assert api(hub, other, OTHER).get(f"/dead-letters/{item['id']}").status_code == 404
    assert listing(hub, other, OTHER)["items"] == []

    # When the fault is gone and the operator retries it
    retried = api(hub, mine).post(f"/dead-letters/{item['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "retried"
    assert hub.wait_idle(60)
    # Then the customer reaches GestãoClick and the DLQ is empty
    assert gc_has(hub, document)
    body = listing(hub, mine)
    assert body["count"] == 0 and sum(body["dlq_depth"].values()) == 0
    assert api(hub, mine).get(f"/dead-letters/{item['id']}").json()["status"] == "retried"


def test_archive_and_delete_take_dead_letters_out_of_the_dlq(hub, keys):
    mine, _ = keys
    reject_next_customers(hub, 2)
    post_customer(hub, mine, "dl-2", cpf("222555888"))
    post_customer(hub, mine, "dl-3", cpf("333666999"))
    assert hub.wait_idle(60)
    body = listing(hub, mine)
    assert body["count"] == 2 and sum(body["dlq_depth"].values()) == 2
    by_local = {item["local_id"]: item["id"] for item in body["items"]}

    archived = api(hub, mine).post(f"/dead-letters/{by_local['dl-2']}/archive")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert api(hub, mine).delete(f"/dead-letters/{by_local['dl-3']}").status_code == 204

    body = listing(hub, mine)
    assert body["count"] == 0 and sum(body["dlq_depth"].values()) == 0
    assert api(hub, mine).get(f"/dead-letters/{by_local['dl-2']}").json()["status"] == "archived"
    assert api(hub, mine).get(f"/dead-letters/{by_local['dl-3']}").status_code == 404
    assert api(hub, mine).get("/dead-letters", params={"status": "archived"}).json()["items"][0]["local_id"] == "dl-2"
    # Neither was sent again
    assert not gc_has(hub, cpf("222555888")) and not gc_has(hub, cpf("333666999"))


def test_retry_all_as_admin_falls_back_to_per_message_on_the_local_runtime(hub, keys):
    mine, _ = keys
    reject_next_customers(hub, 1)
    post_customer(hub, mine, "dl-4", cpf("444777000"))
    assert hub.wait_idle(60)
    assert listing(hub, mine)["count"] == 1

    # moto does not implement StartMessageMoveTask: the hub moves the messages itself
    response = api(hub, ADMIN_KEY).post("/dead-letters/retry-all", params={"all_stores": "true"})
    assert response.status_code == 202, response.text
    assert response.json() == {"retried": 1, "method": "per_message"}
    assert hub.wait_idle(60)
    assert gc_has(hub, cpf("444777000"))
    body = listing(hub, mine)
    assert body["count"] == 0 and sum(body["dlq_depth"].values()) == 0
