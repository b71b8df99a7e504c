"""Bling simulator: API v3 ``/Api/v3/contatos|produtos|pedidos/vendas`` and
``/Api/v3/oauth/token``, shaped after the Bling v3 spec.

Reproduced: OAuth2 bearer auth; the token endpoint (HTTP Basic ``client_id:client_secret``,
form ``grant_type=authorization_code|refresh_token``) with **rotating refresh tokens**
(a refresh token works once; reusing it answers ``invalid_grant``); 3 requests/second →
429 ``{"error": {"type": "TOO_MANY_REQUESTS", …}}``; ``{data: […]}`` lists paged with
``pagina``/``limite`` (≤ 100) whose rows carry base fields only; ``dataAlteracaoInicial``/
``dataAlteracaoFinal`` filters (a range over one year → 400); the
``{error: {type, message, description, fields}}`` error body; 201/204 answers as in the
spec; and webhooks ``{eventId, date, version, event, companyId, data}`` signed with
``X-Bling-Signature-256: sha256=<HMAC-SHA256(body, client_secret)>`` to a configured URL.

# [?] unverified (community-documented, see PROVIDERS.md): webhook event names and data
# shapes, the 401 body, the date-time format of the filters (Brasília time assumed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, Field

from .base import (
    ControlSettings,
    RecordStore,
    SimulatorControls,
    WebhookSender,
    digits,
    install_simulator,
    is_control_request,
)

API = "/Api/v3"
RESOURCES = ("contatos", "produtos", "pedidos_vendas")
PATHS = {"contatos": "contatos", "produtos": "produtos", "pedidos_vendas": "pedidos/vendas"}
EVENTS = {"contatos": "contact", "produtos": "product", "pedidos_vendas": "order"}  # [?] unverified names
BRT = timezone(timedelta(hours=-3))
MAX_RANGE = timedelta(days=365)
# Default sale statuses of a new account: id → (name, valor).  # [?] community-documented
SITUACOES = {6: ("Em aberto", 0), 9: ("Atendido", 1), 12: ("Cancelado", 2), 15: ("Em andamento", 3)}
ERROR_TEXT = {
    "TOO_MANY_REQUESTS": ("too_many_requests", "Limite de requisições atingido."),
    "SERVER_ERROR": ("server_error", "Erro interno no servidor."),
    "UNAUTHORIZED": ("invalid_token", "O token de acesso é inválido ou expirou."),
    "RESOURCE_NOT_FOUND": ("resource_not_found", "O recurso requisitado não foi encontrado."),
    "METHOD_NOT_ALLOWED": ("method_not_allowed", "Método não permitido."),
}


class BlingConfig(BaseModel):
    """Settings of one Bling simulator instance."""

    client_id: str = "bling-client-id"
    client_secret: str = "bling-client-secret"
    authorization_codes: list[str] = Field(default_factory=lambda: ["bling-auth-code"])
    initial_access_token: str | None = "bling-access-token"
    initial_refresh_token: str | None = "bling-refresh-token"
    access_token_ttl_s: int = Field(default=21600, ge=1)
    page_size: int = Field(default=100, ge=1, le=100)
    company_id: str = "d4475854366a36c86a37e792f9634a51"
    webhook_url: str | None = None
    controls: ControlSettings = Field(
        default_factory=lambda: ControlSettings(rate_limit=3, window_s=1.0, retry_after_header=False)
    )


class BlingError(ValueError):
    """A request Bling refuses with 400; ``fields`` as in the error body."""

    def __init__(self, message: str, fields: list[dict[str, Any]] | None = None, kind: str = "VALIDATION_ERROR"):
        super().__init__(message)
        self.fields = fields or []
        self.kind = kind


def _field(element: str, msg: str, code: int = 1) -> dict[str, Any]:
    return {"code": code, "msg": msg, "element": element, "namespace": element.upper()}


def error_body(
    kind: str, message: str, description: str, fields: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """Bling's ``{error: {type, message, description, fields}}``."""
    body: dict[str, Any] = {"type": kind, "message": message, "description": description}
    if fields:
        body["fields"] = fields
    return {"error": {**body, **extra}}


