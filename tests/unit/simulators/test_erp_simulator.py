"""Reference ERP simulator: REST behaviour, controls (limits, faults, stats) and hub notifications."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify, request

from local.simulators import ControlSettings, ErpConfig, PortInUseError, SimulatorServer, make_erp_app, seed_demo
from local.simulators.erp import cnpj_check_digits, cpf_check_digits, is_valid_cnpj, is_valid_cpf

AUTH = {"Authorization": "Bearer erp-local-token"}
BASE = "/api/v1/stores/s1"
UPDATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def app() -> Flask:
    return make_erp_app(ErpConfig(controls=ControlSettings(rate_limit_enabled=False)))


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def create(client: Any, entity: str, body: dict[str, Any], store: str = "s1", **headers: str) -> Any:
    return client.post(f"/api/v1/stores/{store}/{entity}", json=body, headers={**AUTH, **headers})


def configure(client: Any, **settings: Any) -> dict[str, Any]:
    resp = client.post("/_sim/config", json=settings)
    assert resp.status_code == 200, resp.json
    return resp.json


# --------------------------------------------------------------------------- CRUD


def test_create_returns_201_with_string_id_version_and_timestamp(client: Any) -> None:
    resp = create(
        client,
        "customers",
        {"name": "Ana Souza", "document": "529.982.247-25", "phones": ["+55 11 91234-5678"], "unknown": "dropped"},
    )

    assert resp.status_code == 201
    rec = resp.json
    assert rec["id"] == "1" and rec["version"] == 1 and rec["person_type"] == "PF"
    assert UPDATED_AT.match(rec["updated_at"])
    assert rec["document"] == "529.982.247-25"  # kept as sent
    assert "unknown" not in rec
    assert list(rec) == [
        "id",
        "person_type",
        "name",
        "trade_name",
        "email",
        "phones",
        "document",
        "birth_date",
        "address",
        "active",
        "notes",
        "updated_at",
        "version",
    ]
    assert client.get(f"{BASE}/customers/1", headers=AUTH).json == rec


def test_cnpj_makes_a_pj_customer(client: Any) -> None:
    rec = create(client, "customers", {"name": "Padaria Lima Ltda", "document": "11222333000181"}).json
    assert rec["person_type"] == "PJ"


def test_patch_merges_put_replaces_and_versions_increase(client: Any) -> None:
    first = create(client, "customers", {"name": "Ana", "email": "ana@example.com", "notes": "vip"}).json

    patched = client.patch(f"{BASE}/customers/1", json={"name": "Ana Maria"}, headers=AUTH).json
    put = client.put(f"{BASE}/customers/1", json={"name": "Ana M."}, headers=AUTH).json

    assert patched["name"] == "Ana Maria" and patched["email"] == "ana@example.com"
    assert patched["version"] == 2 and put["version"] == 3
    assert put["email"] is None and put["notes"] is None
    assert first["updated_at"] < patched["updated_at"] < put["updated_at"]


def test_products_sales_and_activities_shapes(client: Any) -> None:
    product = create(client, "products", {"name": "Café", "price": 10.5, "stock": "3"}).json
    customer = create(client, "customers", {"name": "Ana"}).json
    sale = create(
        client,
        "sales",
        {
            "customer_id": customer["id"],
            "date": "2024-01-31",
            "items": [{"product_id": product["id"], "quantity": 3, "unit_price": "10.50"}],
        },
    ).json
    activity = create(
        client, "activities", {"customer_id": customer["id"], "type": "whatsapp", "subject": "Confirmar entrega"}
    ).json

    assert product["price"] == "10.50" and product["stock"] == 3 and product["unit"] == "UN"
    assert sale["total"] == "31.50" and sale["status"] == "open"
    assert sale["items"] == [{"product_id": product["id"], "quantity": 3, "unit_price": "10.50"}]
    assert activity["done"] is False and activity["due_at"] is None


def test_patching_items_recomputes_the_total(client: Any) -> None:
    customer = create(client, "customers", {"name": "Ana"}).json
    sale = create(
        client,
        "sales",
        {"customer_id": customer["id"], "items": [{"product_id": "9", "quantity": 1, "unit_price": "2"}]},
    ).json
    items = [{"product_id": "9", "quantity": 4, "unit_price": "2.25"}]

    patched = client.patch(f"{BASE}/sales/{sale['id']}", json={"items": items}, headers=AUTH).json

    assert sale["total"] == "2.00" and patched["total"] == "9.00"


@pytest.mark.parametrize(
    ("entity", "body", "field"),
    [
        ("customers", {"email": "a@example.com"}, "name"),
        ("products", {"price": "1.00"}, "name"),
        ("customers", {"name": "Ana", "document": "123"}, "document"),
        ("products", {"name": "X", "price": "abc"}, "price"),
        ("sales", {"items": []}, "customer_id"),
        ("sales", {"customer_id": "999"}, "customer_id"),
        ("activities", {"subject": "x", "type": "fax"}, "type"),
    ],
)
def test_validation_errors_are_422_with_fields(client: Any, entity: str, body: dict[str, Any], field: str) -> None:
    resp = create(client, entity, body)

    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "validation_error"
    assert field in resp.json["error"]["fields"]
    assert client.get(f"/_sim/records/{entity}").json["count"] == 0


def test_auth_failures_are_401(client: Any) -> None:
    no_header = client.get(f"{BASE}/customers")
    wrong = client.get(f"{BASE}/customers", headers={"Authorization": "Bearer nope"})

    for resp in (no_header, wrong):
        assert resp.status_code == 401
        assert resp.json["error"]["code"] == "unauthorized"
    assert client.get("/_sim/health").status_code == 200  # controls need no token


def test_token_is_configurable(client: Any) -> None:
    configure(client, token="other")
    assert client.get(f"{BASE}/customers", headers=AUTH).status_code == 401
    assert client.get(f"{BASE}/customers", headers={"Authorization": "Bearer other"}).status_code == 200


def test_stores_are_isolated_and_unknown_things_are_404(client: Any) -> None:
    create(client, "customers", {"name": "Ana"}, store="s1")

    assert client.get("/api/v1/stores/s2/customers/1", headers=AUTH).status_code == 404
    assert client.get("/api/v1/stores/s2/customers", headers=AUTH).json["total"] == 0
    assert client.get(f"{BASE}/invoices", headers=AUTH).status_code == 404
    assert client.get(f"{BASE}/customers/abc", headers=AUTH).json["error"]["code"] == "not_found"


# --------------------------------------------------------------------------- listing


def test_pagination_envelope_at_boundaries(client: Any) -> None:
    for i in range(5):
        create(client, "products", {"name": f"P{i}"})

    pages = [client.get(f"{BASE}/products?page={p}&per_page=2", headers=AUTH).json for p in (1, 2, 3, 4)]

    assert [len(p["data"]) for p in pages] == [2, 2, 1, 0]
    assert [p["next_page"] for p in pages] == [2, 3, None, None]
    assert all(p["total"] == 5 and p["per_page"] == 2 for p in pages)
    exact = client.get(f"{BASE}/products?page=1&per_page=5", headers=AUTH).json
    assert exact["next_page"] is None and len(exact["data"]) == 5
    for bad in ("per_page=101", "per_page=0", "page=0", "page=x"):
        assert client.get(f"{BASE}/products?{bad}", headers=AUTH).status_code == 422


def test_updated_since_is_inclusive_and_ordered_by_updated_at(client: Any) -> None:
    a, b, c = (create(client, "customers", {"name": n}).json for n in ("A", "B", "C"))

    client.patch(f"{BASE}/customers/{a['id']}", json={"notes": "x"}, headers=AUTH)
    resp = client.get(f"{BASE}/customers", query_string={"updated_since": b["updated_at"]}, headers=AUTH)

    assert [r["name"] for r in resp.json["data"]] == ["B", "C", "A"]
    offset = b["updated_at"].replace("Z", "+00:00")
    assert client.get(f"{BASE}/customers", query_string={"updated_since": offset}, headers=AUTH).json["total"] == 3
    assert client.get(f"{BASE}/customers?updated_since=yesterday", headers=AUTH).status_code == 422
    assert c["updated_at"] > b["updated_at"]


def test_soft_delete_keeps_the_record_and_is_idempotent(client: Any) -> None:
    create(client, "customers", {"name": "A"})
    create(client, "customers", {"name": "B"})

    deleted = client.delete(f"{BASE}/customers/1", headers=AUTH)
    again = client.delete(f"{BASE}/customers/1", headers=AUTH)

    assert deleted.status_code == 200
    assert deleted.json["active"] is False and deleted.json["version"] == 2
    assert deleted.json["deleted_at"] == deleted.json["updated_at"]
    assert again.json == deleted.json
    assert client.get(f"{BASE}/customers/1", headers=AUTH).json["active"] is False
    active = client.get(f"{BASE}/customers?active=true", headers=AUTH).json["data"]
    inactive = client.get(f"{BASE}/customers?active=false", headers=AUTH).json["data"]
    assert [r["name"] for r in active] == ["B"] and [r["name"] for r in inactive] == ["A"]
    restored = client.patch(f"{BASE}/customers/1", json={"active": True}, headers=AUTH).json
    assert restored["active"] is True and "deleted_at" not in restored


# --------------------------------------------------------------------------- controls


def test_burst_over_limit_gets_429_and_peak_never_exceeds_limit(client: Any) -> None:
    configure(client, rate_limit_enabled=True, rate_limit=3, window_s=0.5)

    statuses = [client.get(f"{BASE}/customers", headers=AUTH) for _ in range(6)]

    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429, 429]
    limited = statuses[3]
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    stats = client.get("/_sim/stats").json
    assert stats["peak_allowed"] == 3 and stats["peak"] == 6 and stats["responses_429"] == 3


def test_spaced_requests_pass_and_window_slides(client: Any) -> None:
    configure(client, rate_limit_enabled=True, rate_limit=2, window_s=0.2)
    spaced = []
    for _ in range(5):
        spaced.append(client.get(f"{BASE}/customers", headers=AUTH).status_code)
        time.sleep(0.11)
    client.post("/_sim/reset")
    configure(client, window_s=0.5)

    two = [client.get(f"{BASE}/customers", headers=AUTH).status_code for _ in range(2)]
    time.sleep(0.2)  # a fixed window might have rolled over by now; a sliding one has not
    third = client.get(f"{BASE}/customers", headers=AUTH).status_code

    assert spaced == [200] * 5
    assert two == [200, 200] and third == 429
    assert client.get("/_sim/stats").json["peak_allowed"] == 2


def test_latency_injection(client: Any) -> None:
    configure(client, latency_ms=150, jitter_ms=50)

    started = time.monotonic()
    client.get(f"{BASE}/customers", headers=AUTH)
    elapsed = time.monotonic() - started
    client.get("/_sim/health")  # control endpoints are never delayed

    assert 0.15 <= elapsed < 1.0


def test_scripted_faults_are_consumed_in_order_with_filters(client: Any) -> None:
    resp = client.post(
        "/_sim/faults",
        json={
            "faults": [
                {"status": 503, "count": 2, "path_prefix": f"{BASE}/products"},
                {"status": 502, "count": 1, "method": "post"},
            ]
        },
    )
    assert resp.json == {"added": 2, "pending": 2}

    results = [
        client.get(f"{BASE}/customers", headers=AUTH).status_code,  # matches neither
        client.get(f"{BASE}/products", headers=AUTH).status_code,
        create(client, "customers", {"name": "A"}).status_code,
        client.get(f"{BASE}/products", headers=AUTH).status_code,
        client.get(f"{BASE}/products", headers=AUTH).status_code,
    ]

    assert results == [200, 503, 502, 503, 200]
    assert client.get("/_sim/faults").json == {"faults": []}
    assert client.get("/_sim/stats").json["faults_injected"] == 3
    assert client.get("/_sim/records/customers").json["count"] == 0  # the 502 POST never ran


def test_injected_429_and_random_faults(client: Any) -> None:
    client.post("/_sim/faults", json={"status": 429, "retry_after": 7})
    throttled = client.get(f"{BASE}/customers", headers=AUTH)
    configure(client, fault_rate=1.0, fault_statuses=[504])
    random_fault = client.get(f"{BASE}/customers", headers=AUTH)
    configure(client, faults_enabled=False)

    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert random_fault.status_code == 504 and random_fault.json["error"]["code"] == "injected_fault"
    assert client.get(f"{BASE}/customers", headers=AUTH).status_code == 200


def test_drop_after_commit_creates_but_answers_500(client: Any) -> None:
    client.post("/_sim/faults", json={"type": "drop_after_commit", "path_prefix": f"{BASE}/customers"})

    listed = client.get(f"{BASE}/customers", headers=AUTH)  # reads are never "dropped"
    resp = create(client, "customers", {"name": "Ana"})

    assert listed.status_code == 200
    assert resp.status_code == 500
    records = client.get("/_sim/records/customers?store=s1").json
    assert records["count"] == 1 and records["data"][0]["name"] == "Ana"


def test_timeout_fault_sleeps_then_answers(client: Any) -> None:
    client.post("/_sim/faults", json={"type": "timeout", "seconds": 0.3, "method": "POST"})

    started = time.monotonic()
    resp = create(client, "customers", {"name": "Ana"})

    assert time.monotonic() - started >= 0.3 and resp.status_code == 201


def test_stats_count_routes_and_keep_recent_requests_without_query(client: Any) -> None:
    create(client, "customers", {"name": "Ana"})
    client.get(f"{BASE}/customers/1?email=ana@example.com", headers=AUTH)
    client.get(f"{BASE}/customers/2", headers=AUTH)
    for _ in range(3):
        client.get("/_sim/stats")

    stats = client.get("/_sim/stats").json

    assert stats["total_requests"] == 3
    assert stats["by_route"] == {
        "POST /api/v1/stores/<store>/<entity>": 1,
        "GET /api/v1/stores/<store>/<entity>/<record_id>": 2,
    }
    assert stats["by_status"] == {"201": 1, "200": 1, "404": 1}
    assert [r["path"] for r in stats["recent"]][1] == f"{BASE}/customers/1"
    assert all("at" in r and "duration_ms" in r for r in stats["recent"])


def test_controls_are_never_limited_faulted_or_counted(client: Any) -> None:
    configure(client, rate_limit_enabled=True, rate_limit=1, window_s=5, fault_rate=1.0)

    responses = [client.get("/_sim/health") for _ in range(5)]

    assert all(r.status_code == 200 for r in responses)
    assert client.get("/_sim/stats").json["total_requests"] == 0


def test_config_validation(client: Any) -> None:
    assert client.post("/_sim/config", json={"rate_limit": 0}).status_code == 400
    assert client.post("/_sim/config", json={"no_such_knob": 1}).status_code == 400
    assert client.post("/_sim/config", json={"hub": "nope"}).status_code == 400
    cfg = configure(client, latency_ms=5, hub={"url": "http://x", "api_key": "k"})
    assert cfg["latency_ms"] == 5 and cfg["hub"]["url"] == "http://x" and cfg["hub"]["api_key"] == "***"


def test_seed_and_inspection_endpoints_and_reset(client: Any) -> None:
    seeded = client.post("/_sim/records/customers?store=s1", json=[{"name": "A"}, {"name": "B"}])

    assert seeded.status_code == 201 and seeded.json["count"] == 2
    assert client.get(f"{BASE}/customers", headers=AUTH).json["total"] == 2
    one = client.get("/_sim/records/customers/2").json
    assert one["store"] == "s1" and one["data"]["name"] == "B" and one["data"]["version"] == 1
    assert one["created_at"] and one["updated_at"]
    old = client.post(
        "/_sim/records/customers?store=s1", json={"name": "Old", "version": 4, "updated_at": "2020-01-01T00:00:00Z"}
    ).json["data"][0]
    assert (old["version"], old["updated_at"]) == (4, "2020-01-01T00:00:00.000000Z")
    since = client.get(f"{BASE}/customers?updated_since=2021-01-01T00:00:00Z", headers=AUTH).json
    assert since["total"] == 2
    assert client.get("/_sim/records/customers/99").status_code == 404
    assert client.get("/_sim/records/invoices").status_code == 404
    assert client.post("/_sim/records/customers", json={"email": "x"}).status_code == 400

    client.post("/_sim/reset")

    assert client.get("/_sim/records/customers").json["count"] == 0
    assert client.get("/_sim/stats").json["total_requests"] == 0


# --------------------------------------------------------------------------- demo data


def test_check_digits_match_known_documents() -> None:
    assert cpf_check_digits("529982247") == "25" and is_valid_cpf("529.982.247-25")
    assert cnpj_check_digits("112223330001") == "81" and is_valid_cnpj("11.222.333/0001-81")
    assert not is_valid_cpf("529.982.247-26") and not is_valid_cpf("111.111.111-11")


def test_seed_demo_is_deterministic_and_realistic() -> None:
    def content(seed: int) -> dict[str, list[dict[str, Any]]]:
        data = seed_demo(make_erp_app(), "demo", n_customers=12, n_products=4, n_sales=5, n_activities=3, seed=seed)
        return {k: [{f: v for f, v in r.items() if f != "updated_at"} for r in rs] for k, rs in data.items()}

    first, again, other = content(7), content(7), content(8)

    assert first == again and first != other
    assert [len(first[k]) for k in ("customers", "products", "sales", "activities")] == [12, 4, 5, 3]
    for customer in first["customers"]:
        valid = is_valid_cnpj if customer["person_type"] == "PJ" else is_valid_cpf
        assert valid(customer["document"])
        assert customer["phones"][0].startswith("+55 ") and "@" in customer["email"]
        assert len(customer["address"]["state"]) == 2
    customer_ids = {c["id"] for c in first["customers"]}
    assert all(s["customer_id"] in customer_ids and s["items"] for s in first["sales"])


# --------------------------------------------------------------------------- hub notifications


class Receiver:
    """A tiny hub stand-in that records change notifications."""

    def __init__(self, fail_first: int = 0, status: int = 503, delay_s: float = 0.0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = Flask("receiver")

        @app.post("/api/v1/stores/<store>/changes")
        def changes(store: str) -> Any:
            time.sleep(delay_s)
            with self.lock:
                self.calls.append({"store": store, "key": request.headers.get("x-api-key"), "body": request.get_json()})
                if len(self.calls) <= fail_first:
                    return jsonify({"error": "busy"}), status
            return jsonify({"accepted": True}), 202

        self.server = SimulatorServer(app)


def hub_client(url: str, **hub: Any) -> tuple[Flask, Any]:
    erp = make_erp_app(ErpConfig(controls=ControlSettings(rate_limit_enabled=False)))
    client = erp.test_client()
    configure(client, hub={"url": url, "api_key": "hub-key", "enabled": True, "backoff_s": 0.01, **hub})
    return erp, client


def test_erp_notifies_the_hub_of_every_api_write() -> None:
    receiver = Receiver()
    with receiver.server as server:
        erp, client = hub_client(server.url)
        created = create(client, "customers", {"name": "Ana"}).json
        client.patch(f"{BASE}/customers/1", json={"name": "Ana M."}, headers={**AUTH, "X-Sync-Origin": "hub"})
        client.delete(f"{BASE}/customers/1", headers=AUTH)
        client.post("/_sim/records/customers?store=s1", json={"name": "Seeded"})  # never notifies
        assert erp.extensions["simulator"].sender.flush(5)

    bodies = [c["body"] for c in receiver.calls]
    assert [c["key"] for c in receiver.calls] == ["hub-key"] * 3
    assert [c["store"] for c in receiver.calls] == ["s1"] * 3
    assert [b["operation"] for b in bodies] == ["upsert", "upsert", "delete"]
    assert bodies[0] == {
        "entity": "customer",
        "local_id": "1",
        "operation": "upsert",
        "data": created,
        "updated_at": created["updated_at"],
    }
    assert bodies[1]["origin"] == "hub" and "origin" not in bodies[2]
    assert bodies[2]["data"]["active"] is False
    assert client.get("/_sim/stats").json["counters"] == {"notify_ok": 3}


def test_notification_retries_on_503_then_succeeds() -> None:
    receiver = Receiver(fail_first=2)
    with receiver.server as server:
        erp, client = hub_client(server.url)
        create(client, "products", {"name": "Café"})
        assert erp.extensions["simulator"].sender.flush(5)

    assert len(receiver.calls) == 3
    assert client.get("/_sim/stats").json["counters"] == {"notify_ok": 1, "notify_retries": 2}


def test_notification_gives_up_after_max_attempts_and_on_4xx() -> None:
    receiver = Receiver(fail_first=100)
    with receiver.server as server:
        erp, client = hub_client(server.url, max_attempts=3)
        create(client, "products", {"name": "Café"})
        assert erp.extensions["simulator"].sender.flush(5)
        configure(client, hub={"url": f"{server.url}/nowhere"})  # 404: permanent, no retry
        create(client, "products", {"name": "Chá"})
        assert erp.extensions["simulator"].sender.flush(5)

    counters = client.get("/_sim/stats").json["counters"]
    assert len(receiver.calls) == 3
    assert counters == {"notify_failed": 2, "notify_retries": 2}


def test_notification_never_blocks_the_erp_response() -> None:
    receiver = Receiver(delay_s=0.8)
    with receiver.server as server:
        erp, client = hub_client(server.url)
        started = time.monotonic()
        resp = create(client, "customers", {"name": "Ana"})
        elapsed = time.monotonic() - started
        assert erp.extensions["simulator"].sender.flush(5)

    assert resp.status_code == 201 and elapsed < 0.5
    assert len(receiver.calls) == 1


def test_unreachable_hub_counts_failures() -> None:
    with SimulatorServer(Flask("tmp")) as probe:
        url = probe.url  # a port that is free once the probe stops
    erp, client = hub_client(url, max_attempts=2)
    create(client, "customers", {"name": "Ana"})
    assert erp.extensions["simulator"].sender.flush(5)
    assert client.get("/_sim/stats").json["counters"] == {"notify_failed": 1, "notify_retries": 1}


# --------------------------------------------------------------------------- real server


def test_server_serves_threads_and_rejects_a_busy_port() -> None:
    server = SimulatorServer(make_erp_app()).start()
    try:
        assert re.match(r"^http://127\.0\.0\.1:\d+$", server.url) and server.port > 0
        assert httpx.get(f"{server.url}/_sim/health").json()["simulator"] == "erp"

        started = time.monotonic()
        with pytest.raises(PortInUseError, match=str(server.port)):
            SimulatorServer(make_erp_app(), port=server.port).start()
        assert time.monotonic() - started < 1
    finally:
        server.stop()
    with SimulatorServer(make_erp_app(), port=server.port) as again:  # port released
        assert httpx.get(f"{again.url}/_sim/health").status_code == 200


def test_drop_after_commit_can_close_the_connection() -> None:
    with SimulatorServer(make_erp_app()) as server:
        httpx.post(f"{server.url}/_sim/faults", json={"type": "drop_after_commit", "close": True})
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{server.url}{BASE}/customers", json={"name": "Ana"}, headers=AUTH)
        records = httpx.get(f"{server.url}/_sim/records/customers").json()

    assert records["count"] == 1


def test_idempotency_key_makes_a_repeated_create_return_the_first_record():
    from local.simulators.erp import make_app

    client = make_app().test_client()
    headers = {"Authorization": "Bearer erp-local-token", "Idempotency-Key": "gestaoclick:customer:77"}
    first = client.post("/api/v1/stores/s1/customers", json={"name": "Ana"}, headers=headers)
    again = client.post("/api/v1/stores/s1/customers", json={"name": "Ana"}, headers=headers)
    other = client.post(
        "/api/v1/stores/s1/customers", json={"name": "Ana"}, headers={"Authorization": "Bearer erp-local-token"}
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert other.get_json()["id"] != first.get_json()["id"]
    listed = client.get("/api/v1/stores/s1/customers", headers={"Authorization": "Bearer erp-local-token"})
    assert listed.get_json()["total"] == 2
