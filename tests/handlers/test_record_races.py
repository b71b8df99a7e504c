"""One record, two directions at once.

A record's ERP changes travel in one FIFO group (by local id) and its provider changes in
another (by external id), so two workers can hold the same record. These tests stage
the interleavings the randomised convergence test can only hit by chance, against the
real ERP and GestãoClick simulators:

- the ERP's users delete or edit a record the hub has just created in the ERP from a
  provider record, before its link is saved (and when the ERP's answer to the create was
  lost, so the window lasts until the retry);
- a worker finds the record leased by another and waits its turn;
- the provider's record is gone when an ERP change arrives (deleted there; the import
  that would say so has not run yet).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

import support
from support import ERP_HEADERS, GC_HEADERS, gestaoclick_store

STORE = "loja-races"


@pytest.fixture
def engine(aws, gestaoclick, erp):
    from crmhub.sync.engine import SyncEngine

    gestaoclick_store(STORE, gestaoclick.url, erp_url=erp.url)
    return SyncEngine()


def gc_cliente(gestaoclick, name="Ana Souza", document="52998224725") -> str:
    response = httpx.post(
        f"{gestaoclick.url}/clientes",
        headers=GC_HEADERS,
        json={"nome": name, "tipo_pessoa": "PF", "cpf": document, "email": "ana@example.com"},
    )
    response.raise_for_status()
    return str(response.json()["data"]["id"])


def gc_clientes(gestaoclick) -> list[dict]:
    return httpx.get(f"{gestaoclick.url}/_sim/records/clientes").json()["data"]


def erp_customer(erp, local_id: str) -> dict:
    return httpx.get(f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}", headers=ERP_HEADERS).json()


def imported(external_id: str, when: datetime, action: str = "update"):
    return support.imported(STORE, external_id, when, action)


def erp_change(record: dict, operation: str = "upsert"):
    return support.erp_change(STORE, record, operation)


def link_of(local_id: str):
    from crmhub.models.common import Entity
    from crmhub.storage.entity_links import get_link

    return get_link(STORE, "gestaoclick", Entity.CUSTOMER, local_id)


def in_the_window(monkeypatch, action):
    """Run ``action(local_id)`` once, when the hub has created the ERP record from the
    provider's and is about to save its link."""
    from crmhub.storage import entity_links

    real = entity_links.begin_intent
    seen: list[str] = []

    def begin_intent(store_id, provider, entity, local_id, **kwargs):
        if not seen and kwargs.get("change_id") is None:
            seen.append(local_id)
            action(local_id)
        return real(store_id, provider, entity, local_id, **kwargs)

    monkeypatch.setattr(entity_links, "begin_intent", begin_intent)
    return seen


def test_an_erp_delete_before_the_link_is_saved_reaches_the_provider(engine, gestaoclick, erp, monkeypatch):
    from crmhub.errors import TransientError

    external_id = gc_cliente(gestaoclick)
    early: list[Exception] = []

    def user_deletes(local_id):
        record = httpx.delete(f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}", headers=ERP_HEADERS).json()
        with pytest.raises(TransientError) as waited:  # not "not linked": the link is on its way
            engine.apply(erp_change(record, "delete"))
        early.append(waited.value)

    window = in_the_window(monkeypatch, user_deletes)
    engine.apply_inbound(imported(external_id, datetime.now(UTC)))
    [local_id] = window
    assert early and "creating this record" in early[0].message
    assert 80 < early[0].blocked_for_s <= 90  # the claim's lease: the last retries wait past it
    assert link_of(local_id).external_id == external_id

    # the ERP's delete, retried, now finds the link and deactivates the cliente
    record = erp_customer(erp, local_id)
    outcome = engine.apply(erp_change(record, "delete"), attempt=2)
    assert str(outcome.action) == "deactivate"
    [cliente] = gc_clientes(gestaoclick)
    assert cliente["ativo"] == "0" and record["active"] is False
    assert link_of(local_id).status == "deleted"