def error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    """Error factory for the base machinery (rate limits, faults) and routing errors."""
    kind = {429: "TOO_MANY_REQUESTS", 401: "UNAUTHORIZED", 404: "RESOURCE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
        status, "SERVER_ERROR" if status >= 500 else "BAD_REQUEST"
    )
    short, description = ERROR_TEXT.get(kind, (code, message))
    extra = {"limit": 3, "period": "second"} if status == 429 else {}
    response = jsonify(error_body(kind, short, description, **extra))
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _validation(exc: BlingError) -> Response:
    response = jsonify(error_body(exc.kind, "Não foi possível salvar", str(exc), exc.fields))
    response.status_code = 400
    return response


# --------------------------------------------------------------------------- coercion


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _free(value: Any) -> str:
    """Free text (notes) is kept as sent."""
    return "" if value is None else str(value)


def _number(value: Any, element: str, default: float = 0.0) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BlingError(f"O campo {element} deve ser numérico.", [_field(element, "Valor inválido")])
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BlingError(f"O campo {element} deve ser numérico.", [_field(element, "Valor inválido")]) from None
    return float(number)


def _id_of(value: Any, element: str) -> int | None:
    if not isinstance(value, dict) or value.get("id") in (None, "", 0):
        return None
    try:
        return int(value["id"])
    except (TypeError, ValueError):
        raise BlingError(
            f"O campo {element}.id deve ser um inteiro.", [_field(f"{element}.id", "Id inválido")]
        ) from None


def _date(value: Any, element: str, default: str | None = None) -> str | None:
    raw = _text(value)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw[:10]).isoformat()
    except ValueError:
        raise BlingError(f"O campo {element} deve ser uma data.", [_field(element, "Data inválida")]) from None


def _when(value: str, element: str) -> datetime:
    """Bling's filter dates: ``YYYY-MM-DD[ HH:MM:SS]`` in Brasília time."""
    raw = value.strip().replace("T", " ")
    fmt = "%Y-%m-%d %H:%M:%S" if " " in raw else "%Y-%m-%d"
    try:
        return datetime.strptime(raw, fmt).replace(tzinfo=BRT)
    except ValueError:
        raise BlingError(f"O parâmetro {element} é inválido.", [_field(element, "Data inválida")]) from None


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# --------------------------------------------------------------------------- webhooks


class SignedWebhookSender(WebhookSender):
    """A :class:`WebhookSender` that posts pre-serialised bytes (the signature covers the
    exact body) when given bytes."""

    def _deliver(
        self,
        client: httpx.Client,
        url: str,
        body: Any,
        headers: dict[str, str],
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
    ) -> None:
        if not isinstance(body, bytes):
            super()._deliver(client, url, body, headers, max_attempts, backoff_s, timeout_s)
            return
        for attempt in range(1, max_attempts + 1):
            retryable = True
            try:
                resp = client.post(
                    url, content=body, headers={"content-type": "application/json", **headers}, timeout=timeout_s
                )
                if resp.status_code < 300:
                    self._controls.incr(f"{self._prefix}_ok")
                    return
                retryable = resp.status_code >= 500 or resp.status_code == 429
            except httpx.TransportError:
                pass
            if not retryable or attempt == max_attempts:
                break
            self._controls.incr(f"{self._prefix}_retries")
            if self._stop.wait(min(backoff_s * 2 ** (attempt - 1), 5.0)):
                break
        self._controls.incr(f"{self._prefix}_failed")


