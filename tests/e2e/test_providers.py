"""The ERP → CRM and CRM → ERP paths, end to end, against each of the three CRMs'
simulators: GestãoClick (import only), Pipedrive (webhooks v2, HTTP Basic), Bling
(webhooks signed X-Bling-Signature-256)."""

import time

import httpx
import pytest

from e2e_support import ADMIN_KEY, cpf
from support import ERP_HEADERS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PEOPLE = {"gestaoclick": ("clientes", "nome"), "pipedrive": ("persons", "name"), "bling": ("contatos", "nome")}


@pytest.fixture(scope="module", params=["gestaoclick", "pipedrive", "bling"])
def tenant(request, hub):
    from local.demo import point_erp_at_hub, setup_tenant

    provider = request.param
    store = f"loja-{provider}"
    simulator = hub.simulators[provider]
    httpx.post(f"{simulator}/_sim/config", json={"rate_limit": 60}).raise_for_status()
    key = setup_tenant(
        hub.api_url,
        ADMIN_KEY,
        store=store,
        erp_url=hub.simulators["erp"],
        provider=provider,
        provider_url=simulator,
        rate_limit=30,
    )
    point_erp_at_hub(hub.simulators["erp"], hub.api_url, key)
    webhook_url = f"{hub.api_url}/webhooks/{provider}/{store}"
    if provider == "pipedrive":
        registered = httpx.post(
            f"{hub.api_url}/api/v1/stores/{store}/connections/pipedrive/webhooks",
            headers={"x-api-key": key},
            json={"url": webhook_url},
            timeout=30,
        )
        assert registered.status_code == 200, registered.text
    if provider == "bling":
        httpx.post(f"{simulator}/_sim/config", json={"webhook_url": webhook_url}).raise_for_status()
    return provider, store, key


def people(hub, provider):
    resource, _ = PEOPLE[provider]
    return httpx.get(f"{hub.simulators[provider]}/_sim/records/{resource}").json()["data"]


def wait(condition, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_erp_customer_reaches_the_crm_and_updates_do_not_duplicate(hub, tenant):
    provider, store, key = tenant
    _, name_field = PEOPLE[provider]
    erp = httpx.Client(base_url=f"{hub.simulators['erp']}/api/v1/stores/{store}", headers=ERP_HEADERS)
    customer = erp.post(
        "/customers",
        json={
            "name": "Luana Prado",
            "document": cpf("123456789"),
            "email": "luana@example.com",
            "phones": ["11987654321"],
        },
    ).json()
    assert hub.wait_idle(90)
    link = httpx.get(
        f"{hub.api_url}/api/v1/stores/{store}/links/{provider}/customer/local/{customer['id']}",
        headers={"x-api-key": key},
    ).json()
    assert link.get("status") == "linked", link
    named = [p for p in people(hub, provider) if p.get(name_field) == "Luana Prado"]
    assert len(named) == 1
    erp.patch(f"/customers/{customer['id']}", json={"name": "Luana Prado Reis"})
    assert hub.wait_idle(90)
    renamed = [p for p in people(hub, provider) if str(p.get(name_field, "")).startswith("Luana Prado")]
    assert [p[name_field] for p in renamed] == ["Luana Prado Reis"]


def test_crm_change_reaches_the_erp(hub, tenant):
    provider, store, key = tenant
    erp = httpx.Client(base_url=f"{hub.simulators['erp']}/api/v1/stores/{store}", headers=ERP_HEADERS)
    customer = erp.post(
        "/customers", json={"name": "Otávio Melo", "document": cpf("987654321"), "email": "otavio@example.com"}
    ).json()
    assert hub.wait_idle(90)
    link = httpx.get(
        f"{hub.api_url}/api/v1/stores/{store}/links/{provider}/customer/local/{customer['id']}",
        headers={"x-api-key": key},
    ).json()
    external_id = link["external_id"]
    simulator = hub.simulators[provider]
    if provider == "gestaoclick":
        httpx.put(
            f"{simulator}/clientes/{external_id}",
            json={"nome": "Otávio Melo Filho"},
            headers={"access-token": "gc-access-token", "secret-access-token": "gc-secret-access-token"},
        )
        started = httpx.post(
            f"{hub.api_url}/api/v1/stores/{store}/sync/gestaoclick/customer/import", headers={"x-api-key": key}
        )
        assert started.status_code in (200, 202)
    elif provider == "pipedrive":
        # someone edits the person in Pipedrive's UI: Pipedrive sends a v2 webhook
        response = httpx.patch(f"{simulator}/_sim/app/persons/{external_id}", json={"name": "Otávio Melo Filho"})
        assert response.status_code == 200, response.text
    else:
        bearer = {"authorization": "Bearer bling-access-token"}
        current = httpx.get(f"{simulator}/Api/v3/contatos/{external_id}", headers=bearer).json()["data"]
        current["nome"] = "Otávio Melo Filho"
        response = httpx.put(f"{simulator}/Api/v3/contatos/{external_id}", headers=bearer, json=current)
        assert response.status_code in (200, 204), response.text
    assert wait(lambda: erp.get(f"/customers/{customer['id']}").json()["name"] == "Otávio Melo Filho", 90)
    assert hub.wait_idle(90)
    # and nothing echoed back as a second change
    named = [p for p in people(hub, provider) if str(p.get(PEOPLE[provider][1], "")).startswith("Otávio")]
    assert len(named) == 1
