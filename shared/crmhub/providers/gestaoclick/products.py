"""GestãoClick ``/produtos`` ⇄ canonical :class:`~crmhub.models.Product` ([?] field names
community-documented: ``nome``, ``codigo_interno``, ``valor_venda``, ``valor_custo``,
``estoque``, ``ativo``, ``descricao``)."""

from __future__ import annotations

from typing import Any

from crmhub.models.base import CanonicalRecord
from crmhub.models.product import Product
from crmhub.providers.gestaoclick.common import decimal, flag, money, text, timestamp

RESOURCE = "/produtos"


def to_provider(product: Product) -> dict[str, Any]:
    """Canonical → GestãoClick payload."""
    payload: dict[str, Any] = {
        "nome": product.name,
        "codigo_interno": product.sku or "",
        "descricao": product.description or "",
        "valor_venda": money(product.price),
        "ativo": flag(product.active),
    }
    if product.cost is not None:
        payload["valor_custo"] = money(product.cost)
    if product.stock is not None:
        payload["estoque"] = str(product.stock)
    if product.unit:
        payload["unidade"] = product.unit
    return payload


def from_provider(raw: dict[str, Any]) -> Product:
    """GestãoClick record → canonical."""
    return Product.model_validate(
        {
            "id": str(raw.get("id")) if raw.get("id") is not None else None,
            "updated_at": timestamp(raw.get("modificado_em")),
            "sku": text(raw.get("codigo_interno")),
            "name": text(raw.get("nome")) or "(sem nome)",
            "description": text(raw.get("descricao")),
            "price": decimal(raw.get("valor_venda")) or 0,
            "cost": decimal(raw.get("valor_custo")),
            "stock": decimal(raw.get("estoque")),
            "unit": text(raw.get("unidade")),
            "active": raw.get("ativo") in ("1", 1, True, "true"),
        }
    )


def search_params(product: Product) -> list[dict[str, str]]:
    """Natural-key searches: SKU (internal code), then exact name."""
    searches = []
    if product.sku:
        searches.append({"codigo": product.sku})
    searches.append({"nome": product.name})
    return searches


def same_record(raw: dict[str, Any], candidate: CanonicalRecord, product: Product) -> bool:
    """Whether a search hit is really this product."""
    if not isinstance(candidate, Product):
        return False
    if product.sku:
        return candidate.sku == product.sku
    return candidate.name == product.name
