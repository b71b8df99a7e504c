"""GestãoClick (Betel Tecnologia) simulator: ``/clientes``, ``/produtos``, ``/vendas``.

GestãoClick publishes no spec; shapes follow public community code (see PROVIDERS.md) and
facts not confirmed there are marked ``# [?] unverified`` so they are easy to correct.
Quirks reproduced: ids, flags and money as strings (``"ativo": "1"``, ``"10.50"``), nested
wrappers (``enderecos: [{endereco: {...}}]``), ``pagina`` pagination with a ``meta`` block,
3 requests/second, no changed-since filter and no webhooks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, Field

from .base import (
    ControlSettings,
    RecordStore,
    SimulatorControls,
    digits,
    install_simulator,
    is_control_request,
    paginate,
)

RESOURCES = ("clientes", "produtos", "vendas")
# GestãoClick stamps in Brasília time; Brazil has had no DST since 2019.  # [?] unverified
BRT = timezone(timedelta(hours=-3))
# [?] unverified: wrapper field names beyond cep/logradouro/numero/bairro
ENDERECO_KEYS = ("cep", "logradouro", "numero", "complemento", "bairro", "cidade_id", "nome_cidade", "estado")
CONTATO_KEYS = ("tipo_id", "nome_tipo", "nome", "contato", "cargo", "observacao")
MESSAGES = {  # Portuguese messages for base-level errors  # [?] unverified wording
    "rate_limited": "Limite de requisições excedido. Tente novamente em instantes.",
    "injected_fault": "Erro interno no servidor.",
}


class GestaoClickConfig(BaseModel):
    """Settings of one GestãoClick simulator instance."""

    access_token: str = "gc-access-token"
    secret_access_token: str = "gc-secret-access-token"
    page_size: int = Field(default=20, ge=1, le=100)  # [?] unverified default page size
    max_page_size: int = Field(default=100, ge=1)
    # Sale statuses are per account in the real system (ids like "4629853").  # [?] unverified
    situacoes: dict[str, str] = Field(
        default_factory=lambda: {"1": "Em andamento", "2": "Concretizada", "3": "Cancelada"}
    )
    controls: ControlSettings = Field(
        default_factory=lambda: ControlSettings(
            rate_limit=3,
            window_s=1.0,
            retry_after_header=False,  # [?] unverified whether GestãoClick sends Retry-After
        )
    )


class GcValidationError(ValueError):
    """Invalid input; the message is GestãoClick-style Portuguese."""


def error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    """GestãoClick error envelope ``{code, status: "error", data: {mensagem}}``."""  # [?] unverified
    response = jsonify({"code": status, "status": "error", "data": {"mensagem": MESSAGES.get(code, message)}})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def success(data: Any, meta: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": 200, "status": "success"}
    if meta is not None:
        body["meta"] = meta
    body["data"] = data
    return jsonify(body)


def timestamp(moment: datetime | None = None) -> str:
    """``2024-01-31 10:20:30`` in Brasília time."""
    return (moment or datetime.now(BRT)).astimezone(BRT).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- coercion


def _s(value: Any) -> str | None:
    """Strings-as-numbers: everything but None becomes a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _flag(value: Any, label: str) -> str:
    text = _s(value)
    mapping = {"1": "1", "0": "0", "true": "1", "false": "0"}
    if text is None or text.lower() not in mapping:
        raise GcValidationError(f"O campo {label} deve ser 1 ou 0.")
    return mapping[text.lower()]


def _decimal(value: Any, places: int, label: str) -> str:
    text = _s(value) or "0"
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # "10,50" is common in Brazilian input
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise GcValidationError(f"O campo {label} deve ser numérico.") from exc
    if not amount.is_finite():
        raise GcValidationError(f"O campo {label} deve ser numérico.")
    return f"{amount.quantize(Decimal(1).scaleb(-places))}"


