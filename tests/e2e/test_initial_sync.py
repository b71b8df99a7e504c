"""Initial sync on the local runtime: both systems already hold customers. Records on both
sides are linked by e-mail (any case), CPF (check digits valid) or phone; a near-duplicate
name is only proposed; a wrong CPF check digit links nothing; one-sided records are created
on the other side; a second run changes nothing."""

import time

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-initial"


def formatted(document: str) -> str:
    return f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"


CPF_BRUNO = cpf("123456789")
CPF_ERIKA = cpf("987654321")
WRONG_CHECK = CPF_ERIKA[:9] + str((int(CPF_ERIKA[9:]) + 1) % 100).zfill(2)

ERP_SEED = [
    {"name": "Ana Lima", "email": "ana.lima@example.com", "person_type": "PF"},
    {"name": "Bruno Costa", "document": CPF_BRUNO, "email": "bruno@erp.example.com", "person_type": "PF"},
    {"name": "Carla Dias", "phones": ["+5511987654321"], "person_type": "PF"},
    {"name": "José Antônio Pereira", "email": "jose@erp.example.com", "person_type": "PF"},
    {"name": "Érika Nunes", "document": CPF_ERIKA, "person_type": "PF"},
    {"name": "Fábio Only-ERP", "email": "fabio@erp.example.com", "person_type": "PF"},
]
GC_SEED = [
    {"nome": "Ana L.", "email": "ANA.LIMA@Example.COM"},
    {"nome": "Bruno C.", "cpf": formatted(CPF_BRUNO), "email": "bruno@crm.example.com"},
    {"nome": "Carla", "celular": "(11) 98765-4321"},
    {"nome": "Jose Antonio Pereira", "email": "jose@crm.example.com"},
    {"nome": "Outra Pessoa", "cpf": formatted(WRONG_CHECK)},
    {"nome": "Gabriela Only-CRM", "email": "gabi@crm.example.com"},
]


@pytest.fixture(scope="module")
def tenant(hub):
    from local.demo import point_erp_at_hub, setup_tenant

    key = setup_tenant(
        hub.api_url,
        ADMIN_KEY,
        store=STORE,
        erp_url=hub.simulators["erp"],
        gestaoclick_url=hub.simulators["gestaoclick"],
        rate_limit=50,
    )
    seeded = httpx.post(f"{hub.simulators['erp']}/_sim/records/customers?store={STORE}", json=ERP_SEED)
    assert seeded.status_code == 201, seeded.text
    seeded = httpx.post(f"{hub.simulators['gestaoclick']}/_sim/records/clientes", json=GC_SEED)
    assert seeded.status_code == 201, seeded.text
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)  # the hub's own ERP writes then echo back
    return key


def api(hub, key):
    return httpx.Client(base_url=f"{hub.api_url}/api/v1/stores/{STORE}", headers={"x-api-key": key}, timeout=30)


def erp_customers(hub) -> list[dict]:
    body = httpx.get(f"{hub.simulators['erp']}/_sim/records/customers", params={"store": STORE}).json()
    return body["data"]


def gc_customers(hub) -> list[dict]:
    return httpx.get(f"{hub.simulators['gestaoclick']}/_sim/records/clientes").json()["data"]


def run_initial_sync(hub, key) -> dict:
    response = api(hub, key).post("/sync/gestaoclick/customer/initial")
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 90
    job: dict = {}
    while time.monotonic() < deadline:
        job = api(hub, key).get(f"/jobs/{job_id}").json()
        if job["status"] != "running":
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    assert hub.wait_idle(60)
    return job


def by_name(records: list[dict], key: str) -> dict[str, dict]:
    return {r[key]: r for r in records}


def external_of(hub, key, local_id) -> str | None:
    response = api(hub, key).get(f"/links/gestaoclick/customer/local/{local_id}")
    return response.json()["external_id"] if response.status_code == 200 else None