def test_an_erp_edit_before_the_link_is_saved_updates_instead_of_duplicating(engine, gestaoclick, erp, monkeypatch):
    from crmhub.errors import TransientError

    external_id = gc_cliente(gestaoclick)
    edits: list[dict] = []

    def user_renames(local_id):
        record = httpx.patch(
            f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}", headers=ERP_HEADERS, json={"name": "Ana S. Lima"}
        ).json()
        edits.append(record)
        with pytest.raises(TransientError):
            engine.apply(erp_change(record))

    in_the_window(monkeypatch, user_renames)
    engine.apply_inbound(imported(external_id, datetime.now(UTC) - timedelta(seconds=5)))
    outcome = engine.apply(erp_change(edits[0]), attempt=2)
    assert str(outcome.action) == "update"
    [cliente] = gc_clientes(gestaoclick)  # one cliente: no second copy was created
    assert cliente["nome"] == "Ana S. Lima" and str(cliente["id"]) == external_id


def test_the_claim_outlives_a_lost_erp_answer_until_the_retry_links(engine, gestaoclick, erp):
    from crmhub.errors import TransientError
    from crmhub.storage import entity_links

    external_id = gc_cliente(gestaoclick)
    # The ERP creates the customer, but its answer never arrives
    faults = [{"type": "drop_after_commit", "count": 1, "method": "POST"}]
    httpx.post(f"{erp.url}/_sim/faults", json=faults).raise_for_status()
    with pytest.raises(TransientError):
        engine.apply_inbound(imported(external_id, datetime.now(UTC)))
    [record] = httpx.get(f"{erp.url}/api/v1/stores/{STORE}/customers", headers=ERP_HEADERS).json()["data"]
    # Meanwhile the ERP's users delete it: the hub waits rather than forgetting the delete
    deleted = httpx.delete(f"{erp.url}/api/v1/stores/{STORE}/customers/{record['id']}", headers=ERP_HEADERS).json()
    with pytest.raises(TransientError):
        engine.apply(erp_change(deleted, "delete"))
    # The import's retry gets the same ERP record back (idempotency key) and links it
    engine.apply_inbound(imported(external_id, datetime.now(UTC)), attempt=2)
    assert link_of(str(record["id"])).external_id == external_id
    since = datetime.now(UTC) - timedelta(hours=1)
    assert entity_links.creations_in_flight(STORE, "gestaoclick", "customer", since=since) == []
    engine.apply(erp_change(deleted, "delete"), attempt=2)
    [cliente] = gc_clientes(gestaoclick)
    assert cliente["ativo"] == "0"


def test_a_change_of_an_unrelated_record_does_not_wait_for_a_claim(engine, gestaoclick, erp):
    from crmhub.storage import entity_links

    entity_links.claim_creation(
        STORE, "gestaoclick", "customer", "999", natural_key={"document": "11144477735"}, now=datetime.now(UTC)
    )
    record = httpx.post(
        f"{erp.url}/api/v1/stores/{STORE}/customers",
        headers=ERP_HEADERS,
        json={"name": "Bruno Reis", "document": "52998224725", "email": "bruno@example.com"},
    ).json()
    outcome = engine.apply(erp_change(record))
    assert str(outcome.action) == "create"
    assert [c["nome"] for c in gc_clientes(gestaoclick)] == ["Bruno Reis"]


def linked_pair(engine, gestaoclick, erp) -> tuple[str, str]:
    external_id = gc_cliente(gestaoclick)
    outcome = engine.apply_inbound(imported(external_id, datetime.now(UTC) - timedelta(minutes=1)))
    return outcome.local_id, external_id


