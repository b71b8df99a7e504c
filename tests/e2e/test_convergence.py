"""A seeded random interleaving of edits on both sides — creates, updates and deletes in
the ERP (notifying the hub) and directly in GestãoClick (reaching the hub by imports) —
while faults are injected (5xx, 429 with Retry-After, read timeouts, on both systems) and
ERP notifications are delivered twice. After the dust settles and a final import, both
systems must correspond 1:1 through the entity links with every field in agreement.

The seed is printed (and in every assertion message); ``CONVERGENCE_SEED=<n>`` replays it.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf
from support import ERP_HEADERS, GC_HEADERS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = "loja-convergencia"
PREFIX = "Conv "
OPERATIONS = 45


def digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


@pytest.fixture(scope="module")
def tenant(hub):
    from local.demo import GC_CREDENTIALS, point_erp_at_hub, setup_tenant

    gc = hub.simulators["gestaoclick"]
    httpx.post(f"{gc}/_sim/config", json={"rate_limit": 40, "page_size": 5}).raise_for_status()
    key = setup_tenant(
        hub.api_url, ADMIN_KEY, store=STORE, erp_url=hub.simulators["erp"], gestaoclick_url=gc, rate_limit=40
    )
    # a short provider timeout, so an injected slow answer is a read timeout for the hub
    settings = {"base_url": gc, "rate_limit": 40, "timeout_s": 1.5}
    put = httpx.put(
        f"{hub.api_url}/api/v1/stores/{STORE}/connections/gestaoclick",
        headers={"x-api-key": key},
        json={"settings": settings, "credentials": GC_CREDENTIALS},
    )
    assert put.status_code == 200, put.text
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    return key


class World:
    """Drives both systems like their users would (retrying their own faulted requests)."""

    def __init__(self, hub, key: str, rng: random.Random) -> None:
        self.hub, self.key, self.rng = hub, key, rng
        self.erp = httpx.Client(
            base_url=f"{hub.simulators['erp']}/api/v1/stores/{STORE}", headers=ERP_HEADERS, timeout=30
        )
        self.gc = httpx.Client(base_url=hub.simulators["gestaoclick"], headers=GC_HEADERS, timeout=30)
        self.api = httpx.Client(base_url=f"{hub.api_url}/api/v1/stores/{STORE}", headers={"x-api-key": key}, timeout=30)
        self.created: list[str] = []  # every CPF ever created, on either side
        self.live: set[str] = set()  # CPFs never deleted
        self.serial = 0
        self.log: list[str] = []

    # -- raw calls ----------------------------------------------------------------------
    @staticmethod
    def call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A user's request: injected 5xx/429 answers are retried (they are refused before
        the request is applied, so retrying is safe)."""
        for _ in range(20):
            response = client.request(method, url, **kwargs)
            if response.status_code < 500 and response.status_code != 429:
                return response
            time.sleep(0.2)
        raise AssertionError(f"{method} {url} kept failing: {response.status_code}")

    def erp_rows(self) -> list[dict]:
        rows: list[dict] = []
        page = 1
        while True:
            body = self.call(self.erp, "GET", "/customers", params={"per_page": 100, "page": page}).json()
            rows += [r for r in body["data"] if r["name"].startswith(PREFIX)]
            if not body["next_page"]:
                return rows
            page = body["next_page"]

    def gc_rows(self) -> list[dict]:
        rows = httpx.get(f"{self.hub.simulators['gestaoclick']}/_sim/records/clientes").json()["data"]
        return [r for r in rows if (r["nome"] or "").startswith(PREFIX)]

    def pick(self, rows: list[dict], document_key: str) -> dict | None:
        candidates = [r for r in rows if digits(r[document_key]) in self.live]
        return self.rng.choice(candidates) if candidates else None

    def new_person(self) -> tuple[str, str]:
        self.serial += 1
        document = cpf(f"7{self.rng.randrange(10**7):07d}{self.serial % 10}")
        while document in self.created:
            document = cpf(f"7{self.rng.randrange(10**7):07d}{self.serial % 10}")
        self.created.append(document)
        self.live.add(document)
        return document, f"{PREFIX}{self.serial} {self.rng.choice(['Ana', 'Bruno', 'Caio', 'Dora'])}"

    # -- operations ---------------------------------------------------------------------
    def erp_create(self) -> None:
        document, name = self.new_person()
        body = {"name": name, "document": document, "email": f"c{self.serial}@example.com"}
        if self.rng.random() < 0.5:
            body["phones"] = [f"+55 11 9{self.rng.randrange(10**8):08d}"]
        assert self.call(self.erp, "POST", "/customers", json=body).status_code == 201

    def erp_update(self) -> None:
        row = self.pick([r for r in self.erp_rows() if r["active"]], "document")
        if row is None:
            return
        field = self.rng.choice(["name", "email", "phones"])
        value: Any = {
            "name": f"{PREFIX}{self.serial}-{self.rng.randrange(1000)} ERP",
            "email": f"erp{self.rng.randrange(10**6)}@example.com",
            "phones": [f"+55 21 9{self.rng.randrange(10**8):08d}"],
        }[field]
        assert self.call(self.erp, "PATCH", f"/customers/{row['id']}", json={field: value}).status_code == 200

    def erp_delete(self) -> None:
        row = self.pick([r for r in self.erp_rows() if r["active"]], "document")
        if row is None:
            return
        self.live.discard(digits(row["document"]))
        assert self.call(self.erp, "DELETE", f"/customers/{row['id']}").status_code == 200

    def erp_duplicate_notification(self) -> None:
        """The ERP's notification of a record's latest change, delivered again."""
        rows = [r for r in self.erp_rows() if r["active"]]
        if not rows:
            return
        row = self.rng.choice(rows)
        body = {
            "entity": "customer",
            "local_id": row["id"],
            "operation": "upsert",
            "data": row,
            "updated_at": row["updated_at"],
        }
        assert self.call(self.api, "POST", "/changes", json=body).status_code == 202

    def gc_create(self) -> None:
        document, name = self.new_person()
        body = {"nome": name, "tipo_pessoa": "PF", "cpf": document, "email": f"g{self.serial}@example.com"}
        assert self.call(self.gc, "POST", "/clientes", json=body).status_code == 200

    def gc_update(self) -> None:
        row = self.pick([r for r in self.gc_rows() if r["ativo"] == "1"], "cpf")
        if row is None:
            return
        field = self.rng.choice(["nome", "email", "celular"])
        value = {
            "nome": f"{PREFIX}{self.serial}-{self.rng.randrange(1000)} GC",
            "email": f"gc{self.rng.randrange(10**6)}@example.com",
            "celular": f"319{self.rng.randrange(10**8):08d}",
        }[field]
        assert self.call(self.gc, "PUT", f"/clientes/{row['id']}", json={field: value}).status_code == 200

    def gc_delete(self) -> None:
        row = self.pick(self.gc_rows(), "cpf")
        if row is None:
            return
        self.live.discard(digits(row["cpf"]))
        assert self.call(self.gc, "DELETE", f"/clientes/{row['id']}").status_code == 200

    def start_import(self) -> None:
        assert self.call(self.api, "POST", "/sync/gestaoclick/customer/import").status_code in (200, 202)

    def fault(self) -> None:
        """A bad spell on one side: 5xx, 429 with Retry-After, or slow reads (timeouts)."""
        target, faults = self.rng.choice(
            [
                ("gestaoclick", [{"type": "status", "status": 503, "count": 3}]),
                ("gestaoclick", [{"type": "status", "status": 429, "count": 2, "retry_after": 1}]),
                ("gestaoclick", [{"type": "timeout", "seconds": 2.5, "count": 1, "method": "GET"}]),
                ("gestaoclick", [{"type": "status", "status": 502, "count": 2, "method": "PUT"}]),
                ("erp", [{"type": "status", "status": 503, "count": 2}]),
                ("erp", [{"type": "timeout", "seconds": 2.5, "count": 1, "method": "GET"}]),
            ]
        )
        httpx.post(f"{self.hub.simulators[target]}/_sim/faults", json=faults).raise_for_status()

    def step(self) -> None:
        operations = [
            (self.erp_create, 5),
            (self.erp_update, 5),
            (self.erp_delete, 1),
            (self.erp_duplicate_notification, 2),
            (self.gc_create, 3),
            (self.gc_update, 5),
            (self.gc_delete, 1),
            (self.start_import, 2),
            (self.fault, 2),
        ]
        operation = self.rng.choices([op for op, _ in operations], weights=[w for _, w in operations])[0]
        self.log.append(operation.__name__)
        operation()
        time.sleep(self.rng.uniform(0.0, 0.25))

    def orphan_report(self, external_ids: list[str]) -> list[dict]:
        """Each cliente's link and the sync log of both of its ids (for the failure message)."""
        report = []
        for external_id in external_ids:
            link = self.api.get(f"/links/gestaoclick/customer/external/{external_id}").json()
            logs = self.api.get(f"/logs/customer/ext:{external_id}").json()
            if link.get("local_id"):
                logs += self.api.get(f"/logs/customer/{link['local_id']}").json()
            report.append({"cliente": external_id, "link": link, "log": logs})
        return report

    def settle(self) -> None:
        """Faults over; let retries finish; then imports until the two sides are quiet."""
        for target in ("gestaoclick", "erp"):
            httpx.delete(f"{self.hub.simulators[target]}/_sim/faults").raise_for_status()
        assert self.hub.wait_idle(120)
        for _ in range(2):
            job = self.call(self.api, "POST", "/sync/gestaoclick/customer/import").json()
            deadline = time.monotonic() + 60
            while self.call(self.api, "GET", f"/jobs/{job['job_id']}").json()["status"] != "idle":
                assert time.monotonic() < deadline, "import did not finish"
                time.sleep(0.2)
            assert self.hub.wait_idle(120)