def sign(body: bytes, client_secret: str) -> str:
    """``sha256=<hex HMAC-SHA256(body, client_secret)>``."""
    return "sha256=" + hmac.new(client_secret.encode(), body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- state


@dataclass
class BlingState:
    """Everything one Bling app instance owns (``app.extensions["simulator"]``)."""

    config: BlingConfig
    controls: SimulatorControls
    store: RecordStore
    sender: SignedWebhookSender
    lock: threading.RLock = field(default_factory=threading.RLock)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (epoch)
    refresh_tokens: dict[str, bool] = field(default_factory=dict)  # token → still usable
    used_codes: set[str] = field(default_factory=set)
    numeros: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    item_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.used_codes.clear()
            if self.config.initial_access_token:
                self.access_tokens[self.config.initial_access_token] = time.time() + self.config.access_token_ttl_s
            if self.config.initial_refresh_token:
                self.refresh_tokens[self.config.initial_refresh_token] = True

    def issue(self) -> dict[str, Any]:
        with self.lock:
            access, refresh = secrets.token_hex(20), secrets.token_hex(20)
            self.access_tokens[access] = time.time() + self.config.access_token_ttl_s
            self.refresh_tokens[refresh] = True
            self.controls.incr("tokens_issued")
            return {
                "access_token": access,
                "expires_in": self.config.access_token_ttl_s,
                "token_type": "Bearer",
                "scope": "98309 5990556 318257556",
                "refresh_token": refresh,
            }

    def token_valid(self, token: str) -> bool:
        with self.lock:
            return self.access_tokens.get(token, 0) > time.time()

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens:
                self.access_tokens[token] = 0

    # -- records ----------------------------------------------------------------------
    def render(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        return _clean({**record, "id": int(record["id"])})

    def row(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        """A list row: base fields only (as the spec's list responses)."""
        r = self.render(resource, record)
        if resource == "contatos":
            keys = ("id", "nome", "codigo", "situacao", "numeroDocumento", "telefone", "celular")
            return {k: r[k] for k in keys if k in r}
        if resource == "produtos":
            keys = ("id", "nome", "codigo", "preco", "tipo", "situacao", "formato", "descricaoCurta", "imagemURL")
            out = {k: r[k] for k in keys if k in r}
            out["precoCusto"] = (r.get("fornecedor") or {}).get("precoCusto", 0)
            out["estoque"] = {"saldoVirtualTotal": (r.get("estoque") or {}).get("saldoVirtualTotal", 0)}
            return out
        keys = (
            "id",
            "numero",
            "numeroLoja",
            "data",
            "dataSaida",
            "dataPrevista",
            "totalProdutos",
            "total",
            "contato",
            "situacao",
            "loja",
        )
        return {k: r[k] for k in keys if k in r}

    def normalize(self, resource: str, body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        if resource == "contatos":
            return self._contato(body)
        if resource == "produtos":
            return self._produto({**(current or {}), **body} if current is not None else body)
        return self._venda(body, current)

    def _contato(self, body: dict[str, Any]) -> dict[str, Any]:
        problems = []
        nome = _text(body.get("nome"))
        if not nome:
            problems.append(_field("nome", "O nome do contato não pode ser vazio"))
        tipo = _text(body.get("tipo")) or "F"
        if tipo not in ("F", "J", "E"):
            problems.append(_field("tipo", "O tipo de pessoa deve ser F, J ou E"))
        situacao = _text(body.get("situacao")) or "A"
        if situacao not in ("A", "E", "I", "S"):
            problems.append(_field("situacao", "Situação inválida"))
        documento = digits(body.get("numeroDocumento"))
        if documento and len(documento) != (14 if tipo == "J" else 11) and tipo != "E":
            problems.append(_field("numeroDocumento", "CPF/CNPJ inválido"))
        email = _text(body.get("email"))
        if email and "@" not in email:
            problems.append(_field("email", "E-mail inválido"))
        if problems:
            raise BlingError("Não foi possível salvar o contato", problems)
        endereco = body.get("endereco") if isinstance(body.get("endereco"), dict) else {}
        keys = ("endereco", "cep", "bairro", "municipio", "uf", "numero", "complemento")

        def address(part: Any) -> dict[str, str]:
            part = part if isinstance(part, dict) else {}
            return {k: _text(part.get(k)) for k in keys}

        adicionais = body.get("dadosAdicionais") if isinstance(body.get("dadosAdicionais"), dict) else {}
        return {
            "nome": nome,
            "codigo": _text(body.get("codigo")),
            "situacao": situacao,
            "numeroDocumento": documento,
            "telefone": _text(body.get("telefone")),
            "celular": _text(body.get("celular")),
            "fantasia": _text(body.get("fantasia")),
            "tipo": tipo,
            "indicadorIe": body.get("indicadorIe") if body.get("indicadorIe") in (1, 2, 9) else 9,
            "ie": _text(body.get("ie")),
            "rg": _text(body.get("rg")),
            "inscricaoMunicipal": _text(body.get("inscricaoMunicipal")),
            "orgaoEmissor": _text(body.get("orgaoEmissor")),
            "email": email,
            "emailNotaFiscal": _text(body.get("emailNotaFiscal")),
            "endereco": {"geral": address(endereco.get("geral")), "cobranca": address(endereco.get("cobranca"))},
            "vendedor": {"id": _id_of(body.get("vendedor"), "vendedor") or 0},
            "dadosAdicionais": {
                "dataNascimento": _date(adicionais.get("dataNascimento"), "dadosAdicionais.dataNascimento"),
                "sexo": adicionais.get("sexo") if adicionais.get("sexo") in ("M", "F") else None,
                "naturalidade": _text(adicionais.get("naturalidade")),
            },
            "financeiro": {"limiteCredito": 0, "condicaoPagamento": "", "categoria": {"id": 0}},
            "pais": {"nome": _text((body.get("pais") or {}).get("nome")) if isinstance(body.get("pais"), dict) else ""},
            "tiposContato": [],
            "pessoasContato": [],
        }

    def _produto(self, body: dict[str, Any]) -> dict[str, Any]:
        problems = []
        nome = _text(body.get("nome"))
        if not nome or len(nome) > 120:
            problems.append(_field("nome", "O nome do produto deve ter entre 1 e 120 caracteres"))
        tipo, situacao, formato = _text(body.get("tipo")), _text(body.get("situacao")), _text(body.get("formato"))
        if tipo not in ("P", "S", "N"):
            problems.append(_field("tipo", "O tipo deve ser P, S ou N"))
        if situacao not in ("A", "I"):
            problems.append(_field("situacao", "A situação deve ser A ou I"))
        if formato not in ("S", "V", "E"):
            problems.append(_field("formato", "O formato deve ser S, V ou E"))
        if problems:
            raise BlingError("Não foi possível salvar o produto", problems)
        fornecedor = body.get("fornecedor") if isinstance(body.get("fornecedor"), dict) else {}
        estoque = body.get("estoque") if isinstance(body.get("estoque"), dict) else {}
        return {
            "nome": nome,
            "codigo": _text(body.get("codigo")),
            "preco": _number(body.get("preco"), "preco"),
            "tipo": tipo,
            "situacao": situacao,
            "formato": formato,
            "descricaoCurta": _text(body.get("descricaoCurta")),
            "imagemURL": _text(body.get("imagemURL")),
            "unidade": _text(body.get("unidade")),
            "pesoLiquido": _number(body.get("pesoLiquido"), "pesoLiquido"),
            "pesoBruto": _number(body.get("pesoBruto"), "pesoBruto"),
            "volumes": int(_number(body.get("volumes"), "volumes")),
            "itensPorCaixa": _number(body.get("itensPorCaixa"), "itensPorCaixa"),
            "gtin": _text(body.get("gtin")),
            "gtinEmbalagem": _text(body.get("gtinEmbalagem")),
            "tipoProducao": body.get("tipoProducao") if body.get("tipoProducao") in ("P", "T") else "P",
            "condicao": body.get("condicao") if body.get("condicao") in (0, 1, 2) else 0,
            "freteGratis": bool(body.get("freteGratis", False)),
            "marca": _text(body.get("marca")),
            "descricaoComplementar": _free(body.get("descricaoComplementar")),
            "linkExterno": _text(body.get("linkExterno")),
            "observacoes": _free(body.get("observacoes")),
            "descricaoEmbalagemDiscreta": _text(body.get("descricaoEmbalagemDiscreta")),
            "categoria": {"id": _id_of(body.get("categoria"), "categoria") or 0},
            "estoque": {  # the balance moves through stock endpoints; seeds may set it
                "minimo": _number(estoque.get("minimo"), "estoque.minimo"),
                "maximo": _number(estoque.get("maximo"), "estoque.maximo"),
                "crossdocking": int(_number(estoque.get("crossdocking"), "estoque.crossdocking")),
                "localizacao": _text(estoque.get("localizacao")),
                "saldoVirtualTotal": _number(estoque.get("saldoVirtualTotal"), "estoque.saldoVirtualTotal"),
            },
            "fornecedor": {
                "id": _id_of(fornecedor, "fornecedor") or 0,
                "contato": {"id": 0, "nome": ""},
                "codigo": _text(fornecedor.get("codigo")),
                "precoCusto": _number(fornecedor.get("precoCusto"), "fornecedor.precoCusto"),
                "precoCompra": _number(fornecedor.get("precoCompra"), "fornecedor.precoCompra"),
            },
            "camposCustomizados": [],
            "variacoes": [],
        }

    def _venda(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        problems = []
        contato_id = _id_of(body.get("contato"), "contato")
        contato = self.store.get("contatos", contato_id) if contato_id else None
        if contato is None:
            problems.append(_field("contato", "O contato informado não foi encontrado"))
        itens_in = body.get("itens")
        if not isinstance(itens_in, list) or not itens_in:
            problems.append(_field("itens", "O pedido deve ter ao menos um item"))
            itens_in = []
        itens, total = [], Decimal(0)
        for index, line in enumerate(itens_in):
            if not isinstance(line, dict):
                problems.append(_field(f"itens[{index}]", "Item inválido"))
                continue
            produto_id = _id_of(line.get("produto"), f"itens[{index}].produto")
            produto = self.store.get("produtos", produto_id) if produto_id else None
            if produto_id and produto is None:
                problems.append(_field(f"itens[{index}].produto", "Produto não encontrado"))
            quantidade = Decimal(str(_number(line.get("quantidade"), f"itens[{index}].quantidade", 1)))
            valor = Decimal(str(_number(line.get("valor"), f"itens[{index}].valor")))
            desconto = Decimal(str(_number(line.get("desconto"), f"itens[{index}].desconto")))
            if quantidade <= 0:
                problems.append(_field(f"itens[{index}].quantidade", "A quantidade deve ser maior que zero"))
            descricao = _text(line.get("descricao")) or (produto or {}).get("nome") or ""
            if not descricao:
                problems.append(_field(f"itens[{index}].descricao", "A descrição do item é obrigatória"))
            subtotal = quantidade * valor * (1 - desconto / 100)
            total += subtotal
            itens.append(
                {
                    "id": next(self.item_ids),
                    "codigo": _text(line.get("codigo")) or (produto or {}).get("codigo", ""),
                    "unidade": _text(line.get("unidade")) or (produto or {}).get("unidade", "UN") or "UN",
                    "quantidade": float(quantidade),
                    "desconto": float(desconto),
                    "valor": float(valor),
                    "valorLista": float(valor),
                    "aliquotaIPI": 0,
                    "descricao": descricao,
                    "descricaoDetalhada": _text(line.get("descricaoDetalhada")),
                    "produto": {"id": produto_id} if produto_id else None,
                    "comissao": {"base": float(subtotal), "aliquota": 0, "valor": 0},
                }
            )
        if problems:
            raise BlingError("Não foi possível salvar o pedido de venda", problems)
        dia = _date(body.get("data"), "data", datetime.now(BRT).date().isoformat())
        parcelas = []
        for index, parcela in enumerate(body.get("parcelas") or []):
            if not isinstance(parcela, dict):
                continue
            parcelas.append(
                {
                    "id": next(self.item_ids),
                    "dataVencimento": _date(parcela.get("dataVencimento"), f"parcelas[{index}].dataVencimento", dia),
                    "valor": _number(parcela.get("valor"), f"parcelas[{index}].valor"),
                    "observacoes": _text(parcela.get("observacoes")),
                    "formaPagamento": {"id": _id_of(parcela.get("formaPagamento"), "formaPagamento") or 0},
                }
            )
        situacao = (current or {}).get("situacao") or {"id": 6, "valor": 0}
        assert contato is not None
        total_value = float(round(total, 2))
        return {
            "numero": (current or {}).get("numero") or next(self.numeros),
            "numeroLoja": _text(body.get("numeroLoja")),
            "data": dia,
            "dataSaida": _date(body.get("dataSaida"), "dataSaida", dia),
            "dataPrevista": _date(body.get("dataPrevista"), "dataPrevista", dia),
            "totalProdutos": total_value,
            "total": total_value,
            "contato": {
                "id": int(contato["id"]),
                "nome": contato["nome"],
                "tipoPessoa": contato["tipo"],
                "numeroDocumento": contato["numeroDocumento"],
            },
            "situacao": situacao,
            "loja": {"id": 0},
            "numeroPedidoCompra": _text(body.get("numeroPedidoCompra")),
            "outrasDespesas": _number(body.get("outrasDespesas"), "outrasDespesas"),
            "observacoes": _free(body.get("observacoes")),
            "observacoesInternas": _free(body.get("observacoesInternas")),
            "desconto": {"valor": 0, "unidade": "REAL"},
            "categoria": {"id": 0},
            "tributacao": {"totalICMS": 0, "totalIPI": 0},
            "itens": itens,
            "parcelas": parcelas,
            "vendedor": {"id": _id_of(body.get("vendedor"), "vendedor") or 0},
            "taxas": {"taxaComissao": 0, "custoFrete": 0, "valorBase": total_value},
        }

    # -- webhooks ---------------------------------------------------------------------
    def emit(self, resource: str, action: str, record: dict[str, Any]) -> None:
        """Send a signed webhook for one change to the configured URL, if any."""
        if not self.config.webhook_url:
            return
        rendered = self.render(resource, record)
        if action == "deleted":
            data: dict[str, Any] = {"id": rendered["id"]}
        elif resource == "contatos":
            data = {k: rendered.get(k) for k in ("id", "nome", "codigo", "situacao", "numeroDocumento", "tipo")}
        elif resource == "produtos":
            data = {k: rendered.get(k) for k in ("id", "nome", "codigo", "tipo", "situacao", "formato", "preco")}
        else:
            data = {
                k: rendered.get(k)
                for k in ("id", "data", "numero", "numeroLoja", "total", "contato", "situacao", "loja")
            }
        payload = {
            "eventId": str(uuid.uuid4()),
            "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "version": "v1",
            "event": f"{EVENTS[resource]}.{action}",
            "companyId": self.config.company_id,
            "data": data,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self.sender.submit(
            self.config.webhook_url,
            body,  # type: ignore[arg-type]  # bytes: signed as sent
            {"X-Bling-Signature-256": sign(body, self.config.client_secret)},
        )
        self.controls.incr("webhooks_emitted")


# --------------------------------------------------------------------------- app


def make_app(config: BlingConfig | None = None) -> Flask:
    """Build a Bling simulator app."""
    cfg = (config or BlingConfig()).model_copy(deep=True)
    controls = SimulatorControls(cfg.controls)
    state = BlingState(cfg, controls, RecordStore(RESOURCES), SignedWebhookSender(controls, "webhook"))
    state.reset_tokens()
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["simulator"] = state

    def seeder(resource: str, data: dict[str, Any], ns: str) -> dict[str, Any]:
        try:
            return state.normalize(resource, data)
        except BlingError as exc:
            raise ValueError(f"{exc}: {exc.fields}") from None

    def reset() -> None:
        state.sender.clear()
        state.reset_tokens()
        state.numeros = itertools.count(1)
        state.item_ids = itertools.count(1)

    def set_url(value: Any) -> None:
        if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
            raise ValueError("webhook_url must be an http(s) URL or null")
        cfg.webhook_url = value

    install_simulator(
        app,
        name="bling",
        controls=controls,
        store=state.store,
        error_response=error,
        seeder=seeder,
        on_reset=reset,
        config_hooks={
            "webhook_url": (lambda: cfg.webhook_url, set_url),
            "page_size": (lambda: cfg.page_size, lambda v: setattr(cfg, "page_size", max(1, min(int(v), 100)))),
            "access_token_ttl_s": (
                lambda: cfg.access_token_ttl_s,
                lambda v: setattr(cfg, "access_token_ttl_s", max(1, int(v))),
            ),
        },
        sender=state.sender,
    )

    @app.before_request
    def authenticate() -> Response | None:
        if is_control_request() or request.path == f"{API}/oauth/token":
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token and state.token_valid(token):
            return None
        return error(401, "invalid_token", "invalid_token")

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return error(404, "not_found", "Not found")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return error(405, "method_not_allowed", "Method not allowed")

    @app.post("/_sim/tokens/expire")
    def expire() -> Response:
        state.expire_tokens()
        return jsonify({"status": "expired"})

    @app.get("/_sim/tokens")
    def token_stats() -> Response:
        with state.lock:
            live = sum(1 for v in state.refresh_tokens.values() if v)
            return jsonify({"refresh_tokens_live": live, "refresh_tokens_used": len(state.refresh_tokens) - live})

    _register_oauth(app, state)
    for resource in RESOURCES:
        _register(app, state, resource)
    return app


def _register_oauth(app: Flask, state: BlingState) -> None:
    cfg = state.config

    def oauth_error(status: int, kind: str, description: str) -> Response:
        response = jsonify(error_body(kind, kind, description))
        response.status_code = status
        return response

    @app.post(f"{API}/oauth/token")
    def token() -> Response:
        header = request.headers.get("Authorization", "")
        try:
            user, _, password = (
                base64.b64decode(header[6:]).decode().partition(":") if header.startswith("Basic ") else ("", "", "")
            )
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if not (hmac.compare_digest(user, cfg.client_id) and hmac.compare_digest(password, cfg.client_secret)):
            return oauth_error(401, "invalid_client", "Credenciais do aplicativo inválidas.")
        grant = request.form.get("grant_type")
        with state.lock:
            if grant == "authorization_code":
                code = request.form.get("code", "")
                if code not in cfg.authorization_codes or code in state.used_codes:
                    return oauth_error(400, "invalid_grant", "Código de autorização inválido ou já utilizado.")
                state.used_codes.add(code)
                return jsonify(state.issue())
            if grant == "refresh_token":
                refresh = request.form.get("refresh_token", "")
                if not state.refresh_tokens.get(refresh):
                    state.controls.incr("refresh_rejected")
                    return oauth_error(400, "invalid_grant", "Refresh token inválido ou já utilizado.")
                state.refresh_tokens[refresh] = False  # rotates: usable once
                return jsonify(state.issue())
        return oauth_error(400, "unsupported_grant_type", "grant_type inválido.")


def _register(app: Flask, state: BlingState, resource: str) -> None:
    store, cfg = state.store, state.config
    base = f"{API}/{PATHS[resource]}"
    id_name = {"contatos": "idContato", "produtos": "idProduto", "pedidos_vendas": "idPedidoVenda"}[resource]

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BlingError("O corpo da requisição deve ser um objeto JSON.", kind="INVALID_REQUEST_BODY")
        return data

    def guarded(view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except BlingError as exc:
                return _validation(exc)

        wrapper.__name__ = f"{resource}_{view.__name__}"
        return wrapper

    def missing() -> Response:
        return error(404, "not_found", "Not found")

    def in_range(record: dict[str, Any], start_key: str, end_key: str, stamp: datetime) -> bool:
        args = request.args
        if args.get(start_key) and stamp < _when(args[start_key], start_key):
            return False
        return not (args.get(end_key) and stamp > _when(args[end_key], end_key))

    def check_range(start_key: str, end_key: str) -> None:
        args = request.args
        if not args.get(start_key):
            return
        start = _when(args[start_key], start_key)
        end = _when(args[end_key], end_key) if args.get(end_key) else datetime.now(BRT)
        if end - start > MAX_RANGE:
            raise BlingError(
                "O intervalo entre as datas não pode ser maior que 1 ano.",
                [_field(start_key, "Intervalo de datas maior que 1 ano")],
            )

    def matches(record: dict[str, Any]) -> bool:
        args = request.args
        meta = store.meta(resource, record["id"]) or {}
        changed = datetime.fromisoformat(meta["updated_at"]) if meta else datetime.now(UTC)
        created = datetime.fromisoformat(meta["created_at"]) if meta else datetime.now(UTC)
        if not in_range(record, "dataAlteracaoInicial", "dataAlteracaoFinal", changed):
            return False
        if not in_range(record, "dataInclusaoInicial", "dataInclusaoFinal", created):
            return False
        if resource == "contatos":
            if args.get("numeroDocumento") and digits(args["numeroDocumento"]) != record["numeroDocumento"]:
                return False
            if args.get("pesquisa"):
                needle = args["pesquisa"].lower()
                haystack = " ".join(
                    str(record.get(k) or "") for k in ("nome", "fantasia", "codigo", "numeroDocumento", "email")
                ).lower()
                if needle not in haystack:
                    return False
        elif resource == "produtos":
            if args.get("nome") and args["nome"].lower() not in record["nome"].lower():
                return False
            codigos = args.getlist("codigos[]")
            if codigos and record["codigo"] not in codigos:
                return False
            ids = args.getlist("idsProdutos[]")
            if ids and record["id"] not in ids:
                return False
        else:
            if args.get("idContato") and str(record["contato"]["id"]) != args["idContato"]:
                return False
            lojas = args.getlist("numerosLojas[]")
            if lojas and record["numeroLoja"] not in lojas:
                return False
            if args.get("dataInicial") and record["data"] < args["dataInicial"]:
                return False
            if args.get("dataFinal") and record["data"] > args["dataFinal"]:
                return False
            situacoes = args.getlist("idsSituacoes[]")
            if situacoes and str(record["situacao"]["id"]) not in situacoes:
                return False
        return True

    @guarded
    def list_records() -> Response:
        args = request.args
        try:
            pagina = int(args.get("pagina", 1))
            limite = int(args.get("limite", cfg.page_size))
        except ValueError:
            raise BlingError("Parâmetros de paginação inválidos.", [_field("pagina", "Valor inválido")]) from None
        if pagina < 1 or not 1 <= limite <= 100:
            raise BlingError("Parâmetros de paginação inválidos.", [_field("limite", "Deve estar entre 1 e 100")])
        check_range("dataAlteracaoInicial", "dataAlteracaoFinal")
        check_range("dataInclusaoInicial", "dataInclusaoFinal")
        records = [r for r in store.list(resource) if matches(r)]
        page = records[(pagina - 1) * limite : pagina * limite]
        return jsonify({"data": [state.row(resource, r) for r in page]})

    @guarded
    def create() -> tuple[Response, int]:
        record = store.create(resource, state.normalize(resource, body()))
        state.emit(resource, "created", record)
        data: dict[str, Any] = {"id": int(record["id"])}
        if resource == "produtos":
            data["warnings"] = []
        if resource == "pedidos_vendas":
            data["alertas"] = []
        return jsonify({"data": data}), 201

    @guarded
    def read(record_id: str) -> Response:
        record = store.get(resource, record_id)
        return jsonify({"data": state.render(resource, record)}) if record else missing()

    @guarded
    def replace(record_id: str) -> Any:
        current = store.get(resource, record_id)
        if current is None:
            return missing()
        fields = state.normalize(resource, body(), current if resource == "pedidos_vendas" else None)
        updated = store.update(resource, record_id, lambda r: {**fields, "id": r["id"]})
        assert updated is not None
        if updated != current:
            state.emit(resource, "updated", updated)
        if resource == "contatos":
            return Response(status=204)
        data: dict[str, Any] = {"id": int(record_id)}
        data["warnings" if resource == "produtos" else "alertas"] = []
        return jsonify({"data": data})

    @guarded
    def patch(record_id: str) -> Any:  # produtos only: partial update
        current = store.get(resource, record_id)
        if current is None:
            return missing()
        fields = state.normalize(resource, body(), current)
        updated = store.update(resource, record_id, lambda r: {**r, **fields})
        if updated != current:
            state.emit(resource, "updated", updated or current)
        return jsonify({"data": {"id": int(record_id), "warnings": []}})

    @guarded
    def delete(record_id: str) -> Response:
        removed = store.delete(resource, record_id)
        if removed is None:
            return missing()
        state.emit(resource, "deleted", removed)
        return Response(status=204)

    @guarded
    def set_situacao(record_id: str) -> Response:
        data = body()
        allowed = ("A", "I", "E", "S") if resource == "contatos" else ("A", "I", "E")
        if data.get("situacao") not in allowed:
            raise BlingError("Situação inválida.", [_field("situacao", "Situação inválida")])
        current = store.get(resource, record_id)
        if current is None:
            return missing()
        updated = store.update(resource, record_id, lambda r: {**r, "situacao": data["situacao"]})
        if updated != current:
            state.emit(resource, "updated", updated or current)
        return Response(status=204)

    @guarded
    def set_venda_situacao(record_id: str, situacao_id: int) -> Response:
        if situacao_id not in SITUACOES:
            raise BlingError("Situação não encontrada.", [_field("idSituacao", "Situação não encontrada")])
        current = store.get(resource, record_id)
        if current is None:
            return missing()
        valor = SITUACOES[situacao_id][1]
        updated = store.update(resource, record_id, lambda r: {**r, "situacao": {"id": situacao_id, "valor": valor}})
        if updated != current:
            state.emit(resource, "updated", updated or current)
        return Response(status=204)

    item = f"{base}/<{id_name}>"
    app.add_url_rule(base, f"{resource}_list", list_records, methods=["GET"])
    app.add_url_rule(base, f"{resource}_create", create, methods=["POST"])
    app.add_url_rule(item, f"{resource}_read", lambda **kw: read(kw[id_name]), methods=["GET"])
    app.add_url_rule(item, f"{resource}_replace", lambda **kw: replace(kw[id_name]), methods=["PUT"])
    app.add_url_rule(item, f"{resource}_delete", lambda **kw: delete(kw[id_name]), methods=["DELETE"])
    if resource == "produtos":
        app.add_url_rule(item, f"{resource}_patch", lambda **kw: patch(kw[id_name]), methods=["PATCH"])
    if resource in ("contatos", "produtos"):
        app.add_url_rule(
            f"{item}/situacoes", f"{resource}_situacao", lambda **kw: set_situacao(kw[id_name]), methods=["PATCH"]
        )
    else:
        app.add_url_rule(
            f"{item}/situacoes/<int:idSituacao>",
            f"{resource}_situacao",
            lambda **kw: set_venda_situacao(kw[id_name], kw["idSituacao"]),
            methods=["PATCH"],
        )