def test_both_directions_take_turns_on_a_leased_record(engine, gestaoclick, erp):
    from crmhub.errors import TransientError
    from crmhub.storage import entity_links

    local_id, external_id = linked_pair(engine, gestaoclick, erp)
    record = httpx.patch(
        f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}", headers=ERP_HEADERS, json={"name": "Ana Lima"}
    ).json()
    with entity_links.lease(link_of(local_id), owner="another-worker", seconds=90):
        with pytest.raises(TransientError, match="another worker") as busy:
            engine.apply(erp_change(record))
        assert 85 < busy.value.blocked_for_s <= 90  # what is left of the other worker's lease
        with pytest.raises(TransientError, match="another worker"):
            engine.apply_inbound(imported(external_id, datetime.now(UTC)))
        assert gc_clientes(gestaoclick)[0]["nome"] == "Ana Souza"
    assert link_of(local_id).lease_owner is None  # released
    assert str(engine.apply(erp_change(record), attempt=2).action) == "update"
    assert gc_clientes(gestaoclick)[0]["nome"] == "Ana Lima"


def test_a_dead_workers_lease_expires(engine, gestaoclick, erp):
    from crmhub.storage import entity_links

    local_id, _ = linked_pair(engine, gestaoclick, erp)
    record = httpx.patch(
        f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}", headers=ERP_HEADERS, json={"name": "Ana Lima"}
    ).json()
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    with entity_links.lease(link_of(local_id), owner="dead-worker", seconds=90, now=long_ago):
        assert str(engine.apply(erp_change(record)).action) == "update"


def test_an_erp_change_of_a_record_deleted_in_the_provider_applies_that_delete(engine, gestaoclick, erp):
    local_id, external_id = linked_pair(engine, gestaoclick, erp)
    httpx.delete(f"{gestaoclick.url}/clientes/{external_id}", headers=GC_HEADERS).raise_for_status()
    # The ERP's users edit the customer twice before the import has noticed the delete
    url = f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}"
    first = httpx.patch(url, headers=ERP_HEADERS, json={"name": "Ana Lima"}).json()
    second = httpx.patch(url, headers=ERP_HEADERS, json={"email": "ana.lima@example.com"}).json()
    outcome = engine.apply(erp_change(first))
    assert (str(outcome.action), outcome.reason) == ("deactivate", "deleted_in_provider")
    assert gc_clientes(gestaoclick) == []  # not created again
    assert erp_customer(erp, local_id)["active"] is False
    assert link_of(local_id).status == "deleted"
    # the second edit's copy still says "active", but the hub's deactivation is newer
    assert engine.apply(erp_change(second)).reason == "stale_change"
    assert gc_clientes(gestaoclick) == []
    # ...and the import's delete, arriving after, changes nothing more
    assert str(engine.apply_inbound(imported(external_id, datetime.now(UTC), "delete")).status) == "skipped"


def test_a_one_way_entity_deleted_in_the_provider_is_created_again(engine, gestaoclick, erp):
    from crmhub.models.common import ProviderName
    from crmhub.models.connection import ConnectionSettings, EntitySettings
    from crmhub.storage.connections import put_connection

    local_id, external_id = linked_pair(engine, gestaoclick, erp)
    one_way = ConnectionSettings(
        base_url=gestaoclick.url, rate_limit=1000, entities={"customer": EntitySettings(direction="erp_to_crm")}
    )
    put_connection(STORE, ProviderName.GESTAOCLICK, one_way)
    httpx.delete(f"{gestaoclick.url}/clientes/{external_id}", headers=GC_HEADERS).raise_for_status()
    record = httpx.patch(
        f"{erp.url}/api/v1/stores/{STORE}/customers/{local_id}", headers=ERP_HEADERS, json={"name": "Ana Lima"}
    ).json()
    outcome = engine.apply(erp_change(record))
    assert (str(outcome.action), outcome.reason) == ("create", "recreated")
    [cliente] = gc_clientes(gestaoclick)
    assert cliente["nome"] == "Ana Lima" and str(cliente["id"]) != external_id
    assert erp_customer(erp, local_id)["active"] is True