def agree(erp_row: dict, gc_row: dict) -> list[str]:
    """Fields that differ between an ERP customer and its GestãoClick cliente."""
    differences = []
    if erp_row["name"] != gc_row["nome"]:
        differences.append("name")
    if (erp_row["email"] or "").lower() != (gc_row["email"] or "").lower():
        differences.append("email")
    if digits(erp_row["document"]) != digits(gc_row["cpf"]):
        differences.append("document")
    erp_phones = sorted(digits(p)[-11:] for p in erp_row["phones"] or [])
    gc_phones = sorted(digits(p)[-11:] for p in (gc_row["celular"], gc_row["telefone"]) if digits(p))
    if erp_phones != gc_phones:
        differences.append("phones")
    if erp_row["active"] != (gc_row["ativo"] == "1"):
        differences.append("active")
    return differences


def test_both_systems_converge_after_random_interleaved_edits_with_faults(hub, tenant):
    seed = int(os.environ.get("CONVERGENCE_SEED") or random.SystemRandom().randrange(10**6))
    print(f"convergence seed: {seed} (replay with CONVERGENCE_SEED={seed})")
    world = World(hub, tenant, random.Random(seed))
    world.erp_create()
    world.gc_create()
    for _ in range(OPERATIONS):
        world.step()
    world.settle()

    def where() -> str:
        errors = [(e["action"], e["error_code"], e["error_message"]) for e in world.api.get("/errors").json()]
        return f"[seed {seed}; operations {world.log}; hub errors {errors[:10]}]"

    erp_rows, gc_rows = world.erp_rows(), world.gc_rows()
    erp_live = [r for r in erp_rows if r["active"]]
    gc_live = [r for r in gc_rows if r["ativo"] == "1"]
    # No duplicates on either side
    erp_docs = [digits(r["document"]) for r in erp_rows]
    gc_docs = [digits(r["cpf"]) for r in gc_rows]
    assert len(erp_docs) == len(set(erp_docs)), f"duplicate ERP customers {where()}"
    assert len(gc_docs) == len(set(gc_docs)), f"duplicate GestãoClick clientes {where()}"
    # Nothing lost: every record never deleted is alive on both sides
    assert world.live <= {digits(r["document"]) for r in erp_live}, f"lost in the ERP {where()}"
    assert world.live <= {digits(r["cpf"]) for r in gc_live}, f"lost in GestãoClick {where()}"
    # Live records correspond 1:1 through the links, with every field in agreement
    gc_by_id = {r["id"]: r for r in gc_rows}
    linked_gc_ids = set()
    for row in erp_live:
        link = world.call(world.api, "GET", f"/links/gestaoclick/customer/local/{row['id']}").json()
        assert link.get("status") == "linked", f"ERP customer {row['id']} not linked: {link} {where()}"
        partner = gc_by_id.get(link["external_id"])
        assert partner is not None, f"ERP customer {row['id']} links to a missing cliente {where()}"
        differences = agree(row, partner)
        if differences:
            history = world.api.get(f"/logs/customer/{row['id']}").json()
            raise AssertionError(
                f"customer {row['id']} differs in {differences}: ERP {row}, GestãoClick {partner}, "
                f"log {history} {where()}"
            )
        linked_gc_ids.add(partner["id"])
    orphans = sorted({r["id"] for r in gc_live} - linked_gc_ids)
    if orphans:
        raise AssertionError(f"GestãoClick clientes without an ERP partner: {world.orphan_report(orphans)} {where()}")
    # Last-write-wins everywhere: nothing is left open for a person
    open_conflicts = world.call(world.api, "GET", "/conflicts").json()
    assert open_conflicts == [], f"open conflicts {where()}"
