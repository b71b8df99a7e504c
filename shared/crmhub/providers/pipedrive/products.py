"""Pipedrive ``/products`` ⇄ canonical :class:`~crmhub.models.Product`.

Native slots (API v2, official spec): ``name``, ``code`` (the SKU), ``description``,
``unit``, ``prices[{price, currency, cost}]``, ``is_deleted``. Stock, the active flag and
the hub's id go to custom fields mapped per connection
(``credentials["custom_fields"]["product"]``). Products have no ``updated_since`` filter:
incremental imports list them by ``update_time`` descending (see the client).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from crmhub.models.product import Product
from crmhub.providers.pipedrive.persons import (
    ACTIVE,
    HUB_ID,
    FieldMap,
    log_unmapped,
    money,
    number,
    pack_custom_fields,
    text,
    timestamp,
    unpack_custom_fields,
)

RESOURCE = "/products"
SEARCH = "/products/search"

_NATIVE = {"id", "sku", "name", "description", "price", "cost", "unit", "updated_at", "version"}


def to_provider(product: Product, fields: FieldMap, currency: str, *, quiet: bool = False) -> dict[str, Any]:
    """Canonical → Pipedrive product payload (create or PATCH)."""
    data = product.model_dump(mode="json")
    values = {k: v for k, v in data.items() if k not in _NATIVE}
    if product.active and ACTIVE not in fields:
        values.pop(ACTIVE, None)
    values[HUB_ID] = product.id
    price: dict[str, Any] = {"price": number(product.price), "currency": currency}
    if product.cost is not None:
        price["cost"] = number(product.cost)
    payload: dict[str, Any] = {
        "name": product.name,
        "code": product.sku or "",
        "description": product.description or "",
        "prices": [price],
    }
    if product.unit:
        payload["unit"] = product.unit
    custom, unmapped = pack_custom_fields(values, fields)
    if not quiet:
        log_unmapped("product", [n for n in unmapped if n != HUB_ID])
    if custom:
        payload["custom_fields"] = custom
    return payload


def _price(raw: Mapping[str, Any], currency: str) -> Mapping[str, Any]:
    prices = [p for p in raw.get("prices") or [] if isinstance(p, dict)]
    for price in prices:
        if price.get("currency") == currency:
            return price
    return prices[0] if prices else {}


def from_provider(raw: Mapping[str, Any], fields: FieldMap, currency: str) -> Product:
    """Pipedrive product → canonical (deleted products come back inactive)."""
    values = unpack_custom_fields(raw.get("custom_fields"), fields)
    values.pop(HUB_ID, None)
    price = _price(raw, currency)
    if price.get("currency") and price.get("currency") != currency:
        values["currency"] = price["currency"]
    active = bool(values.pop(ACTIVE, True)) and not raw.get("is_deleted")
    return Product.model_validate(
        {
            **values,
            "id": str(raw["id"]).removesuffix(".0") if raw.get("id") is not None else None,
            "sku": text(raw.get("code")),
            "name": text(raw.get("name")) or "(sem nome)",
            "description": text(raw.get("description")),
            "price": money(price.get("price")) or Decimal("0.00"),
            "cost": money(price.get("cost")) or None,  # 0 is Pipedrive's "no cost"
            "unit": text(raw.get("unit")),
            "active": active,
            "updated_at": timestamp(raw.get("update_time")),
        }
    )


def search_params(product: Product, fields: FieldMap) -> list[dict[str, str]]:
    """``/products/search`` queries: the SKU (code), the hub's id, then the exact name."""
    searches = []
    if product.sku:
        searches.append({"term": product.sku, "fields": "code", "exact_match": "true"})
    if product.id and HUB_ID in fields:
        searches.append({"term": product.id, "fields": "custom_fields", "exact_match": "true"})
    searches.append({"term": product.name, "fields": "name", "exact_match": "true"})
    return searches


def same_record(raw: Mapping[str, Any], candidate: Product, product: Product, fields: FieldMap) -> bool:
    """Whether a search hit is this product: the hub's id, else SKU, else name."""
    marked = text((raw.get("custom_fields") or {}).get(fields[HUB_ID])) if HUB_ID in fields else None
    if marked is not None:
        return marked == product.id
    if product.sku:
        return candidate.sku == product.sku
    return candidate.name == product.name
