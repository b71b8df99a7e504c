"""CRM → ERP on the local runtime: imports (GestãoClick has no webhooks), echo
suppression, creations and deletions found by a full scan, and the seed's conflict."""

import time

import httpx
import pytest

from e2e_support import cpf, gestaoclick_tenant
from support import ERP_HEADERS, GC_HEADERS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-import"


@pytest.fixture(scope="module")
def tenant(hub):
    from local.demo import point_erp_at_hub

    key = gestaoclick_tenant(hub, STORE, rate_limit=50)
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    return key


def erp(hub):
    return httpx.Client(base_url=f"{hub.simulators['erp']}/api/v1/stores/{STORE}", headers=ERP_HEADERS, timeout=30)


def gc(hub):
    return httpx.Client(base_url=hub.simulators["gestaoclick"], headers=GC_HEADERS, timeout=30)


def api(hub, key):
    return httpx.Client(base_url=f"{hub.api_url}/api/v1/stores/{STORE}", headers={"x-api-key": key}, timeout=30)


def run_import(hub, key, entity="customer"):
    response = api(hub, key).post(f"/sync/gestaoclick/{entity}/import")
    assert response.status_code in (200, 202), response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = api(hub, key).get(f"/jobs/{job_id}").json()
        if job["status"] == "idle":
            break
        time.sleep(0.2)
    assert hub.wait_idle(60)
    return api(hub, key).get(f"/jobs/{job_id}").json()


def link_of(hub, key, local_id):
    return api(hub, key).get(f"/links/gestaoclick/customer/local/{local_id}").json()


def create_in_erp(hub, name, cpf):
    created = erp(hub).post("/customers", json={"name": name, "document": cpf, "email": f"{cpf}@example.com"})
    assert created.status_code == 201, created.text
    assert hub.wait_idle(60)
    return created.json()


def test_a_change_in_gestaoclick_reaches_the_erp_and_its_echo_is_ignored(hub, tenant):
    customer = create_in_erp(hub, "Paula Souza", cpf("390533447"))
    external_id = link_of(hub, tenant, customer["id"])["external_id"]
    # When someone edits the customer in GestãoClick
    assert gc(hub).put(f"/clientes/{external_id}", json={"nome": "Paula Souza Lima"}).status_code == 200
    job = run_import(hub, tenant)
    # Then the import brings the change to the ERP
    assert erp(hub).get(f"/customers/{customer['id']}").json()["name"] == "Paula Souza Lima"
    assert job["details"]["changed"] >= 1
    # And a second import finds nothing new (the ERP's echo of our write was ignored too)
    again = run_import(hub, tenant)
    assert again["details"]["changed"] == 0
    logs = api(hub, tenant).get(f"/logs/customer/{customer['id']}").json()
    assert any(entry["direction"] == "crm_to_erp" and entry["action"] == "update" for entry in logs)


def test_a_customer_created_in_gestaoclick_is_created_in_the_erp_once(hub, tenant):
    created = (
        gc(hub)
        .post(
            "/clientes",
            json={"nome": "Rafael Nunes", "tipo_pessoa": "PF", "cpf": "11144477735", "email": "rafael@example.com"},
        )
        .json()["data"]
    )
    run_import(hub, tenant)
    run_import(hub, tenant)  # twice: still one ERP record
    matches = [
        c for c in erp(hub).get("/customers", params={"per_page": 100}).json()["data"] if c["document"] == "11144477735"
    ]
    assert len(matches) == 1 and matches[0]["name"] == "Rafael Nunes"
    assert link_of(hub, tenant, matches[0]["id"])["external_id"] == str(created["id"])


def test_a_customer_deleted_in_gestaoclick_is_deactivated_in_the_erp(hub, tenant):
    customer = create_in_erp(hub, "Beatriz Ramos", cpf("295379148"))
    external_id = link_of(hub, tenant, customer["id"])["external_id"]
    assert gc(hub).delete(f"/clientes/{external_id}").status_code in (200, 204)
    job = run_import(hub, tenant)
    assert job["details"]["deleted"] >= 1
    assert erp(hub).get(f"/customers/{customer['id']}").json()["active"] is False


def test_seed_conflict_nothing_is_lost_silently(hub, tenant):
    # Given a customer synced as "João Silva"
    customer = create_in_erp(hub, "João Silva", cpf("714287938"))
    external_id = link_of(hub, tenant, customer["id"])["external_id"]
    # When the ERP renames it while its notification is lost (hub unreachable for it)…
    httpx.post(f"{hub.simulators['erp']}/_sim/config", json={"hub": {"enabled": False}}).raise_for_status()
    erp(hub).patch(f"/customers/{customer['id']}", json={"name": "João Silva Santos"})
    time.sleep(1.1)  # GestãoClick stamps whole seconds: make its edit clearly the later one
    # …and then GestãoClick renames it too
    gc(hub).put(f"/clientes/{external_id}", json={"nome": "J. Silva"})
    from local.demo import point_erp_at_hub

    point_erp_at_hub(hub.simulators["erp"], hub.api_url, tenant)
    # And the import runs
    run_import(hub, tenant)
    # Then the newer name wins on both sides (last write wins by default)…
    assert erp(hub).get(f"/customers/{customer['id']}").json()["name"] == "J. Silva"
    assert gc(hub).get(f"/clientes/{external_id}").json()["data"]["nome"] == "J. Silva"
    # …and the losing value is kept in a resolved conflict record, not lost silently
    conflicts = api(hub, tenant).get("/conflicts", params={"status": "all"}).json()
    mine = [c for c in conflicts if c["local_id"] == customer["id"] and c["field"] == "name"]
    assert mine and mine[0]["erp_value"] == "João Silva Santos" and mine[0]["crm_value"] == "J. Silva"
    assert mine[0]["base_value"] == "João Silva" and mine[0]["status"] == "resolved"
