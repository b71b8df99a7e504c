"""Manual conflicts, end to end: the connection's policy makes ``customers.name`` manual;
the ERP and GestãoClick both rename a customer (and each changes another field) before an
import. The name waits for a person — each side keeps its value, an open conflict holds
both — while the other fields cross over in the same round. Resolving by API with
``use=erp``, ``use=crm`` or a supplied value writes that value to both systems; resolving
again is a 409 with a machine-readable code."""

from __future__ import annotations

import time

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf
from support import ERP_HEADERS, GC_HEADERS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-conflitos"


@pytest.fixture(scope="module")
def tenant(hub):
    from local.demo import GC_CREDENTIALS, point_erp_at_hub, setup_tenant

    gc = hub.simulators["gestaoclick"]
    httpx.post(f"{gc}/_sim/config", json={"rate_limit": 50}).raise_for_status()
    key = setup_tenant(
        hub.api_url, ADMIN_KEY, store=STORE, erp_url=hub.simulators["erp"], gestaoclick_url=gc, rate_limit=50
    )
    # customers.name is settled by a person; every other field by the default policy
    settings = {
        "base_url": gc,
        "rate_limit": 50,
        "entities": {"customer": {"conflict": {"default": "last_write_wins", "fields": {"name": "manual"}}}},
    }
    put = api(hub, key).put("/connections/gestaoclick", json={"settings": settings, "credentials": GC_CREDENTIALS})
    assert put.status_code == 200, put.text
    assert put.json()["settings"]["entities"]["customer"]["conflict"]["fields"] == {"name": "manual"}
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    return key


def api(hub, key) -> httpx.Client:
    return httpx.Client(base_url=f"{hub.api_url}/api/v1/stores/{STORE}", headers={"x-api-key": key}, timeout=30)


def erp(hub) -> httpx.Client:
    return httpx.Client(base_url=f"{hub.simulators['erp']}/api/v1/stores/{STORE}", headers=ERP_HEADERS, timeout=30)


def gc(hub) -> httpx.Client:
    return httpx.Client(base_url=hub.simulators["gestaoclick"], headers=GC_HEADERS, timeout=30)


def run_import(hub, key) -> dict:
    started = api(hub, key).post("/sync/gestaoclick/customer/import")
    assert started.status_code in (200, 202), started.text
    job_id = started.json()["job_id"]
    deadline = time.monotonic() + 60
    while api(hub, key).get(f"/jobs/{job_id}").json()["status"] != "idle":
        assert time.monotonic() < deadline, "import did not finish"
        time.sleep(0.2)
    assert hub.wait_idle(60)
    return api(hub, key).get(f"/jobs/{job_id}").json()


