"""Bling ``/produtos`` ⇄ canonical :class:`~crmhub.models.Product`.

Fields (API v3 spec, ``ProdutosDadosDTO``): ``nome`` (≤120), ``codigo`` (the SKU),
``preco``, ``tipo`` (P/S/N), ``situacao`` (A/I), ``formato`` (S simple), ``descricaoCurta``,
``unidade``, ``observacoes``, ``estoque.saldoVirtualTotal`` (read), ``fornecedor.precoCusto``
(read-only in the spec; list rows carry ``precoCusto``). Stock is not written: Bling moves
stock through its own stock endpoints. Canonical fields without a writable slot (the cost
included) travel in ``observacoes`` after a marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from crmhub.models.product import Product
from crmhub.observability import logger
from crmhub.providers.gestaoclick.common import overflow_notes, split_overflow, text

RESOURCE = "/produtos"

_MAPPED = {"id", "sku", "name", "description", "price", "stock", "unit", "active", "updated_at", "version"}


def _number(value: Decimal) -> float | int:
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Any) -> Decimal | None:
    """An amount with at least two decimals (``2.5`` → ``2.50``, like the ERP's)."""
    amount = _decimal(value)
    exponent = amount.as_tuple().exponent if amount is not None else 0
    if amount is not None and isinstance(exponent, int) and exponent > -2:
        return amount.quantize(Decimal("0.01"))
    return amount


def to_provider(product: Product, *, quiet: bool = False) -> dict[str, Any]:
    """Canonical → Bling produto payload (POST body, or PATCH body for updates)."""
    extra = {k: v for k, v in product.model_dump(mode="json").items() if k not in _MAPPED and v is not None}
    payload: dict[str, Any] = {
        "nome": product.name[:120],
        "codigo": product.sku or "",
        "preco": _number(product.price),
        "tipo": "P",
        "situacao": "A" if product.active else "I",
        "formato": "S",
        "descricaoCurta": product.description or "",
        "unidade": product.unit or "",
        "observacoes": overflow_notes(None, extra),
    }
    if len(product.name) > 120:
        payload["observacoes"] = overflow_notes(None, {**extra, "name": product.name})
    if product.stock is not None and not quiet:
        logger.warning("bling_unmapped_fields", extra={"bling_entity": "produto", "fields": ["stock"]})
    return payload


def from_provider(raw: Mapping[str, Any]) -> Product:
    """Bling produto (a ``GET /produtos/{id}`` body or a list row) → canonical."""
    _, extra = split_overflow(raw.get("observacoes") or None)
    long_name = extra.pop("name", None)  # a name longer than Bling's 120 characters
    carried = money(extra.pop("cost", None))
    cost = money(raw.get("precoCusto")) or money((raw.get("fornecedor") or {}).get("precoCusto")) or carried
    stock = _decimal((raw.get("estoque") or {}).get("saldoVirtualTotal"))
    return Product.model_validate(
        {
            **extra,
            "id": str(raw["id"]) if raw.get("id") is not None else None,
            "sku": text(raw.get("codigo")),
            "name": long_name or text(raw.get("nome")) or "(sem nome)",
            "description": text(raw.get("descricaoCurta")),
            "price": money(raw.get("preco")) or Decimal("0.00"),
            "cost": cost if cost else None,
            "stock": stock,
            "unit": text(raw.get("unidade")),
            "active": text(raw.get("situacao")) in (None, "A"),
        }
    )


def search_params(product: Product) -> list[dict[str, Any]]:
    """List filters: the SKU (``codigos[]``), then the name."""
    searches: list[dict[str, Any]] = []
    if product.sku:
        searches.append({"codigos[]": [product.sku]})
    searches.append({"nome": product.name})
    return searches


def same_record(row: Mapping[str, Any], product: Product) -> bool:
    """Whether a list row is this product: same SKU, else (no SKU) the same name."""
    if product.sku:
        return text(row.get("codigo")) == product.sku
    return text(row.get("nome")) == product.name
