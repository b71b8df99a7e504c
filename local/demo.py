"""The demo that ``make run`` plays on the local stack, through the real path:

ERP simulator (records created through its API) → change notification → API Gateway
front → API function → SQS FIFO lane → sync worker → GestãoClick simulator → links and
sync log in DynamoDB (moto).

Tenant setup also goes through the hub's own API, with a local admin key.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from local.runtime.hub import LocalHub
from local.simulators.erp import demo_customer

LOCAL_ADMIN_KEY = "local-admin-key"
DEMO_STORE = "loja-demo"
ERP_TOKEN = "erp-local-token"
GC_CREDENTIALS = {"access_token": "gc-access-token", "secret_access_token": "gc-secret-access-token"}
# What each simulator accepts by default (see local/simulators/<provider>.py).
SIMULATOR_CREDENTIALS: dict[str, dict[str, Any]] = {
    "gestaoclick": GC_CREDENTIALS,
    "pipedrive": {"api_token": "pd-api-token", "webhook_user": "crmhub", "webhook_password": "pd-webhook-secret"},
    "bling": {
        "client_id": "bling-client-id",
        "client_secret": "bling-client-secret",
        "access_token": "bling-access-token",
        "refresh_token": "bling-refresh-token",
        "expires_at": 4102444800,
    },
}
SIMULATOR_API_PATH = {"gestaoclick": "", "pipedrive": "/api/v2", "bling": "/Api/v3"}

Say = Callable[[str], None]


def create_admin_key(key: str = LOCAL_ADMIN_KEY) -> str:
    """Store the local admin key (the only thing not done through the API: someone has to
    hold the first key; on AWS that is ``crmhub admin create-key``)."""
    from crmhub import bootstrap
    from crmhub.storage.api_keys import ADMIN_SCOPE, issue_api_key

    bootstrap.init()
    return issue_api_key(ADMIN_SCOPE, "local admin", key=key)


def setup_tenant(
    hub_url: str,
    admin_key: str,
    *,
    store: str,
    erp_url: str,
    gestaoclick_url: str | None = None,
    rate_limit: int | None = None,
    provider: str = "gestaoclick",
    provider_url: str | None = None,
) -> str:
    """Register a store, its ERP and one provider connection (a simulator) through the
    API; returns the store's API key."""
    admin = {"x-api-key": admin_key}
    with httpx.Client(base_url=hub_url, timeout=30) as api:
        api.put(
            f"/api/v1/stores/{store}",
            headers=admin,
            json={"name": "Loja Demo", "erp_base_url": f"{erp_url}", "erp_token": ERP_TOKEN},
        ).raise_for_status()
        key = api.post(f"/api/v1/stores/{store}/api-keys", headers=admin, json={"label": "erp"}).json()["api_key"]
    connect(
        hub_url,
        key,
        store=store,
        provider=provider,
        simulator_url=provider_url or gestaoclick_url or "",
        rate_limit=rate_limit,
    )
    return key


def connect(
    hub_url: str, store_key: str, *, store: str, provider: str, simulator_url: str, rate_limit: int | None = None
) -> None:
    """Connect the store to a provider simulator (settings + credentials through the API)."""
    settings: dict[str, Any] = {"base_url": simulator_url + SIMULATOR_API_PATH[provider]}
    if rate_limit:
        settings["rate_limit"] = rate_limit
    with httpx.Client(base_url=hub_url, timeout=30, headers={"x-api-key": store_key}) as api:
        api.put(
            f"/api/v1/stores/{store}/connections/{provider}",
            json={"settings": settings, "credentials": SIMULATOR_CREDENTIALS[provider]},
        ).raise_for_status()