def _date(value: Any, label: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise GcValidationError(f"O campo {label} deve ser uma data no formato AAAA-MM-DD.") from exc


def _wrapped(items: Any, wrapper: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Normalise ``[{wrapper: {...}}]`` (bare objects accepted too) keeping known keys."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise GcValidationError(f"O campo {wrapper}s deve ser uma lista.")
    out = []
    for item in items:
        inner = item.get(wrapper) if isinstance(item, dict) else None
        inner = inner if isinstance(inner, dict) else item  # a contato has a "contato" field
        if not isinstance(inner, dict):
            raise GcValidationError(f"Formato inválido em {wrapper}s.")
        out.append({wrapper: {k: _s(inner.get(k)) for k in keys}})
    return out


def _required_name(data: dict[str, Any]) -> str:
    nome = data.get("nome")
    if not isinstance(nome, str) or not nome.strip():
        raise GcValidationError("O campo nome é obrigatório.")
    return nome


def normalize_cliente(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and shape a cliente (without id/timestamps)."""
    # [?] unverified: the full field list (rg, inscricao_estadual, vendedor_id) and required fields
    nome = _required_name(data)
    tipo = _s(data.get("tipo_pessoa")) or "PF"
    if tipo not in ("PF", "PJ", "ES"):  # ES = estrangeiro  # [?] unverified
        raise GcValidationError("O campo tipo_pessoa deve ser PF, PJ ou ES.")
    cpf, cnpj = _s(data.get("cpf")) or None, _s(data.get("cnpj")) or None
    if cpf and len(digits(cpf)) != 11:
        raise GcValidationError("CPF inválido: deve conter 11 dígitos.")
    if cnpj and len(digits(cnpj)) != 14:
        raise GcValidationError("CNPJ inválido: deve conter 14 dígitos.")
    return {
        "tipo_pessoa": tipo,
        "nome": nome,
        "razao_social": _s(data.get("razao_social")),
        "cnpj": cnpj,
        "inscricao_estadual": _s(data.get("inscricao_estadual")),
        "cpf": cpf,
        "rg": _s(data.get("rg")),
        "data_nascimento": _date(data.get("data_nascimento"), "data_nascimento"),
        "telefone": _s(data.get("telefone")),
        "celular": _s(data.get("celular")),
        "email": _s(data.get("email")),
        "ativo": _flag(data.get("ativo", "1"), "ativo"),
        "vendedor_id": _s(data.get("vendedor_id")),
        "observacoes": _s(data.get("observacoes")),  # [?] unverified field name
        "contatos": _wrapped(data.get("contatos"), "contato", CONTATO_KEYS),
        "enderecos": _wrapped(data.get("enderecos"), "endereco", ENDERECO_KEYS),
    }


def normalize_produto(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and shape a produto; field names follow a community-published response."""
    nome = _required_name(data)
    try:
        estoque = float(_s(data.get("estoque")) or 0)
    except ValueError as exc:
        raise GcValidationError("O campo estoque deve ser numérico.") from exc
    return {
        "nome": nome,
        "codigo_interno": _s(data.get("codigo_interno")),
        "codigo_barra": _s(data.get("codigo_barra")),
        "possui_variacao": _flag(data.get("possui_variacao", "0"), "possui_variacao"),
        "possui_composicao": _flag(data.get("possui_composicao", "0"), "possui_composicao"),
        "movimenta_estoque": _flag(data.get("movimenta_estoque", "1"), "movimenta_estoque"),
        **{k: _decimal(data.get(k), 3, k) for k in ("peso", "largura", "altura", "comprimento")},
        "ativo": _flag(data.get("ativo", "1"), "ativo"),
        "grupo_id": _s(data.get("grupo_id")),
        "nome_grupo": _s(data.get("nome_grupo")),
        "descricao": _s(data.get("descricao")) or "",
        # The one number that is not a string in the published sample ("estoque": 60).
        "estoque": int(estoque) if estoque.is_integer() else estoque,
        "valor_custo": _decimal(data.get("valor_custo"), 4, "valor_custo"),
        "valor_venda": _decimal(data.get("valor_venda"), 4, "valor_venda"),
        "valores": data.get("valores") or [],
        "variacoes": data.get("variacoes") or [],
    }


# --------------------------------------------------------------------------- app


@dataclass
class GcState:
    """Everything one GestãoClick app instance owns (``app.extensions["simulator"]``)."""

    config: GestaoClickConfig
    controls: SimulatorControls
    store: RecordStore
    codigos: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def normalize_venda(self, data: dict[str, Any], check_refs: bool = True) -> dict[str, Any]:
        """Validate and shape a venda; totals are computed from its produtos."""
        # [?] unverified: item field names inside produtos[].produto and which fields are required
        cliente_id = _s(data.get("cliente_id"))
        if not cliente_id:
            raise GcValidationError("O campo cliente_id é obrigatório.")
        cliente = self.store.get("clientes", cliente_id)
        if check_refs and cliente is None:
            raise GcValidationError("Cliente não encontrado.")
        situacoes = self.config.situacoes
        situacao_id = _s(data.get("situacao_id")) or next(iter(situacoes))
        if situacao_id not in situacoes:
            raise GcValidationError("Situação de venda inválida.")
        itens, total = [], Decimal(0)
        for wrapped in _wrapped(
            data.get("produtos"),
            "produto",
            ("produto_id", "variacao_id", "nome_produto", "quantidade", "valor_venda", "desconto_valor"),
        ):
            item = wrapped["produto"]
            produto = self.store.get("produtos", item["produto_id"]) if item["produto_id"] else None
            if check_refs and produto is None:
                raise GcValidationError("Produto não encontrado.")
            quantidade = Decimal(_decimal(item["quantidade"] or "1", 2, "quantidade"))
            if quantidade <= 0:
                raise GcValidationError("O campo quantidade deve ser maior que zero.")
            preco = Decimal(_decimal(item["valor_venda"] or (produto or {}).get("valor_venda"), 2, "valor_venda"))
            desconto = Decimal(_decimal(item["desconto_valor"], 2, "desconto_valor"))
            subtotal = quantidade * preco - desconto
            total += subtotal
            itens.append(
                {
                    "produto": {
                        "produto_id": item["produto_id"],
                        "variacao_id": item["variacao_id"],
                        "nome_produto": item["nome_produto"] or (produto or {}).get("nome"),
                        "quantidade": f"{quantidade:.2f}",
                        "valor_venda": f"{preco:.2f}",
                        "desconto_valor": f"{desconto:.2f}",
                        "valor_total": f"{subtotal:.2f}",
                    }
                }
            )
        valor_total = f"{total:.2f}" if itens else _decimal(data.get("valor_total"), 2, "valor_total")
        dia = _date(data.get("data"), "data") or datetime.now(BRT).date().isoformat()
        return {
            "codigo": _s(data.get("codigo")) or str(next(self.codigos)),
            "cliente_id": cliente_id,
            "nome_cliente": (cliente or {}).get("nome"),
            "vendedor_id": _s(data.get("vendedor_id")),
            "data": dia,
            "situacao_id": situacao_id,
            "nome_situacao": situacoes[situacao_id],
            "valor_total": valor_total,
            "observacoes": _s(data.get("observacoes")),
            "produtos": itens,
        }

    def normalize(self, resource: str, data: dict[str, Any], check_refs: bool = True) -> dict[str, Any]:
        if resource == "clientes":
            return normalize_cliente(data)
        if resource == "produtos":
            return normalize_produto(data)
        return self.normalize_venda(data, check_refs)


def _matches(resource: str, rec: dict[str, Any], args: Any) -> bool:
    """GestãoClick list filters; names from community code, matching rules are guesses."""
    # [?] unverified: substring vs exact matching, situacao values ("1"/"0" or "ativo"/"inativo")

    def has(key: str) -> bool:
        return bool(args.get(key))

    if (
        resource != "vendas"
        and has("nome")
        and not any(args["nome"].lower() in (rec.get(k) or "").lower() for k in ("nome", "razao_social"))
    ):
        return False
    if resource == "clientes":
        if has("cpf_cnpj") and digits(args["cpf_cnpj"]) not in (digits(rec["cpf"]), digits(rec["cnpj"])):
            return False
        if has("email") and args["email"].strip().lower() != (rec["email"] or "").lower():
            return False
        if has("telefone") and not any(
            digits(args["telefone"]) in digits(rec[k]) for k in ("telefone", "celular") if rec[k]
        ):
            return False
        situacao = {"ativo": "1", "inativo": "0"}.get(args.get("situacao", ""), args.get("situacao"))
        if situacao and rec["ativo"] != situacao:
            return False
        if has("tipo_pessoa") and rec["tipo_pessoa"] != args["tipo_pessoa"]:
            return False
    elif resource == "produtos":
        if has("codigo") and args["codigo"] not in (rec["codigo_interno"], rec["codigo_barra"]):
            return False
        if has("ativo") and rec["ativo"] != args["ativo"]:
            return False
        if has("grupo_id") and rec["grupo_id"] != args["grupo_id"]:
            return False
    else:
        if has("data_inicio") and rec["data"] < args["data_inicio"]:
            return False
        if has("data_fim") and rec["data"] > args["data_fim"]:
            return False
        for key in ("cliente_id", "situacao_id", "codigo"):
            if has(key) and rec[key] != args[key]:
                return False
    return True


def make_app(config: GestaoClickConfig | None = None) -> Flask:
    """Build a GestãoClick simulator app."""
    cfg = (config or GestaoClickConfig()).model_copy(deep=True)
    controls = SimulatorControls(cfg.controls)
    state = GcState(cfg, controls, RecordStore(RESOURCES))
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Portuguese messages
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep GestãoClick's field order
    app.extensions["simulator"] = state

    def setter(key: str) -> Any:
        def set_value(value: Any) -> None:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{key} must be a non-empty string")
            setattr(cfg, key, value)

        return set_value

    def seeder(resource: str, data: dict[str, Any], ns: str) -> dict[str, Any]:
        now = timestamp()
        return {
            **state.normalize(resource, data, check_refs=False),
            "cadastrado_em": data.get("cadastrado_em") or now,
            "modificado_em": data.get("modificado_em") or now,
        }

    def reset_codigos() -> None:
        state.codigos = itertools.count(1)

    install_simulator(
        app,
        name="gestaoclick",
        controls=controls,
        store=state.store,
        error_response=error,
        seeder=seeder,
        on_reset=reset_codigos,
        config_hooks={
            "access_token": (lambda: "***", setter("access_token")),
            "secret_access_token": (lambda: "***", setter("secret_access_token")),
            "page_size": (lambda: cfg.page_size, lambda v: setattr(cfg, "page_size", max(1, min(int(v), 100)))),
        },
    )

    @app.before_request
    def authenticate() -> Response | None:
        if is_control_request():
            return None
        if (
            request.headers.get("access-token") == cfg.access_token
            and request.headers.get("secret-access-token") == cfg.secret_access_token
        ):
            return None
        return error(401, "unauthorized", "Token de acesso inválido ou não informado.")  # [?] unverified

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return error(404, "not_found", "Recurso não encontrado.")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return error(405, "method_not_allowed", "Método não permitido.")

    def parse_body() -> dict[str, Any] | Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "bad_request", "O corpo da requisição deve ser um objeto JSON.")
        return body

    for resource in RESOURCES:
        _register(app, state, resource, parse_body)
    return app


def _register(app: Flask, state: GcState, resource: str, parse_body: Any) -> None:
    """Mount ``GET/POST /<resource>`` and ``GET/PUT/DELETE /<resource>/<id>``."""
    store, cfg = state.store, state.config
    not_found_msg = "Registro não encontrado."  # [?] unverified wording

    def list_records() -> Response:
        args = request.args
        try:
            pagina = int(args.get("pagina", 1))
            limite = int(args.get("limite", cfg.page_size))
        except ValueError:
            return error(400, "bad_request", "Parâmetros de paginação inválidos.")
        if pagina < 1 or not 1 <= limite <= cfg.max_page_size:
            return error(400, "bad_request", "Parâmetros de paginação inválidos.")
        records = [r for r in store.list(resource) if _matches(resource, r, args)]
        page, pages = paginate(records, pagina, limite)

        def url(target: int | None) -> str | None:
            return None if target is None else (f"{request.base_url}?{urlencode({**args.to_dict(), 'pagina': target})}")

        anterior = pagina - 1 if pagina > 1 else None
        proxima = pagina + 1 if pagina < pages else None
        return success(
            page,
            {
                "total_registros": len(records),
                "total_paginas": pages,
                "total_registros_pagina": len(page),
                "pagina_atual": pagina,
                "limite_por_pagina": limite,
                "pagina_anterior": anterior,
                "url_anterior": url(anterior),
                "proxima_pagina": proxima,
                "proxima_url": url(proxima),
            },
        )

    def create() -> Response | tuple[Response, int]:
        body = parse_body()
        if isinstance(body, Response):
            return body
        try:
            fields = state.normalize(resource, body)
        except GcValidationError as exc:
            return error(400, "validation_error", str(exc))
        now = timestamp()
        record = store.create(resource, {**fields, "cadastrado_em": now, "modificado_em": now})
        return success(record)  # HTTP 200 on create  # [?] unverified (could be 201)

    def read(record_id: str) -> Response:
        record = store.get(resource, record_id)
        return success(record) if record else error(404, "not_found", not_found_msg)

    def update(record_id: str) -> Response:
        body = parse_body()
        if isinstance(body, Response):
            return body

        def change(current: dict[str, Any]) -> dict[str, Any]:
            # PUT merges into the stored record; nested lists sent are replaced.  # [?] unverified
            fields = state.normalize(resource, {**current, **body})
            return {**fields, "cadastrado_em": current["cadastrado_em"], "modificado_em": timestamp()}

        try:
            record = store.update(resource, record_id, change)
        except GcValidationError as exc:
            return error(400, "validation_error", str(exc))
        return success(record) if record else error(404, "not_found", not_found_msg)

    def delete(record_id: str) -> Response:
        if store.delete(resource, record_id) is None:
            return error(404, "not_found", not_found_msg)
        return success({"mensagem": "Registro excluído com sucesso."})  # [?] unverified body

    app.add_url_rule(f"/{resource}", f"{resource}_list", list_records, methods=["GET"])
    app.add_url_rule(f"/{resource}", f"{resource}_create", create, methods=["POST"])
    app.add_url_rule(f"/{resource}/<record_id>", f"{resource}_read", read, methods=["GET"])
    app.add_url_rule(f"/{resource}/<record_id>", f"{resource}_update", update, methods=["PUT"])
    app.add_url_rule(f"/{resource}/<record_id>", f"{resource}_delete", delete, methods=["DELETE"])
