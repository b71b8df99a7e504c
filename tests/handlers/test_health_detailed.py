"""API function: /health/detailed, the dead letters routes and the stats time series, fed
API Gateway events built from events/api_health.json (moto in-process)."""

from __future__ import annotations

import json

import pytest

from support import load_event

STORE = "loja-1"
OTHER = "loja-2"
STORE_KEY = "chk_test_store_key"
OTHER_KEY = "chk_test_other_key"
ADMIN_KEY = "chk_test_admin_key"


@pytest.fixture
def api(aws, cold_start):
    from crmhub.api import dead_letters
    from crmhub.models.common import ProviderName
    from crmhub.models.connection import ConnectionSettings
    from crmhub.storage.api_keys import ADMIN_SCOPE, issue_api_key
    from crmhub.storage.connections import put_connection
    from crmhub.storage.stores import put_store

    dead_letters.dead_letters.cache_clear()  # its SQS client must be made inside this mock
    for store, key in ((STORE, STORE_KEY), (OTHER, OTHER_KEY)):
        put_store(store, store)
        issue_api_key(store, "erp", key=key)
        put_connection(store, ProviderName.GESTAOCLICK, ConnectionSettings())
    issue_api_key(ADMIN_SCOPE, "ops", key=ADMIN_KEY)
    yield cold_start("api")
    dead_letters.dead_letters.cache_clear()


def request(api, context, method, path, key=None, query=None):
    event = load_event("api_health.json")
    event.update(httpMethod=method, path=path, resource=path, body=None, queryStringParameters=query)
    event["headers"] = {**(event.get("headers") or {}), **({"x-api-key": key} if key else {})}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    response = api.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def put_dead_letter(aws, store, local_id):
    from datetime import UTC, datetime

    from crmhub.models.changes import SyncMessage

    body = SyncMessage(
        change_id=f"chg-{local_id}",
        store_id=store,
        provider="gestaoclick",
        entity="customer",
        local_id=local_id,
        operation="upsert",
        updated_at=datetime(2026, 11, 23, tzinfo=UTC),
        enqueued_at=datetime(2026, 11, 23, tzinfo=UTC),
    ).model_dump_json()
    return aws.client("sqs").send_message(
        QueueUrl=aws.queue_urls["SyncDefaultDeadLetterQueue"],
        MessageBody=body,
        MessageGroupId=f"{store}#0",
        MessageDeduplicationId=local_id,
        MessageAttributes={
            "error_code": {"DataType": "String", "StringValue": "provider_rejected"},
            "error_message": {"DataType": "String", "StringValue": "campo obrigatório"},
        },
    )["MessageId"]


def test_detailed_health_needs_an_admin_key(api, lambda_context):
    assert request(api, lambda_context, "GET", "/health/detailed")[0] == 401
    assert request(api, lambda_context, "GET", "/health/detailed", STORE_KEY)[0] == 403


def test_detailed_health_is_ok_then_degraded_by_a_dead_letter(api, aws, lambda_context):
    # Given nothing has failed
    status, body = request(api, lambda_context, "GET", "/health/detailed", ADMIN_KEY)
    assert status == 200 and body["status"] == "ok", body
    assert body["dynamodb"]["status"] == "ok" and body["queues"]["status"] == "ok"
    assert set(body["queue_depths"]) >= {"high", "default_dlq"}
    assert {(c["store_id"], c["provider"], c["status"]) for c in body["connections"]} == {
        (STORE, "gestaoclick", "ok"),
        (OTHER, "gestaoclick", "ok"),
    }
    # When a message reaches a DLQ
    put_dead_letter(aws, STORE, "c-1")
    # Then the hub is degraded, and says why
    status, body = request(api, lambda_context, "GET", "/health/detailed", ADMIN_KEY)
    assert status == 200 and body["status"] == "degraded"
    assert "default_dlq holds 1 messages" in body["reasons"]


def test_detailed_health_is_down_when_dynamodb_cannot_be_reached(api, lambda_context, monkeypatch):
    from pynamodb.exceptions import TableError

    from crmhub.storage.stores import StoreRecord

    def unreachable(*args, **kwargs):
        raise TableError("Unable to describe table")

    monkeypatch.setattr(StoreRecord, "describe_table", classmethod(unreachable))
    status, body = request(api, lambda_context, "GET", "/health/detailed", ADMIN_KEY)
    assert status == 503 and body["status"] == "down" and body["dynamodb"]["status"] == "down"