def point_erp_at_hub(erp_url: str, hub_url: str, store_key: str) -> None:
    """Make the ERP simulator notify the hub of every change, as a real ERP integration would."""
    httpx.post(
        f"{erp_url}/_sim/config", json={"hub": {"url": hub_url, "api_key": store_key, "enabled": True}}
    ).raise_for_status()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0, every_s: float = 0.25) -> bool:
    """Poll ``condition`` until it holds or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def run_demo(hub: LocalHub, say: Say = print) -> None:
    """Seed a few ERP records and show them arrive in GestãoClick, then update one."""
    erp, gc = hub.simulators["erp"], hub.simulators["gestaoclick"]
    admin = create_admin_key()
    key = setup_tenant(hub.api_url, admin, store=DEMO_STORE, erp_url=erp, gestaoclick_url=gc)
    point_erp_at_hub(erp, hub.api_url, key)
    say(f"demo: store {DEMO_STORE!r} registered; its API key: {key}  (admin key: {admin})")

    erp_api = httpx.Client(
        base_url=f"{erp}/api/v1/stores/{DEMO_STORE}", headers={"authorization": f"Bearer {ERP_TOKEN}"}, timeout=30
    )
    rng = random.Random(7)
    customers = [erp_api.post("/customers", json=demo_customer(rng, i % 3 == 2)).json() for i in range(5)]
    products = [
        erp_api.post("/products", json={"sku": f"SKU-{100 + i}", "name": name, "price": price}).json()
        for i, (name, price) in enumerate(
            [("Café especial 500g", "39.90"), ("Caneca esmaltada", "59.00"), ("Filtro de papel", "12.50")]
        )
    ]
    sales = [
        erp_api.post(
            "/sales",
            json={
                "customer_id": customers[i]["id"],
                "date": time.strftime("%Y-%m-%d"),
                "status": "confirmed",
                "items": [{"product_id": products[i]["id"], "quantity": 2, "unit_price": products[i]["price"]}],
            },
        ).json()
        for i in range(2)
    ]
    say(
        f"demo: ERP created {len(customers)} customers, {len(products)} products, {len(sales)} sales "
        "→ each one notified the hub"
    )

    def counts() -> tuple[int, int, int]:
        got = [httpx.get(f"{gc}/_sim/records/{r}").json()["count"] for r in ("clientes", "produtos", "vendas")]
        return got[0], got[1], got[2]

    started = time.monotonic()
    if wait_for(lambda: counts() == (5, 3, 2), timeout_s=90):
        say(
            f"demo: GestãoClick now has clientes/produtos/vendas = {counts()} "
            f"({time.monotonic() - started:.1f} s at GestãoClick's 3 req/s)"
        )
    else:
        say(f"demo: after 90 s GestãoClick has clientes/produtos/vendas = {counts()}; see the errors below")
        say(str(httpx.get(f"{hub.api_url}/api/v1/stores/{DEMO_STORE}/errors", headers={"x-api-key": key}).json()))

    renamed = customers[0]
    erp_api.patch(f"/customers/{renamed['id']}", json={"name": renamed["name"] + " (atualizado)"})
    api = httpx.Client(base_url=hub.api_url, headers={"x-api-key": key}, timeout=30)
    link = api.get(f"/api/v1/stores/{DEMO_STORE}/links/gestaoclick/customer/local/{renamed['id']}").json()

    def updated() -> bool:
        record = httpx.get(f"{gc}/_sim/records/clientes/{link['external_id']}").json()["data"]
        return str(record.get("nome", "")).endswith("(atualizado)")

    if wait_for(updated, timeout_s=30):
        say(
            f"demo: customer {renamed['id']} renamed in the ERP → updated GestãoClick cliente "
            f"{link['external_id']} (still {counts()[0]} clientes: updated, not duplicated)"
        )
    else:
        say(f"demo: customer {renamed['id']} was renamed in the ERP but GestãoClick was not updated in 30 s")
    for customer in customers:
        found = api.get(f"/api/v1/stores/{DEMO_STORE}/links/gestaoclick/customer/local/{customer['id']}").json()
        say(f"demo: link customer {customer['id']:>3} ⇄ gestaoclick {found.get('external_id')} [{found.get('status')}]")
    stats = api.get(f"/api/v1/stores/{DEMO_STORE}/stats").json()
    say(
        f"demo: sync log today: processed {stats['processed_today']}, errors 24 h {stats['errors_24h']}, "
        f"success rate {stats['success_rate']}"
    )
    say(f"demo: try it: curl -H 'x-api-key: {key}' {hub.api_url}/api/v1/stores/{DEMO_STORE}/stats")
    say(f"demo: web console: {hub.api_url}/console/  (store {DEMO_STORE}, key {key})")
    say(f"demo: CLI: .venv/bin/crmhub --url {hub.api_url} --key {key} --store {DEMO_STORE} stats")
