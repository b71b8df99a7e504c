"""Pipedrive ``/deals`` + ``/deals/{id}/products`` ⇄ canonical :class:`~crmhub.models.Sale`.

A sale is a deal (API v2, official spec): ``title``, ``value``/``currency`` (the total),
``status`` (open → ``open``, confirmed → ``won``, cancelled → ``lost``),
``expected_close_date`` (the sale's date), ``person_id`` or ``org_id`` (the customer: see
the external-id convention in :mod:`~crmhub.providers.pipedrive.organizations`). Its items
are the deal's **products** (``POST/PATCH/DELETE /deals/{id}/products``: ``product_id``,
``item_price``, ``quantity``, ``discount``…). Notes and the hub's id go to deal custom
fields mapped per connection (``credentials["custom_fields"]["deal"]``).

The title is the sale's own ``title`` field when the ERP sends one, else
``"Venda <local id>"``, so a deal created by the hub is recognisable (and findable) even
without a ``hub_id`` custom field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from crmhub.models.common import Entity
from crmhub.models.sale import Sale
from crmhub.providers.base import References
from crmhub.providers.pipedrive.organizations import external_id as org_external_id
from crmhub.providers.pipedrive.organizations import org_id_of
from crmhub.providers.pipedrive.persons import (
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

RESOURCE = "/deals"
SEARCH = "/deals/search"

STATUS_TO_PD = {"open": "open", "confirmed": "won", "cancelled": "lost"}
STATUS_FROM_PD = {v: k for k, v in STATUS_TO_PD.items()}
# Item fields Pipedrive keeps per deal product beside product/price/quantity.
ITEM_EXTRAS = ("discount", "discount_type", "tax", "tax_method", "comments")
_DEFAULT_TITLE = re.compile(r"Venda [A-Za-z0-9_.:\-]{1,64}")
_NATIVE = {"id", "customer_id", "date", "status", "items", "total", "updated_at", "version", "title", "currency"}


def default_title(sale: Sale) -> str:
    """The title of a deal the hub creates for a sale without its own title."""
    return f"Venda {sale.id}"


def customer_ref(external: str) -> dict[str, int]:
    """``person_id`` or ``org_id`` of a customer's external id."""
    org_id = org_id_of(external)
    return {"org_id": org_id} if org_id is not None else {"person_id": int(external)}


def customer_of(raw: Mapping[str, Any]) -> str | None:
    """The external id of a deal's (or activity's) customer: its organization, else person."""
    if raw.get("org_id"):
        return org_external_id(raw["org_id"])
    if raw.get("person_id"):
        return str(raw["person_id"])
    return None


def to_provider(
    sale: Sale, refs: References, fields: FieldMap, currency: str, *, quiet: bool = False
) -> dict[str, Any]:
    """Canonical → deal payload (without its products: see :func:`items_to_provider`)."""
    data = sale.model_dump(mode="json")
    values = {k: v for k, v in data.items() if k not in _NATIVE and k != "active"}
    values[HUB_ID] = sale.id
    payload: dict[str, Any] = {
        "title": text(data.get("title")) or default_title(sale),
        "value": number(sale.total),
        "currency": text(data.get("currency")) or currency,
        "status": STATUS_TO_PD[sale.status],
        "expected_close_date": sale.date.isoformat(),
        **customer_ref(refs.external(Entity.CUSTOMER, sale.customer_id)),
    }
    if sale.status == "cancelled":
        payload["lost_reason"] = text(data.get("lost_reason")) or "Cancelada"
    values.pop("lost_reason", None)
    custom, unmapped = pack_custom_fields(values, fields)
    if not quiet:
        log_unmapped("deal", [n for n in unmapped if n != HUB_ID])
    if custom:
        payload["custom_fields"] = custom
    return payload


def items_to_provider(sale: Sale, refs: References) -> list[dict[str, Any]]:
    """The sale's items as deal-product payloads, in order."""
    items = []
    for item in sale.items:
        extras = item.model_extra or {}
        payload: dict[str, Any] = {
            "product_id": int(refs.external(Entity.PRODUCT, item.product_id)),
            "item_price": number(item.unit_price),
            "quantity": number(item.quantity),
        }
        payload.update({k: extras[k] for k in ITEM_EXTRAS if extras.get(k) is not None})
        items.append(payload)
    return items