def test_initial_sync_links_matches_proposes_near_duplicates_and_creates_one_sided_records(hub, tenant):
    erp_before = by_name(erp_customers(hub), "name")
    gc_before = by_name(gc_customers(hub), "nome")

    report = run_initial_sync(hub, tenant)["details"]

    assert report["erp_records"] == 6 and report["crm_records"] == 6
    assert (report["matched_email"], report["matched_document"], report["matched_phone"]) == (1, 1, 1)
    # Linked by e-mail (different case), CPF (formatted differently) and phone (formatted differently).
    assert external_of(hub, tenant, erp_before["Ana Lima"]["id"]) == str(gc_before["Ana L."]["id"])
    assert external_of(hub, tenant, erp_before["Bruno Costa"]["id"]) == str(gc_before["Bruno C."]["id"])
    assert external_of(hub, tenant, erp_before["Carla Dias"]["id"]) == str(gc_before["Carla"]["id"])
    # A near-duplicate name is proposed for review, never linked or created on its own.
    assert report["proposals"] == [
        {
            "local_id": erp_before["José Antônio Pereira"]["id"],
            "external_id": str(gc_before["Jose Antonio Pereira"]["id"]),
            "score": pytest.approx(report["proposals"][0]["score"]),
        }
    ]
    assert report["proposals"][0]["score"] >= 0.88
    assert external_of(hub, tenant, erp_before["José Antônio Pereira"]["id"]) is None
    # A CPF with a wrong check digit matches nothing: that CRM record becomes a new ERP customer.
    assert external_of(hub, tenant, erp_before["Érika Nunes"]["id"]) is not None  # created in GC (one-sided)
    erp_after = erp_customers(hub)
    gc_after = gc_customers(hub)
    erp_names = sorted(r["name"] for r in erp_after)
    gc_names = sorted(r["nome"] for r in gc_after)
    assert erp_names.count("Outra Pessoa") == 1 and erp_names.count("Gabriela Only-CRM") == 1
    assert gc_names.count("Fábio Only-ERP") == 1 and gc_names.count("Érika Nunes") == 1
    assert "José Antônio Pereira" not in gc_names and "Jose Antonio Pereira" not in erp_names
    assert len(erp_after) == 8 and len(gc_after) == 8
    # Linked pairs were merged: each side now has the other's missing fields.
    ana_erp = next(r for r in erp_after if r["id"] == erp_before["Ana Lima"]["id"])
    bruno_gc = next(r for r in gc_after if str(r["id"]) == str(gc_before["Bruno C."]["id"]))
    assert ana_erp["email"].lower() == "ana.lima@example.com"
    assert bruno_gc["cpf"] and "".join(ch for ch in bruno_gc["cpf"] if ch.isdigit()) == CPF_BRUNO

    # A person confirms the proposal: the pair is linked and merged.
    accepted = api(hub, tenant).post(
        "/sync/gestaoclick/customer/initial/proposals/accept",
        json={
            "local_id": erp_before["José Antônio Pereira"]["id"],
            "external_id": str(gc_before["Jose Antonio Pereira"]["id"]),
        },
    )
    assert accepted.status_code == 200, accepted.text
    assert hub.wait_idle(60)
    assert external_of(hub, tenant, erp_before["José Antônio Pereira"]["id"]) == str(
        gc_before["Jose Antonio Pereira"]["id"]
    )
    unknown = api(hub, tenant).post(
        "/sync/gestaoclick/customer/initial/proposals/accept", json={"local_id": "nope", "external_id": "nope"}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"]

    # Running it twice changes nothing the second time.
    snapshot_erp = sorted((r["id"], r["name"], r.get("email")) for r in erp_customers(hub))
    snapshot_gc = sorted((str(r["id"]), r["nome"], r.get("email")) for r in gc_customers(hub))
    second = run_initial_sync(hub, tenant)["details"]
    assert second["already_linked"] == 8 and second["created_in_erp"] == 0 and second["created_in_crm"] == 0
    assert second["proposals"] == []
    assert sorted((r["id"], r["name"], r.get("email")) for r in erp_customers(hub)) == snapshot_erp
    assert sorted((str(r["id"]), r["nome"], r.get("email")) for r in gc_customers(hub)) == snapshot_gc
