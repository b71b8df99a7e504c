"""Bling simulator: OAuth with rotating refresh tokens, bearer auth, 3 req/s (real 429s),
``{data}`` lists with pagina/limite, dataAlteracao windows, error bodies, signed webhooks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask

from crmhub.providers.bling.webhooks import sign
from local.simulators import BlingConfig, ControlSettings, make_bling_app

AUTH = {"Authorization": "Bearer bling-access-token"}
V3 = "/Api/v3"
CLIENT = "Basic " + base64.b64encode(b"bling-client-id:bling-client-secret").decode()


@pytest.fixture
def app() -> Flask:
    return make_bling_app(BlingConfig(controls=ControlSettings(rate_limit_enabled=False)))


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def contato(**fields: Any) -> dict[str, Any]:
    return {"nome": "Ana", "tipo": "F", "situacao": "A", **fields}


def token(client: Any, **form: str) -> Any:
    return client.post(f"{V3}/oauth/token", data=form, headers={"Authorization": CLIENT})


# --------------------------------------------------------------------------- oauth


def test_code_exchange_then_rotating_refresh(client: Any) -> None:
    first = token(client, grant_type="authorization_code", code="bling-auth-code")
    assert first.status_code == 200 and first.json["token_type"] == "Bearer" and first.json["expires_in"] == 21600
    again = token(client, grant_type="authorization_code", code="bling-auth-code")
    assert again.status_code == 400 and again.json["error"]["type"] == "invalid_grant"
    second = token(client, grant_type="refresh_token", refresh_token=first.json["refresh_token"])
    assert second.status_code == 200 and second.json["refresh_token"] != first.json["refresh_token"]
    reused = token(client, grant_type="refresh_token", refresh_token=first.json["refresh_token"])
    assert reused.status_code == 400 and reused.json["error"]["type"] == "invalid_grant"  # rotated: dead
    fresh = {"Authorization": f"Bearer {second.json['access_token']}"}
    assert client.get(f"{V3}/contatos", headers=fresh).status_code == 200


def test_token_endpoint_checks_the_client(client: Any) -> None:
    wrong = client.post(
        f"{V3}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
    )
    assert wrong.status_code == 401 and wrong.json["error"]["type"] == "invalid_client"
    assert token(client, grant_type="password").json["error"]["type"] == "unsupported_grant_type"


def test_bearer_auth_and_expiry(client: Any) -> None:
    assert client.get(f"{V3}/contatos").status_code == 401
    assert client.get(f"{V3}/contatos", headers=AUTH).status_code == 200
    client.post("/_sim/tokens/expire")
    expired = client.get(f"{V3}/contatos", headers=AUTH)
    assert expired.status_code == 401 and expired.json["error"]["type"] == "UNAUTHORIZED"


# --------------------------------------------------------------------------- records


def test_contato_crud_with_spec_statuses(client: Any) -> None:
    created = client.post(
        f"{V3}/contatos",
        json=contato(numeroDocumento="529.982.247-25", endereco={"geral": {"municipio": "São Paulo"}}),
        headers=AUTH,
    )
    assert created.status_code == 201 and created.json == {"data": {"id": 1}}
    full = client.get(f"{V3}/contatos/1", headers=AUTH).json["data"]
    assert full["numeroDocumento"] == "52998224725" and full["endereco"]["geral"]["municipio"] == "São Paulo"
    assert full["id"] == 1 and "dataNascimento" not in full["dadosAdicionais"]  # no nulls
    row = client.get(f"{V3}/contatos", headers=AUTH).json["data"][0]
    assert set(row) == {"id", "nome", "codigo", "situacao", "numeroDocumento", "telefone", "celular"}
    replaced = client.put(f"{V3}/contatos/1", json=contato(nome="Ana Souza"), headers=AUTH)
    assert replaced.status_code == 204 and replaced.data == b""
    assert client.patch(f"{V3}/contatos/1/situacoes", json={"situacao": "I"}, headers=AUTH).status_code == 204
    assert client.get(f"{V3}/contatos/1", headers=AUTH).json["data"]["situacao"] == "I"
    assert client.delete(f"{V3}/contatos/1", headers=AUTH).status_code == 204
    gone = client.get(f"{V3}/contatos/1", headers=AUTH)
    assert gone.status_code == 404 and gone.json["error"]["type"] == "RESOURCE_NOT_FOUND"


def test_validation_errors_name_their_fields(client: Any) -> None:
    refused = client.post(f"{V3}/contatos", json={"nome": "", "tipo": "X", "situacao": "A"}, headers=AUTH)
    assert refused.status_code == 400
    error = refused.json["error"]
    assert error["type"] == "VALIDATION_ERROR" and {f["element"] for f in error["fields"]} == {"nome", "tipo"}
    not_json = client.post(f"{V3}/produtos", data="x", headers=AUTH)
    assert not_json.status_code == 400 and not_json.json["error"]["type"] == "INVALID_REQUEST_BODY"


def test_pedido_totals_contato_and_situacao(client: Any) -> None:
    client.post(f"{V3}/contatos", json=contato(), headers=AUTH)
    client.post(
        f"{V3}/produtos",
        json={"nome": "Caneta", "codigo": "CAN-1", "preco": 2.5, "tipo": "P", "situacao": "A", "formato": "S"},
        headers=AUTH,
    )
    created = client.post(
        f"{V3}/pedidos/vendas",
        headers=AUTH,
        json={
            "contato": {"id": 1},
            "data": "2026-03-01",
            "numeroLoja": "v1",
            "itens": [{"produto": {"id": 1}, "quantidade": 2, "valor": 2.5}],
        },
    )
    assert created.status_code == 201 and created.json == {"data": {"id": 1, "alertas": []}}
    pedido = client.get(f"{V3}/pedidos/vendas/1", headers=AUTH).json["data"]
    assert pedido["total"] == 5 and pedido["contato"]["nome"] == "Ana" and pedido["itens"][0]["descricao"] == "Caneta"
    assert pedido["situacao"] == {"id": 6, "valor": 0} and pedido["numero"] == 1
    assert client.patch(f"{V3}/pedidos/vendas/1/situacoes/12", headers=AUTH).status_code == 204
    assert client.get(f"{V3}/pedidos/vendas?numerosLojas[]=v1", headers=AUTH).json["data"][0]["situacao"] == {
        "id": 12,
        "valor": 2,
    }
    assert client.patch(f"{V3}/pedidos/vendas/1/situacoes/77", headers=AUTH).status_code == 400
    orphan = client.post(f"{V3}/pedidos/vendas", headers=AUTH, json={"contato": {"id": 9}, "itens": []})
    assert {f["element"] for f in orphan.json["error"]["fields"]} == {"contato", "itens"}


def test_pagination_and_limits(client: Any) -> None:
    for i in range(3):
        client.post(f"{V3}/contatos", json=contato(nome=f"C{i}"), headers=AUTH)
    pages = [client.get(f"{V3}/contatos?pagina={p}&limite=2", headers=AUTH).json["data"] for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 1, 0]
    assert client.get(f"{V3}/contatos?limite=101", headers=AUTH).status_code == 400


def test_change_date_filters_and_the_one_year_rule(client: Any, app: Flask) -> None:
    client.post(f"{V3}/contatos", json=contato(), headers=AUTH)
    recent = client.get(
        f"{V3}/contatos?dataAlteracaoInicial=2000-01-01 00:00:00&dataAlteracaoFinal=2000-06-01 00:00:00", headers=AUTH
    )
    assert recent.status_code == 200 and recent.json["data"] == []
    too_long = client.get(f"{V3}/contatos?dataAlteracaoInicial=2000-01-01 00:00:00", headers=AUTH)
    assert too_long.status_code == 400 and "1 ano" in too_long.json["error"]["description"]
    bad = client.get(f"{V3}/contatos?dataAlteracaoInicial=ontem", headers=AUTH)
    assert bad.status_code == 400


def test_three_requests_per_second_then_429() -> None:
    client = make_bling_app().test_client()
    answers = [client.get(f"{V3}/contatos", headers=AUTH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json["error"] == {
        "type": "TOO_MANY_REQUESTS",
        "message": "too_many_requests",
        "description": "Limite de requisições atingido.",
        "limit": 3,
        "period": "second",
    }


def test_webhooks_are_signed_over_the_exact_bytes(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, bytes, dict[str, str]]] = []
    state = app.extensions["simulator"]
    monkeypatch.setattr(state.sender, "submit", lambda url, body, headers, **kw: sent.append((url, body, headers)))
    assert client.post("/_sim/config", json={"webhook_url": "ftp://nope"}).status_code == 400
    client.post("/_sim/config", json={"webhook_url": "https://hub.example/webhooks/bling"})
    client.post(f"{V3}/produtos", json={"nome": "Caneta", "tipo": "P", "situacao": "A", "formato": "S"}, headers=AUTH)
    [(url, body, headers)] = sent
    payload = json.loads(body)
    assert url == "https://hub.example/webhooks/bling" and payload["event"] == "product.created"
    assert payload["data"]["id"] == 1 and payload["eventId"] and payload["companyId"]
    assert headers["X-Bling-Signature-256"] == sign(body, "bling-client-secret")