def test_a_store_sees_and_acts_on_its_own_dead_letters_only(api, aws, lambda_context):
    mine = put_dead_letter(aws, STORE, "c-1")
    theirs = put_dead_letter(aws, OTHER, "c-2")
    base = f"/api/v1/stores/{STORE}/dead-letters"

    status, body = request(api, lambda_context, "GET", base, STORE_KEY)
    assert status == 200, body
    assert [item["id"] for item in body["items"]] == [mine]
    assert body["items"][0]["error_message"] == "campo obrigatório"
    assert body["items"][0]["message"]["local_id"] == "c-1"
    assert body["count"] == 1 and body["dlq_depth"] == {"high": 0, "default": 2, "low": 0}
    # Another store's dead letter is not found under this store, and this key cannot look at that store
    assert request(api, lambda_context, "GET", f"{base}/{theirs}", STORE_KEY)[0] == 404
    assert request(api, lambda_context, "GET", f"/api/v1/stores/{OTHER}/dead-letters/{theirs}", STORE_KEY)[0] == 403
    assert (
        request(api, lambda_context, "POST", f"/api/v1/stores/{OTHER}/dead-letters/{theirs}/retry", STORE_KEY)[0] == 403
    )
    # retry-all for every store needs an admin key
    assert request(api, lambda_context, "POST", f"{base}/retry-all", STORE_KEY, {"all_stores": "true"})[0] == 403

    # The store retries its own: 202, gone from the DLQ, back on the lane
    status, body = request(api, lambda_context, "POST", f"{base}/{mine}/retry", STORE_KEY)
    assert status == 202 and body["status"] == "retried"
    assert request(api, lambda_context, "POST", f"{base}/{mine}/retry", STORE_KEY)[0] == 409
    assert len(aws.receive("SyncDefaultQueue")) == 1

    # An admin sees the other store's, archives it, then deletes it
    other = f"/api/v1/stores/{OTHER}/dead-letters"
    assert request(api, lambda_context, "GET", other, ADMIN_KEY)[1]["count"] == 1
    status, body = request(api, lambda_context, "POST", f"{other}/{theirs}/archive", ADMIN_KEY)
    assert status == 200 and body["status"] == "archived"
    assert request(api, lambda_context, "DELETE", f"{other}/{theirs}", ADMIN_KEY)[0] == 204
    assert request(api, lambda_context, "GET", f"{other}/{theirs}", ADMIN_KEY)[0] == 404
    body = request(api, lambda_context, "GET", base, STORE_KEY)[1]
    assert body["count"] == 0 and body["dlq_depth"]["default"] == 0


def test_dead_letter_routes_are_in_the_openapi_document(api, lambda_context):
    status, body = request(api, lambda_context, "GET", "/openapi.json")
    assert status == 200
    assert "/api/v1/stores/{store_id}/dead-letters/{dead_letter_id}/retry" in body["paths"]
    assert "DeadLetterView" in body["components"]["schemas"]


def test_stats_timeseries(api, lambda_context):
    from crmhub.models.common import SyncStatus
    from crmhub.storage.sync_log import LogWrite, write_log

    write_log(LogWrite(STORE, "gestaoclick", "customer", "c-1", "create", SyncStatus.SUCCESS, 1.0), retention_days=30)
    write_log(LogWrite(STORE, "gestaoclick", "customer", "c-2", "skip", SyncStatus.ERROR, 1.0), retention_days=30)
    status, body = request(
        api,
        lambda_context,
        "GET",
        f"/api/v1/stores/{STORE}/stats/timeseries",
        STORE_KEY,
        {"hours": "2", "bucket_minutes": "30"},
    )
    assert status == 200, body
    assert body["bucket_minutes"] == 30 and len(body["buckets"]) in (4, 5)
    assert sum(b["success"] for b in body["buckets"]) == 1 and body["buckets"][-1]["error"] == 1
    assert request(api, lambda_context, "GET", f"/api/v1/stores/{OTHER}/stats/timeseries", STORE_KEY)[0] == 403