def from_provider(
    raw: Mapping[str, Any], products: Sequence[Mapping[str, Any]], fields: FieldMap, currency: str
) -> Sale:
    """Deal + its products → canonical sale. Ids inside stay Pipedrive's ids."""
    values = unpack_custom_fields(raw.get("custom_fields"), fields)
    local_id = values.pop(HUB_ID, None)
    items = []
    for product in sorted(products, key=lambda p: (p.get("order_nr") or 0, p.get("id") or 0)):
        item: dict[str, Any] = {
            "product_id": str(product.get("product_id")),
            "quantity": Decimal(str(product.get("quantity") or 1)),
            "unit_price": money(product.get("item_price")) or Decimal("0.00"),
        }
        item.update({k: product[k] for k in ITEM_EXTRAS if product.get(k) not in (None, "", 0)})
        if "discount" not in item:
            item.pop("discount_type", None)  # Pipedrive's defaults, not sale data
        if "tax" not in item:
            item.pop("tax_method", None)
        items.append(item)
    value = money(raw.get("value"))
    computed = sum((i["quantity"] * i["unit_price"] for i in items), Decimal("0"))
    total: Decimal | None = value
    if items and value is not None and abs(value - computed) > Decimal("0.01"):
        total = None  # discounts/taxes make Pipedrive's value differ from the plain sum
        values["deal_value"] = str(value)
    title = text(raw.get("title"))
    generated = title == f"Venda {local_id}" if local_id else bool(title and _DEFAULT_TITLE.fullmatch(title))
    if title and not generated:
        values["title"] = title
    if raw.get("currency") and raw.get("currency") != currency:
        values["currency"] = raw["currency"]
    if raw.get("status") == "lost" and text(raw.get("lost_reason")) not in (None, "Cancelada"):
        values["lost_reason"] = raw["lost_reason"]
    date = text(raw.get("expected_close_date")) or (text(raw.get("add_time")) or "")[:10] or None
    return Sale.model_validate(
        {
            **values,
            "id": str(raw["id"]) if raw.get("id") is not None else None,
            "customer_id": customer_of(raw) or "",
            "date": date,
            "status": STATUS_FROM_PD.get(str(raw.get("status")), "open"),
            "items": items,
            "total": total,
            "updated_at": timestamp(raw.get("update_time")),
        }
    )


def plan_items(
    current: Sequence[Mapping[str, Any]], wanted: list[dict[str, Any]]
) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]], list[int]]:
    """How to turn the deal's products into ``wanted`` with the fewest calls: position by
    position, PATCH the ones that differ, POST the extra ones, DELETE the leftovers.
    Returns (patches as (attachment id, payload), posts, attachment ids to delete)."""
    ordered = sorted(current, key=lambda p: (p.get("order_nr") or 0, p.get("id") or 0))
    patches, posts, deletes = [], [], []
    for index, payload in enumerate(wanted):
        if index < len(ordered):
            existing = ordered[index]
            if any(_differs(existing.get(k), v) for k, v in payload.items()):
                patches.append((int(existing["id"]), payload))
        else:
            posts.append(payload)
    deletes = [int(p["id"]) for p in ordered[len(wanted) :]]
    return patches, posts, deletes


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        try:
            return abs(float(current) - float(wanted)) > 1e-9
        except (TypeError, ValueError):
            return True
    return current != wanted


def search_params(sale: Sale, refs: References, fields: FieldMap) -> list[dict[str, str]]:
    """``/deals/search`` queries: the hub's id (custom field) when mapped, else the title,
    restricted to the sale's customer."""
    customer = customer_ref(refs.external(Entity.CUSTOMER, sale.customer_id))
    scope = (
        {"person_id": str(customer["person_id"])}
        if "person_id" in customer
        else {"organization_id": str(customer["org_id"])}
    )
    if sale.id and HUB_ID in fields:
        return [{"term": sale.id, "fields": "custom_fields", "exact_match": "true", **scope}]
    title = text((sale.model_extra or {}).get("title")) or default_title(sale)
    return [{"term": title, "fields": "title", "exact_match": "true", **scope}]


def same_record(raw: Mapping[str, Any], sale: Sale, fields: FieldMap) -> bool:
    """Whether a deal is this sale: the hub's id custom field, else the default title."""
    if HUB_ID in fields:
        marked = text((raw.get("custom_fields") or {}).get(fields[HUB_ID]))
        if marked is not None:
            return marked == sale.id
    title = text((sale.model_extra or {}).get("title")) or default_title(sale)
    return text(raw.get("title")) == title
