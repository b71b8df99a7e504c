"""API function, fed by the sample events in events/."""

import json

import pytest

from support import load_event

STORE = "loja-1"
STORE_KEY = "chk_test_store_key"
ADMIN_KEY = "chk_test_admin_key"


@pytest.fixture
def api(aws, cold_start):
    from crmhub.models.common import ProviderName
    from crmhub.models.connection import ConnectionSettings
    from crmhub.storage.api_keys import ADMIN_SCOPE, issue_api_key
    from crmhub.storage.connections import put_connection
    from crmhub.storage.stores import put_store

    put_store(STORE, "Loja 1")
    issue_api_key(STORE, "erp", key=STORE_KEY)
    issue_api_key(ADMIN_SCOPE, "ops", key=ADMIN_KEY)
    put_connection(STORE, ProviderName.GESTAOCLICK, ConnectionSettings())
    return cold_start("api")


def call(api, event, context):
    response = api.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def test_health_answers(api, lambda_context):
    status, body = call(api, load_event("api_health.json"), lambda_context)
    assert status == 200 and body["status"] == "ok"


def test_change_is_stored_and_enqueued_to_the_store_group(api, aws, lambda_context):
    # Given the ERP posts a customer change
    status, body = call(api, load_event("api_post_change.json"), lambda_context)
    # Then it is accepted for the GestãoClick connection
    assert status == 202
    assert body["status"] == "enqueued" and body["providers"] == ["gestaoclick"]
    # And the event is stored under the change id
    from crmhub.storage.events import get_event

    assert get_event(body["change_id"]).status == "enqueued"
    # And one message waits in the default lane, grouped under the store
    messages = aws.receive("SyncDefaultQueue")
    assert len(messages) == 1
    assert messages[0]["Attributes"]["MessageGroupId"].startswith(f"{STORE}#")
    message = json.loads(messages[0]["Body"])
    assert message["local_id"] == "1001" and message["provider"] == "gestaoclick"


def test_same_change_twice_is_a_duplicate_not_a_second_message(api, aws, lambda_context):
    first = call(api, load_event("api_post_change.json"), lambda_context)[1]
    second = call(api, load_event("api_post_change.json"), lambda_context)[1]
    assert second == {"change_id": first["change_id"], "status": "duplicate", "providers": []}
    assert len(aws.receive("SyncDefaultQueue")) == 1


def test_sales_go_to_the_high_lane(api, aws, lambda_context):
    event = load_event("api_post_change.json")
    event["body"] = json.dumps(
        {
            "entity": "sale",
            "local_id": "v1",
            "updated_at": "2026-11-23T10:00:00Z",
            "data": {
                "customer_id": "1001",
                "date": "2026-11-23",
                "items": [{"product_id": "p1", "quantity": 1, "unit_price": "5"}],
            },
        }
    )
    assert call(api, event, lambda_context)[0] == 202
    assert len(aws.receive("SyncHighQueue")) == 1 and aws.receive("SyncDefaultQueue") == []


def test_invalid_body_gets_422_with_each_reason(api, aws, lambda_context):
    status, body = call(api, load_event("api_post_change_invalid.json"), lambda_context)
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert "updated_at" in body["error"]["message"]
    assert aws.receive("SyncDefaultQueue") == []


def test_invalid_record_data_names_the_fields(api, lambda_context):
    event = load_event("api_post_change.json")
    event["body"] = json.dumps(
        {
            "entity": "customer",
            "local_id": "1",
            "updated_at": "2026-11-23T10:00:00Z",
            "data": {"name": "X", "document": "111.111.111-12", "email": "not-an-email"},
        }
    )
    status, body = call(api, event, lambda_context)
    assert status == 422
    fields = body["error"]["message"]
    assert "data.document" in fields and "data.email" in fields
    assert "111.111.111-12" not in json.dumps(body)  # the value itself is not echoed


def test_missing_key_is_401(api, lambda_context):
    status, body = call(api, load_event("api_post_change_no_key.json"), lambda_context)
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_wrong_key_is_401(api, lambda_context):
    event = load_event("api_post_change.json")
    event["headers"]["x-api-key"] = "chk_wrong"
    assert call(api, event, lambda_context)[0] == 401


def test_key_of_another_store_is_403(api, lambda_context):
    event = load_event("api_post_change_unknown_store.json")
    event["headers"]["x-api-key"] = STORE_KEY
    status, body = call(api, event, lambda_context)
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_unknown_store_is_404(api, lambda_context):
    status, body = call(api, load_event("api_post_change_unknown_store.json"), lambda_context)
    assert status == 404 and body["error"]["code"] == "not_found"


def test_openapi_document_lists_the_routes(api, lambda_context):
    event = load_event("api_health.json")
    event["path"] = event["resource"] = "/openapi.json"
    status, body = call(api, event, lambda_context)
    assert status == 200
    assert "/api/v1/stores/{store_id}/changes" in body["paths"]


def _put_store(api, lambda_context, body: dict, key: str = ADMIN_KEY):
    event = load_event("api_post_change.json")
    event.update(
        httpMethod="PUT",
        resource="/api/{proxy+}",
        path=f"/api/v1/stores/{STORE}",
        body=json.dumps(body),
        headers={**event["headers"], "x-api-key": key},
    )
    event["requestContext"] = {**event.get("requestContext", {}), "httpMethod": "PUT", "resourcePath": "/api/{proxy+}"}
    return call(api, event, lambda_context)


def test_store_erp_webhook_secret_is_kept_with_the_token_and_never_shown(api, lambda_context):
    from crmhub.credentials import ERP_SECRET, CredentialStore

    secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    status, body = _put_store(api, lambda_context, {"name": "Loja 1", "erp_token": "tok-1"})
    assert status == 200
    status, body = _put_store(api, lambda_context, {"name": "Loja 1", "erp_webhook_secret": secret})
    assert status == 200 and secret not in json.dumps(body)
    stored = CredentialStore().get(STORE, ERP_SECRET, fresh=True)
    assert stored == {"token": "tok-1", "webhook_secret": secret}  # updating one keeps the other
    status, body = _put_store(api, lambda_context, {"name": "Loja 1", "erp_webhook_secret": "not-a-secret"})
    assert status == 422 and body["error"]["code"]
