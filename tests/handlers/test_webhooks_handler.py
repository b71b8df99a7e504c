"""Webhook function: each provider's real scheme (valid, invalid, replayed, expired),
duplicates acknowledged and ignored, malformed bodies counted, nothing stored on a bad
signature, and the event stored before the reply."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from support import load_event

STORE = "loja-1"
PD_SECRET = {"api_token": "t", "webhook_user": "crmhub", "webhook_password": "s3cret"}
BLING_SECRET = {
    "client_id": "c",
    "client_secret": "bling-secret",
    "access_token": "a",
    "refresh_token": "r",
    "expires_at": 4102444800,
}
ERP_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def webhooks(aws, cold_start):
    from crmhub.credentials import ERP_SECRET, CredentialStore
    from crmhub.models.common import ProviderName
    from crmhub.models.connection import ConnectionSettings
    from crmhub.storage.connections import put_connection
    from crmhub.storage.stores import put_store

    put_store(STORE, "Loja 1", erp_base_url="http://erp.invalid")
    credentials = CredentialStore()
    for provider, secret in ((ProviderName.PIPEDRIVE, PD_SECRET), (ProviderName.BLING, BLING_SECRET)):
        put_connection(STORE, provider, ConnectionSettings())
        credentials.put(STORE, str(provider), secret)
    credentials.put(STORE, ERP_SECRET, {"token": "t", "webhook_secret": ERP_WEBHOOK_SECRET})
    return cold_start("webhooks")


def event(provider, body: bytes, headers: dict, store=STORE):
    base = load_event("api_health.json")
    base.update(
        resource="/webhooks/{provider}/{store}",
        path=f"/webhooks/{provider}/{store}",
        httpMethod="POST",
        body=body.decode(),
        isBase64Encoded=False,
        pathParameters={"provider": provider, "store": store},
    )
    base["headers"] = {"Content-Type": "application/json", **headers}
    base["multiValueHeaders"] = {k: [v] for k, v in base["headers"].items()}
    return base


def call(module, ev, context):
    response = module.lambda_handler(ev, context)
    return response["statusCode"], json.loads(response["body"])


def pipedrive_body(event_id="e-1", name="Ana", when=None):
    when = when or datetime.now(UTC)
    return json.dumps(
        {
            "meta": {
                "action": "change",
                "entity": "person",
                "entity_id": "12",
                "id": event_id,
                "company_id": 1,
                "timestamp": when.isoformat(),
                "change_source": "app",
                "version": "2.0",
            },
            "data": {"id": 12, "name": name, "emails": [], "phones": [], "update_time": when.isoformat()},
            "previous": {"name": "Old"},
        }
    ).encode()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def queued(aws):
    return [
        json.loads(m["Body"])
        for lane in ("SyncHighQueue", "SyncDefaultQueue", "SyncLowQueue")
        for m in aws.receive(lane)
    ]


def stored_events(aws):
    return aws.client("dynamodb").scan(TableName=aws.table_names["EventsTable"])["Items"]


def test_pipedrive_basic_auth_valid_is_stored_then_enqueued(webhooks, aws, lambda_context):
    status, body = call(webhooks, event("pipedrive", pipedrive_body(), basic("crmhub", "s3cret")), lambda_context)
    assert status == 200 and body == {"accepted": 1, "duplicates": 0}
    [message] = queued(aws)
    assert message["kind"] == "inbound" and message["change"]["external_id"] == "12"
    [item] = stored_events(aws)
    assert item["event_id"]["S"] == "pipedrive:e-1" and item["status"]["S"] == "enqueued"


@pytest.mark.parametrize(
    "headers", [basic("crmhub", "wrong"), basic("other", "s3cret"), {}, {"Authorization": "Bearer s3cret"}]
)
def test_pipedrive_bad_auth_is_401_and_nothing_stored(webhooks, aws, lambda_context, headers):
    status, body = call(webhooks, event("pipedrive", pipedrive_body(), headers), lambda_context)
    assert status == 401 and body["error"]["code"] == "invalid_signature"
    assert stored_events(aws) == [] and queued(aws) == []


def test_duplicate_delivery_is_acknowledged_and_ignored(webhooks, aws, lambda_context):
    ev = event("pipedrive", pipedrive_body("e-7"), basic("crmhub", "s3cret"))
    assert call(webhooks, ev, lambda_context) == (200, {"accepted": 1, "duplicates": 0})
    assert call(webhooks, ev, lambda_context) == (200, {"accepted": 0, "duplicates": 1})
    assert len(queued(aws)) == 1


def test_malformed_body_is_400_with_reason_and_only_counted(webhooks, aws, lambda_context):
    status, body = call(webhooks, event("pipedrive", b"{not json", basic("crmhub", "s3cret")), lambda_context)
    assert status == 400 and body["error"]["code"] == "malformed_webhook" and body["error"]["message"]
    [counter] = stored_events(aws)
    assert counter["event_id"]["S"].startswith(f"rejections#{STORE}#pipedrive#")
    assert counter["rejected"]["N"] == "1" and queued(aws) == []


def bling_body(event_id="b-1"):
    return json.dumps(
        {
            "eventId": event_id,
            "date": datetime.now(UTC).isoformat(),
            "version": "v1",
            "event": "contact.updated",
            "companyId": "x",
            "data": {"id": 555},
        }
    ).encode()


def bling_signature(body: bytes, secret="bling-secret"):
    return {"X-Bling-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_bling_hmac_valid(webhooks, aws, lambda_context):
    body = bling_body()
    status, answer = call(webhooks, event("bling", body, bling_signature(body)), lambda_context)
    assert status == 200 and answer["accepted"] == 1
    assert queued(aws)[0]["change"]["external_id"] == "555"


@pytest.mark.parametrize("tamper", ["other-secret", "body", "missing"])
def test_bling_hmac_invalid(webhooks, aws, lambda_context, tamper):
    body = bling_body()
    headers = bling_signature(body, "other-secret") if tamper == "other-secret" else bling_signature(body)
    if tamper == "body":
        body = body.replace(b"555", b"556")
    if tamper == "missing":
        headers = {}
    status, _ = call(webhooks, event("bling", body, headers), lambda_context)
    assert status == 401 and stored_events(aws) == []


def erp_signed(body: bytes, *, msg_id="msg_1", when=None):
    when = when or datetime.now(UTC)
    signature = Webhook(ERP_WEBHOOK_SECRET).sign(msg_id, when, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())), "webhook-signature": signature}


def erp_change(local_id="c9"):
    return json.dumps(
        {"entity": "customer", "local_id": local_id, "updated_at": "2026-11-23T10:00:00Z", "data": {"name": "Ana"}}
    ).encode()


def test_erp_standard_webhook_valid_and_replayed(webhooks, aws, lambda_context):
    from crmhub.models.common import ProviderName
    from crmhub.models.connection import ConnectionSettings
    from crmhub.storage.connections import put_connection

    put_connection(STORE, ProviderName.GESTAOCLICK, ConnectionSettings())
    body = erp_change()
    headers = erp_signed(body)
    assert call(webhooks, event("erp", body, headers), lambda_context) == (200, {"accepted": 1, "duplicates": 0})
    first = queued(aws)
    assert {m["provider"] for m in first} == {"gestaoclick", "pipedrive", "bling"}  # one per connection
    # the same delivery replayed within the tolerance: acknowledged, not enqueued again
    aws.client("sqs").purge_queue(QueueUrl=aws.queue_urls["SyncDefaultQueue"])
    assert call(webhooks, event("erp", body, headers), lambda_context) == (200, {"accepted": 0, "duplicates": 1})
    assert queued(aws) == []


@pytest.mark.parametrize("case", ["expired", "future", "wrong_secret", "tampered"])
def test_erp_standard_webhook_rejected(webhooks, aws, lambda_context, case):
    body = erp_change()
    if case == "expired":
        headers = erp_signed(body, when=datetime.now(UTC) - timedelta(minutes=6))
    elif case == "future":
        headers = erp_signed(body, when=datetime.now(UTC) + timedelta(minutes=6))
    elif case == "wrong_secret":
        other = "whsec_" + base64.b64encode(b"x" * 32).decode()
        when = datetime.now(UTC)
        headers = {
            "webhook-id": "m",
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(other).sign("m", when, body.decode()),
        }
    else:
        headers = erp_signed(body)
        body = body.replace(b"Ana", b"Bia")
    status, answer = call(webhooks, event("erp", body, headers), lambda_context)
    assert status == 401 and answer["error"]["code"] == "invalid_signature"
    assert stored_events(aws) == []


def test_unknown_store_and_provider(webhooks, lambda_context):
    assert call(webhooks, event("pipedrive", pipedrive_body(), {}, store="nope"), lambda_context)[0] == 404
    assert call(webhooks, event("gestaoclick", b"{}", {}), lambda_context)[0] == 404
