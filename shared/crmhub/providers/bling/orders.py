"""Bling ``/pedidos/vendas`` ⇄ canonical :class:`~crmhub.models.Sale`.

Fields (API v3 spec, ``VendasDadosBaseDTO`` + ``VendasDadosDTO``): ``numeroLoja``,
``data``/``dataSaida``/``dataPrevista``, ``contato{id}``, ``itens[{produto{id},
quantidade, valor, descricao, desconto}]``, ``parcelas``, ``observacoes``,
``observacoesInternas``, ``total``, ``situacao{id, valor}``.

``numeroLoja`` ("the order's number in the shop") carries the ERP's (local) sale id: that
is what the ERP is to Bling, and the list can be filtered by it (``numerosLojas[]``), so
a sale created before a crash is found again. Canonical fields without a slot go to
``observacoesInternas`` after a marker.

Statuses: Bling's ``situacao`` ids are per account. Writes use the ids of a new account's
defaults (Em aberto 6, Atendido 9, Cancelado 12), overridable per connection; reads use
``situacao.valor`` (0 open, 1 served, 2 cancelled, 3 in progress…).  # [?] community-documented
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from crmhub.models.common import Entity
from crmhub.models.sale import Sale
from crmhub.providers.base import References
from crmhub.providers.bling.products import money
from crmhub.providers.gestaoclick.common import overflow_notes, split_overflow, text

RESOURCE = "/pedidos/vendas"

DEFAULT_SITUACOES: dict[str, int] = {"open": 6, "confirmed": 9, "cancelled": 12}  # [?] ids of a new account
VALOR_TO_STATUS: dict[int, str] = {0: "open", 1: "confirmed", 2: "cancelled", 3: "open"}  # [?] community

_MAPPED = {"id", "customer_id", "date", "status", "items", "total", "notes", "updated_at", "version", "active"}
_ITEM_EXTRAS = {"desconto": "discount", "codigo": "code", "unidade": "unit", "descricao": "description"}


def _number(value: Decimal) -> float | int:
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def item_description(item: Any) -> str | None:
    """A description the ERP sent with an item, if any (``description`` or ``name``)."""
    extras = item.model_extra or {}
    return text(extras.get("description")) or text(extras.get("name"))


def to_provider(sale: Sale, refs: References, descriptions: Mapping[str, str]) -> dict[str, Any]:
    """Canonical → Bling pedido de venda payload. ``descriptions`` gives each product's
    description by *local* product id for items that carry none (the spec requires one)."""
    extra = {k: v for k, v in sale.model_dump(mode="json").items() if k not in _MAPPED and v is not None}
    if not sale.active:
        extra["active"] = False
    itens = []
    for item in sale.items:
        extras = item.model_extra or {}
        line: dict[str, Any] = {
            "produto": {"id": int(refs.external(Entity.PRODUCT, item.product_id))},
            "quantidade": _number(item.quantity),
            "valor": _number(item.unit_price),
            "descricao": item_description(item) or descriptions.get(item.product_id) or item.product_id,
        }
        if extras.get("discount") is not None:
            line["desconto"] = float(extras["discount"])
        if text(extras.get("code")):
            line["codigo"] = text(extras.get("code"))
        if text(extras.get("unit")):
            line["unidade"] = text(extras.get("unit"))
        itens.append(line)
    day = sale.date.isoformat()
    return {
        "numeroLoja": sale.id or "",
        "data": day,
        "dataSaida": day,
        "dataPrevista": day,
        "contato": {"id": int(refs.external(Entity.CUSTOMER, sale.customer_id))},
        "itens": itens,
        "parcelas": [],  # Bling derives the payment terms  # [?] unverified that [] is accepted
        "observacoes": sale.notes or "",
        "observacoesInternas": overflow_notes(None, extra),
    }


def from_provider(raw: Mapping[str, Any]) -> Sale:
    """Bling pedido (``GET /pedidos/vendas/{id}`` body) → canonical; ids stay Bling's."""
    _, extra = split_overflow(raw.get("observacoesInternas") or None)
    items = []
    for line in raw.get("itens") or []:
        item: dict[str, Any] = {
            "product_id": str((line.get("produto") or {}).get("id") or line.get("codigo") or ""),
            "quantity": Decimal(str(line.get("quantidade") or 1)),
            "unit_price": money(line.get("valor")) or Decimal("0.00"),
        }
        for bling_name, canonical in _ITEM_EXTRAS.items():
            if line.get(bling_name) not in (None, "", 0):
                item[canonical] = line[bling_name]
        items.append(item)
    situacao = raw.get("situacao") or {}
    valor = situacao.get("valor")
    status = VALOR_TO_STATUS.get(valor) if isinstance(valor, int) else None
    if situacao and status is None:
        extra["bling_situacao"] = situacao
    total = money(raw.get("total"))
    computed = sum((i["quantity"] * i["unit_price"] for i in items), Decimal("0"))
    if items and total is not None and abs(total - computed) > Decimal("0.01"):
        extra["provider_total"] = str(total)  # freight/discounts: Bling's total is not the items' sum
        total = None
    active = extra.pop("active", True)
    return Sale.model_validate(
        {
            **extra,
            "id": str(raw["id"]) if raw.get("id") is not None else None,
            "customer_id": str((raw.get("contato") or {}).get("id") or ""),
            "date": text(raw.get("data")),
            "status": status or "open",
            "items": items,
            "total": total,
            "notes": text(raw.get("observacoes")),
            "active": active,
        }
    )


def search_params(sale: Sale, refs: References) -> list[dict[str, Any]]:
    """List filters: the shop number (our id), then the customer's sales of that day."""
    searches: list[dict[str, Any]] = []
    if sale.id:
        searches.append({"numerosLojas[]": [sale.id]})
    try:
        contact = refs.external(Entity.CUSTOMER, sale.customer_id)
    except KeyError:
        return searches
    day = sale.date.isoformat()
    searches.append({"idContato": contact, "dataInicial": day, "dataFinal": day})
    return searches


def same_record(row: Mapping[str, Any], sale: Sale) -> bool:
    """Whether a list row is this sale (its ``numeroLoja`` is the sale's local id)."""
    return bool(sale.id) and text(row.get("numeroLoja")) == sale.id