def conflicting_rename(hub, key, base9: str, n: int) -> tuple[dict, str]:
    """A synced customer renamed on both sides since its last sync; the ERP also changed
    its e-mail and GestãoClick its mobile phone. Returns the ERP customer and the GC id."""
    from local.demo import point_erp_at_hub

    created = erp(hub).post(
        "/customers", json={"name": f"Renato Brito {n}", "document": cpf(base9), "email": f"renato{n}@example.com"}
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert hub.wait_idle(60)
    external_id = api(hub, key).get(f"/links/gestaoclick/customer/local/{customer['id']}").json()["external_id"]
    # the ERP's notification of its edit is lost; GestãoClick is edited afterwards
    httpx.post(f"{hub.simulators['erp']}/_sim/config", json={"hub": {"enabled": False}}).raise_for_status()
    erp(hub).patch(
        f"/customers/{customer['id']}", json={"name": f"Renato Brito ERP {n}", "email": f"novo{n}@example.com"}
    ).raise_for_status()
    edited = gc(hub).put(f"/clientes/{external_id}", json={"nome": f"R. Brito CRM {n}", "celular": f"1198765000{n}"})
    assert edited.status_code == 200, edited.text
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    run_import(hub, key)
    return customer, external_id


def open_conflict_for(hub, key, local_id: str) -> dict:
    listed = api(hub, key).get("/conflicts").json()
    [conflict] = [c for c in listed if c["local_id"] == local_id]
    return conflict


@pytest.mark.parametrize(
    ("n", "base9", "use", "chosen"),
    [
        (1, "813264975", "erp", "Renato Brito ERP 1"),
        (2, "824375086", "crm", "R. Brito CRM 2"),
        (3, "835486197", "value", "Renato Brito Escolhido"),
    ],
)
def test_manual_conflict_is_resolved_by_api_on_both_sides(hub, tenant, n, base9, use, chosen):
    customer, external_id = conflicting_rename(hub, tenant, base9, n)
    local_id = customer["id"]

    # Then the name waits for a person: each side keeps its own, one open conflict holds both
    conflict = open_conflict_for(hub, tenant, local_id)
    assert (conflict["field"], conflict["status"], conflict["external_id"]) == ("name", "open", external_id)
    assert conflict["base_value"] == f"Renato Brito {n}"
    assert conflict["erp_value"] == f"Renato Brito ERP {n}" and conflict["crm_value"] == f"R. Brito CRM {n}"
    assert erp(hub).get(f"/customers/{local_id}").json()["name"] == f"Renato Brito ERP {n}"
    assert gc(hub).get(f"/clientes/{external_id}").json()["data"]["nome"] == f"R. Brito CRM {n}"
    # …while the fields changed on one side only crossed over in the same round
    erp_now = erp(hub).get(f"/customers/{local_id}").json()
    gc_now = gc(hub).get(f"/clientes/{external_id}").json()["data"]
    assert erp_now["phones"] == [f"+551198765000{n}"]
    assert gc_now["email"] == f"novo{n}@example.com"

    # When an operator resolves it
    body = {"use": use, "value": chosen} if use == "value" else {"use": use}
    resolved = api(hub, tenant).post(f"/conflicts/{conflict['conflict_id']}/resolve", json=body)
    assert resolved.status_code == 202, resolved.text
    assert resolved.json()["status"] in ("resolving", "resolved") and resolved.json()["resolution"] == use
    assert hub.wait_idle(60)

    # Then both systems hold the chosen value and the conflict is resolved
    assert erp(hub).get(f"/customers/{local_id}").json()["name"] == chosen
    assert gc(hub).get(f"/clientes/{external_id}").json()["data"]["nome"] == chosen
    after = api(hub, tenant).get(f"/conflicts/{conflict['conflict_id']}").json()
    assert after["status"] == "resolved" and after["resolution"] == use
    # …the other fields are still what each side contributed
    final = erp(hub).get(f"/customers/{local_id}").json()
    assert final["email"] == f"novo{n}@example.com" and final["phones"] == [f"+551198765000{n}"]
    assert gc(hub).get(f"/clientes/{external_id}").json()["data"]["email"] == f"novo{n}@example.com"

    # And resolving again is refused with a machine-readable reason
    again = api(hub, tenant).post(f"/conflicts/{conflict['conflict_id']}/resolve", json={"use": "crm"})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "conflict"

    # And the next import finds the two sides agreeing: nothing written, nothing reopened
    version = final["version"]
    run_import(hub, tenant)
    assert erp(hub).get(f"/customers/{local_id}").json()["version"] == version
    assert [c for c in api(hub, tenant).get("/conflicts").json() if c["local_id"] == local_id] == []


def test_resolving_needs_a_value_when_use_is_value(hub, tenant):
    listed = api(hub, tenant).get("/conflicts", params={"status": "all"}).json()
    target = listed[0]["conflict_id"] if listed else "missing"
    bad = api(hub, tenant).post(f"/conflicts/{target}/resolve", json={"use": "value"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    unknown = api(hub, tenant).post("/conflicts/nope/resolve", json={"use": "erp"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
