"""GestãoClick simulator: Portuguese API shapes, pagination meta, filters, auth, 3 req/s limit."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask

from local.simulators import ControlSettings, GestaoClickConfig, SimulatorServer, make_gestaoclick_app

AUTH = {"access-token": "gc-access-token", "secret-access-token": "gc-secret-access-token"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@pytest.fixture
def app() -> Flask:
    return make_gestaoclick_app(GestaoClickConfig(controls=ControlSettings(rate_limit_enabled=False)))


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def post(client: Any, resource: str, body: dict[str, Any]) -> Any:
    return client.post(f"/{resource}", json=body, headers=AUTH)


def seed(client: Any, resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = client.post(f"/_sim/records/{resource}", json=records)
    assert resp.status_code == 201, resp.json
    return resp.json["data"]


# --------------------------------------------------------------------------- CRUD


def test_cliente_crud_with_gc_quirks(client: Any) -> None:
    created = post(
        client,
        "clientes",
        {
            "tipo_pessoa": "PF",
            "nome": "José da Silva",
            "cpf": "529.982.247-25",
            "ativo": 1,
            "email": "jose@example.com",
            "celular": "(11) 91234-5678",
            "vendedor_id": 7,
            "enderecos": [{"endereco": {"cep": "01001-000", "logradouro": "Praça da Sé", "numero": 100}}],
            "contatos": [{"nome": "Maria", "contato": "maria@example.com"}],  # bare item accepted
        },
    )

    assert created.status_code == 200
    body = created.json
    assert body["code"] == 200 and body["status"] == "success"
    rec = body["data"]
    assert rec["id"] == "1" and rec["ativo"] == "1" and rec["vendedor_id"] == "7"
    assert rec["enderecos"][0]["endereco"]["numero"] == "100"
    assert rec["enderecos"][0]["endereco"]["logradouro"] == "Praça da Sé"
    assert rec["contatos"] == [
        {
            "contato": {
                "tipo_id": None,
                "nome_tipo": None,
                "nome": "Maria",
                "contato": "maria@example.com",
                "cargo": None,
                "observacao": None,
            }
        }
    ]
    assert STAMP.match(rec["cadastrado_em"]) and STAMP.match(rec["modificado_em"])
    assert "José" in created.get_data(as_text=True)  # UTF-8, not \\u escapes

    updated = client.put("/clientes/1", json={"telefone": "1133334444", "ativo": "0"}, headers=AUTH)
    assert updated.json["data"]["telefone"] == "1133334444" and updated.json["data"]["ativo"] == "0"
    assert updated.json["data"]["nome"] == "José da Silva"  # PUT merges
    assert updated.json["data"]["cadastrado_em"] == rec["cadastrado_em"]
    assert client.get("/clientes/1", headers=AUTH).json["data"] == updated.json["data"]

    deleted = client.delete("/clientes/1", headers=AUTH)
    missing = client.get("/clientes/1", headers=AUTH)

    assert deleted.status_code == 200 and deleted.json["status"] == "success"
    assert missing.status_code == 404
    assert missing.json == {"code": 404, "status": "error", "data": {"mensagem": "Registro não encontrado."}}
    assert client.delete("/clientes/1", headers=AUTH).status_code == 404
    assert client.get("/_sim/records/clientes").json["count"] == 0


def test_produto_numbers_are_strings_except_estoque(client: Any) -> None:
    rec = post(
        client,
        "produtos",
        {
            "nome": "Café 500g",
            "codigo_interno": "0222",
            "codigo_barra": 789100,
            "valor_venda": "10,5",
            "valor_custo": 6,
            "estoque": "12",
        },
    ).json["data"]

    assert rec["valor_venda"] == "10.5000" and rec["valor_custo"] == "6.0000"
    assert rec["codigo_barra"] == "789100" and rec["estoque"] == 12
    assert rec["ativo"] == "1" and rec["possui_variacao"] == "0" and rec["peso"] == "0.000"


def test_venda_computes_totals_and_wraps_produtos(client: Any) -> None:
    cliente = seed(client, "clientes", [{"nome": "Ana"}])[0]
    produto = seed(client, "produtos", [{"nome": "Café", "valor_venda": "10.50"}])[0]

    resp = post(
        client,
        "vendas",
        {
            "cliente_id": int(cliente["id"]),
            "data": "2024-01-31",
            "situacao_id": "2",
            "observacoes": "entregar cedo",
            "produtos": [{"produto": {"produto_id": produto["id"], "quantidade": 3}}],
        },
    )

    venda = resp.json["data"]
    assert resp.status_code == 200
    assert venda["cliente_id"] == cliente["id"] and venda["nome_cliente"] == "Ana"
    assert venda["codigo"] == "1" and venda["nome_situacao"] == "Concretizada"
    assert venda["valor_total"] == "31.50"
    item = venda["produtos"][0]["produto"]
    assert item["quantidade"] == "3.00" and item["valor_venda"] == "10.50"
    assert item["valor_total"] == "31.50" and item["nome_produto"] == "Café"
    second = post(client, "vendas", {"cliente_id": cliente["id"]}).json["data"]
    assert second["codigo"] == "2" and second["valor_total"] == "0.00"


@pytest.mark.parametrize(
    ("resource", "body", "word"),
    [
        ("clientes", {"email": "a@example.com"}, "nome"),
        ("clientes", {"nome": "A", "cpf": "123.456"}, "CPF"),
        ("clientes", {"nome": "A", "cnpj": "1122233300018"}, "CNPJ"),
        ("clientes", {"nome": "A", "ativo": "talvez"}, "ativo"),
        ("clientes", {"nome": "A", "data_nascimento": "31/01/1990"}, "data_nascimento"),
        ("produtos", {"nome": "X", "valor_venda": "abc"}, "valor_venda"),
        ("vendas", {"data": "2024-01-01"}, "cliente_id"),
        ("vendas", {"cliente_id": "42"}, "Cliente"),
    ],
)
def test_validation_errors_are_400_in_portuguese(client: Any, resource: str, body: dict[str, Any], word: str) -> None:
    resp = post(client, resource, body)

    assert resp.status_code == 400
    assert resp.json["code"] == 400 and resp.json["status"] == "error"
    assert word in resp.json["data"]["mensagem"]


def test_venda_rejects_unknown_produto_and_situacao(client: Any) -> None:
    cliente = seed(client, "clientes", [{"nome": "Ana"}])[0]

    bad_produto = post(
        client, "vendas", {"cliente_id": cliente["id"], "produtos": [{"produto": {"produto_id": "9", "quantidade": 1}}]}
    )
    bad_situacao = post(client, "vendas", {"cliente_id": cliente["id"], "situacao_id": "77"})

    assert bad_produto.status_code == 400 and "Produto" in bad_produto.json["data"]["mensagem"]
    assert bad_situacao.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [{}, {"access-token": "gc-access-token"}, {"access-token": "gc-access-token", "secret-access-token": "wrong"}],
)
def test_auth_failures_are_401_in_gc_shape(client: Any, headers: dict[str, str]) -> None:
    resp = client.get("/clientes", headers=headers)

    assert resp.status_code == 401
    assert resp.json["code"] == 401 and resp.json["status"] == "error"
    assert resp.json["data"]["mensagem"]


def test_tokens_are_configurable(client: Any) -> None:
    client.post("/_sim/config", json={"access_token": "a", "secret_access_token": "b"})

    assert client.get("/clientes", headers=AUTH).status_code == 401
    assert client.get("/clientes", headers={"access-token": "a", "secret-access-token": "b"}).status_code == 200


# --------------------------------------------------------------------------- listing


def test_pagination_meta_at_boundaries(client: Any) -> None:
    seed(client, "clientes", [{"nome": f"Cliente {i:02d}"} for i in range(45)])

    def meta(query: str) -> dict[str, Any]:
        resp = client.get(f"/clientes?{query}", headers=AUTH)
        assert resp.status_code == 200
        return {**resp.json["meta"], "n": len(resp.json["data"]), "first": (resp.json["data"] or [{}])[0].get("nome")}

    first, last, beyond = meta("pagina=1"), meta("pagina=3"), meta("pagina=4")

    assert first["total_registros"] == 45 and first["total_paginas"] == 3
    assert first["limite_por_pagina"] == 20 and first["n"] == 20 == first["total_registros_pagina"]
    assert (first["pagina_atual"], first["pagina_anterior"], first["proxima_pagina"]) == (1, None, 2)
    assert first["url_anterior"] is None and "pagina=2" in first["proxima_url"]
    assert (last["n"], last["pagina_anterior"], last["proxima_pagina"]) == (5, 2, None)
    assert last["first"] == "Cliente 40" and last["proxima_url"] is None
    assert (beyond["n"], beyond["proxima_pagina"]) == (0, None)
    exact = meta("limite=15&pagina=3")
    assert (exact["total_paginas"], exact["n"], exact["proxima_pagina"]) == (3, 15, None)
    for bad in ("pagina=0", "pagina=x", "limite=101", "limite=0"):
        assert client.get(f"/clientes?{bad}", headers=AUTH).status_code == 400


def test_empty_list_meta(client: Any) -> None:
    meta = client.get("/vendas", headers=AUTH).json["meta"]
    assert meta["total_registros"] == 0 and meta["total_paginas"] == 0 and meta["proxima_pagina"] is None


def test_next_url_keeps_filters(client: Any) -> None:
    seed(client, "clientes", [{"nome": f"Ana {i}"} for i in range(3)])

    meta = client.get("/clientes?nome=ana&limite=2", headers=AUTH).json["meta"]

    assert meta["proxima_url"].startswith("http://localhost/clientes?")
    assert "nome=ana" in meta["proxima_url"] and "pagina=2" in meta["proxima_url"]


def test_cliente_filters(client: Any) -> None:
    seed(
        client,
        "clientes",
        [
            {"nome": "Ana Souza", "cpf": "52998224725", "email": "ana@example.com", "celular": "(11) 91234-5678"},
            {
                "nome": "Padaria Lima",
                "tipo_pessoa": "PJ",
                "razao_social": "Lima Pães Ltda",
                "cnpj": "11.222.333/0001-81",
                "ativo": "0",
                "telefone": "1133334444",
            },
            {"nome": "Bruno Ana", "email": "bruno@example.com"},
        ],
    )

    def names(query: str) -> list[str]:
        return [r["nome"] for r in client.get(f"/clientes?{query}", headers=AUTH).json["data"]]

    assert names("nome=ANA") == ["Ana Souza", "Bruno Ana"]
    assert names("nome=pães") == ["Padaria Lima"]  # razao_social too
    assert names("cpf_cnpj=529.982.247-25") == ["Ana Souza"]
    assert names("cpf_cnpj=11222333000181") == ["Padaria Lima"]
    assert names("email=Bruno@Example.com") == ["Bruno Ana"]
    assert names("telefone=91234") == ["Ana Souza"]
    assert names("situacao=0") == ["Padaria Lima"]
    assert names("situacao=ativo") == ["Ana Souza", "Bruno Ana"]


def test_produto_and_venda_filters(client: Any) -> None:
    clientes = seed(client, "clientes", [{"nome": "A"}, {"nome": "B"}])
    seed(
        client,
        "produtos",
        [{"nome": "Café torrado", "codigo_interno": "C1"}, {"nome": "Chá", "codigo_barra": "789", "ativo": "0"}],
    )
    seed(
        client,
        "vendas",
        [
            {"cliente_id": clientes[0]["id"], "data": "2024-01-10"},
            {"cliente_id": clientes[1]["id"], "data": "2024-01-31"},
            {"cliente_id": clientes[0]["id"], "data": "2024-02-01", "situacao_id": "3"},
        ],
    )

    def ids(path: str) -> list[str]:
        return [r["id"] for r in client.get(path, headers=AUTH).json["data"]]

    assert ids("/produtos?nome=café") == ["1"]
    assert ids("/produtos?codigo=789") == ["2"] and ids("/produtos?codigo=C1") == ["1"]
    assert ids("/produtos?ativo=0") == ["2"]
    assert ids("/vendas?data_inicio=2024-01-10&data_fim=2024-01-31") == ["1", "2"]
    assert ids("/vendas?data_inicio=2024-02-01") == ["3"]
    assert ids(f"/vendas?cliente_id={clientes[0]['id']}") == ["1", "3"]
    assert ids("/vendas?situacao_id=3") == ["3"]


# --------------------------------------------------------------------------- limits, faults, stats


def test_default_limit_is_3_per_second_with_gc_429() -> None:
    client = make_gestaoclick_app().test_client()

    statuses = [client.get("/produtos", headers=AUTH) for _ in range(5)]

    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    limited = statuses[3]
    assert limited.json["code"] == 429 and limited.json["status"] == "error"
    assert "Retry-After" not in limited.headers  # not known to be sent by GestãoClick
    stats = client.get("/_sim/stats").json
    assert stats["rate_limit"] == 3 and stats["window_s"] == 1.0
    assert stats["peak_allowed"] == 3 and stats["responses_429"] == 2

    client.post("/_sim/config", json={"retry_after_header": True})
    assert client.get("/produtos", headers=AUTH).headers["Retry-After"] in ("1",)


def test_rate_limit_window_slides() -> None:
    client = make_gestaoclick_app().test_client()
    client.post("/_sim/config", json={"window_s": 0.5})

    burst = [client.get("/clientes", headers=AUTH).status_code for _ in range(4)]
    time.sleep(0.55)
    after = [client.get("/clientes", headers=AUTH).status_code for _ in range(3)]

    assert burst == [200, 200, 200, 429] and after == [200, 200, 200]
    assert client.get("/_sim/stats").json["peak_allowed"] == 3


def test_concurrent_burst_on_real_server_never_exceeds_limit() -> None:
    with SimulatorServer(make_gestaoclick_app()) as server, httpx.Client(base_url=server.url) as http:
        http.post("/_sim/config", json={"window_s": 5})
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda _: http.get("/clientes", headers=AUTH).status_code, range(12)))
        stats = http.get("/_sim/stats").json()

    assert sorted(statuses) == [200] * 3 + [429] * 9
    assert stats["peak_allowed"] == 3 and stats["peak"] == 12 and stats["total_requests"] == 12


def test_faults_use_gc_error_shape_and_path_filter(client: Any) -> None:
    client.post("/_sim/faults", json=[{"status": 503, "path_prefix": "/vendas"}])

    ok = client.get("/clientes", headers=AUTH)
    faulted = client.get("/vendas", headers=AUTH)

    assert ok.status_code == 200
    assert faulted.status_code == 503
    assert faulted.json["code"] == 503 and faulted.json["status"] == "error"
    assert client.get("/vendas", headers=AUTH).status_code == 200


def test_drop_after_commit_on_put(client: Any) -> None:
    seed(client, "produtos", [{"nome": "Café"}])
    client.post("/_sim/faults", json={"type": "drop_after_commit", "method": "PUT"})

    resp = client.put("/produtos/1", json={"nome": "Café especial"}, headers=AUTH)

    assert resp.status_code == 500
    assert client.get("/_sim/records/produtos/1").json["data"]["nome"] == "Café especial"


def test_stats_use_route_templates(client: Any) -> None:
    seed(client, "clientes", [{"nome": "A"}])
    client.get("/clientes/1", headers=AUTH)
    client.get("/clientes/2", headers=AUTH)
    client.get("/nope", headers=AUTH)

    stats = client.get("/_sim/stats").json

    assert stats["by_route"] == {"GET /clientes/<record_id>": 2, "GET <unmatched>": 1}
    assert stats["by_status"] == {"200": 1, "404": 2}


def test_reset_clears_records_stats_faults_and_codigo(client: Any) -> None:
    cliente = seed(client, "clientes", [{"nome": "A"}])[0]
    post(client, "vendas", {"cliente_id": cliente["id"]})
    client.post("/_sim/faults", json={"status": 500, "count": 3})

    client.post("/_sim/reset")

    assert client.get("/_sim/faults").json == {"faults": []}
    assert client.get("/_sim/stats").json["total_requests"] == 0
    cliente = seed(client, "clientes", [{"nome": "A"}])[0]
    assert cliente["id"] == "1"
    assert post(client, "vendas", {"cliente_id": cliente["id"]}).json["data"]["codigo"] == "1"


def test_health_names_the_simulator(client: Any) -> None:
    assert client.get("/_sim/health").json == {"status": "ok", "simulator": "gestaoclick"}
