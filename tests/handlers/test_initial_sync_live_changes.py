"""Initial sync while both systems keep changing.

Until the job has linked a record, a change on either side would create it on the other,
next to the copy the job is about to match: a duplicate in each system. While the job
runs, the engine matches before it creates (the provider searched by natural key for an
ERP change, the job's ERP index for a provider change). Staged against the real ERP and
GestãoClick simulators, the job's pages worked one by one as the worker would.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

import support
from support import ERP_HEADERS, GC_HEADERS, gestaoclick_store

STORE = "loja-initial-live"


@pytest.fixture
def engine(aws, gestaoclick, erp):
    from crmhub.sync.engine import SyncEngine

    gestaoclick_store(STORE, gestaoclick.url, erp_url=erp.url)
    return SyncEngine()


@pytest.fixture
def job(aws, engine):
    """Start the customers' initial sync; ``job.until(phase)`` works its pages (and the
    changes they enqueue) until the job reaches ``phase`` ("done": to the end)."""
    from crmhub.initial_sync import job_id, process_initial_sync, start_initial_sync
    from crmhub.models.changes import QUEUE_MESSAGE, InboundMessage, InitialSyncMessage, SyncMessage
    from crmhub.queueing import SyncQueue
    from crmhub.storage.jobs import JobRecord

    queue = SyncQueue()
    sqs = aws.client("sqs")

    class Job:
        def record(self) -> JobRecord:
            return JobRecord.get(STORE, job_id("gestaoclick", "customer"), consistent_read=True)

        def details(self, record: JobRecord | None = None) -> dict:
            return dict((record or self.record()).details.as_dict())

        def until(self, phase: str) -> None:
            for _ in range(100):
                record = self.record()
                if record.status == "done" or (phase != "done" and self.details(record)["phase"] == phase):
                    if phase == "done":
                        self._drain()  # what the last page enqueued
                    return
                if not self._drain(one_page=True):
                    return

        def _drain(self, *, one_page: bool = False) -> bool:
            worked = False
            for lane in ("SyncHighQueue", "SyncDefaultQueue", "SyncLowQueue"):
                for raw in aws.receive(lane):
                    message = QUEUE_MESSAGE.validate_json(raw["Body"])
                    if isinstance(message, InitialSyncMessage):
                        process_initial_sync(message, engine=engine, queue=queue)
                    elif isinstance(message, InboundMessage):
                        engine.apply_inbound(message)
                    elif isinstance(message, SyncMessage):
                        engine.apply(message)
                    sqs.delete_message(QueueUrl=aws.queue_urls[lane], ReceiptHandle=raw["ReceiptHandle"])
                    worked = True
                    if one_page and isinstance(message, InitialSyncMessage):
                        return True
            return worked

    start_initial_sync(STORE, "gestaoclick", "customer", queue=queue)
    return Job()


def erp_customers(erp) -> list[dict]:
    return httpx.get(f"{erp.url}/api/v1/stores/{STORE}/customers", headers=ERP_HEADERS).json()["data"]


def gc_clientes(gestaoclick) -> list[dict]:
    return httpx.get(f"{gestaoclick.url}/_sim/records/clientes").json()["data"]


def seed(erp, gestaoclick, *, name: str, email: str) -> tuple[dict, str]:
    """The same person in both systems, not linked (spelled differently, as people do)."""
    customer = httpx.post(
        f"{erp.url}/api/v1/stores/{STORE}/customers", headers=ERP_HEADERS, json={"name": name, "email": email}
    ).json()
    cliente = httpx.post(
        f"{gestaoclick.url}/clientes",
        headers=GC_HEADERS,
        json={"nome": name.split()[0] + ".", "tipo_pessoa": "PF", "email": email.upper()},
    ).json()["data"]
    return customer, str(cliente["id"])


@pytest.fixture
def ana(erp, gestaoclick):
    return seed(erp, gestaoclick, name="Ana Souza", email="ana@example.com")


def link_of(local_id: str):
    from crmhub.storage.entity_links import get_link

    return get_link(STORE, "gestaoclick", "customer", local_id)


def test_an_erp_edit_during_the_initial_sync_links_the_providers_copy(engine, erp, gestaoclick, ana, job):
    customer, cliente_id = ana
    job.until("crm_match")  # the ERP is indexed; the clientes are not matched yet
    edited = httpx.patch(
        f"{erp.url}/api/v1/stores/{STORE}/customers/{customer['id']}",
        headers=ERP_HEADERS,
        json={"name": "Ana Souza Lima"},
    ).json()
    outcome = engine.apply(support.erp_change(STORE, edited))
    assert str(outcome.action) == "link" and outcome.external_id == cliente_id
    job.until("done")
    [cliente] = gc_clientes(gestaoclick)  # no second cliente
    assert cliente["nome"] == "Ana Souza Lima"
    assert len(erp_customers(erp)) == 1
    assert link_of(str(customer["id"])).external_id == cliente_id
    assert job.details()["already_linked"] == 1


def test_a_provider_change_during_the_initial_sync_links_the_erps_copy(engine, erp, gestaoclick, ana, job):
    customer, cliente_id = ana
    job.until("crm_match")
    outcome = engine.apply_inbound(support.imported(STORE, cliente_id, datetime.now(UTC)))
    assert outcome.local_id == str(customer["id"])  # the ERP's record, not a new one
    job.until("done")
    assert len(erp_customers(erp)) == 1 and len(gc_clientes(gestaoclick)) == 1
    assert link_of(str(customer["id"])).external_id == cliente_id


def test_a_provider_change_waits_while_the_erp_is_being_indexed(engine, erp, gestaoclick, ana, job):
    from crmhub.errors import TransientError

    _, cliente_id = ana
    with pytest.raises(TransientError, match="reading the ERP") as waited:
        engine.apply_inbound(support.imported(STORE, cliente_id, datetime.now(UTC)))
    assert waited.value.blocked_for_s  # its last retries are spaced to outlast the wait
    assert len(erp_customers(erp)) == 1
    job.until("crm_match")
    engine.apply_inbound(support.imported(STORE, cliente_id, datetime.now(UTC)))  # the retry
    job.until("done")
    assert len(erp_customers(erp)) == 1 and len(gc_clientes(gestaoclick)) == 1


def test_a_second_provider_copy_of_a_linked_record_is_reported_not_created(engine, erp, gestaoclick, request):
    customer = httpx.post(
        f"{erp.url}/api/v1/stores/{STORE}/customers",
        headers=ERP_HEADERS,
        json={"name": "Carla Dias", "email": "carla@example.com"},
    ).json()
    first = engine.apply(support.erp_change(STORE, customer))  # synced before: Carla has a cliente
    # Someone typed Carla into GestãoClick a second time
    httpx.post(
        f"{gestaoclick.url}/clientes",
        headers=GC_HEADERS,
        json={"nome": "Carla D.", "tipo_pessoa": "PF", "email": "carla@example.com"},
    ).raise_for_status()
    job = request.getfixturevalue("job")
    job.until("done")
    assert len(erp_customers(erp)) == 1  # not a second Carla in the ERP
    assert len(gc_clientes(gestaoclick)) == 2  # nor a third in GestãoClick
    assert link_of(str(customer["id"])).external_id == first.external_id
    details = job.details()
    assert details["linked_elsewhere"] == 1 and details["already_linked"] == 1


def test_a_record_a_worker_is_linking_is_left_to_that_worker(engine, erp, gestaoclick, ana, job):
    from crmhub.storage import entity_links

    customer, cliente_id = ana
    job.until("crm_match")
    # A worker syncing an ERP change of Ana has written its intent and not yet searched
    message = support.erp_change(STORE, customer)
    entity_links.begin_intent(
        STORE,
        "gestaoclick",
        "customer",
        str(customer["id"]),
        intent_id="a-worker",
        natural_key={"email": "ana@example.com"},
        change_id=message.change_id,
        now=datetime.now(UTC),
    )
    job.until("done")
    assert job.details()["being_linked"] == 1 and job.details().get("linked_elsewhere", 0) == 0
    assert len(erp_customers(erp)) == 1 and len(gc_clientes(gestaoclick)) == 1
    # that worker's retry finds Ana's cliente (its intent's search) and links it
    assert str(engine.apply(message, attempt=2).action) == "link"
    assert link_of(str(customer["id"])).external_id == cliente_id
    assert len(gc_clientes(gestaoclick)) == 1
