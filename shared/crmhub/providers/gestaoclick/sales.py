"""GestãoClick ``/vendas`` ⇄ canonical :class:`~crmhub.models.Sale` ([?] field names
community-documented: ``cliente_id``, ``data``, ``nome_situacao``, ``valor_total``,
``observacoes``, ``produtos: [{produto: {produto_id, quantidade, valor_venda}}]``).

A sale has no natural key, so its notes carry a marker ``[crmhub:<local id>]``: after a
crash between create and link, the retry finds the sale by that marker.
"""

from __future__ import annotations

import re
from typing import Any

from crmhub.models.common import Entity
from crmhub.models.sale import Sale
from crmhub.providers.base import References
from crmhub.providers.gestaoclick.common import decimal, money, text, timestamp

RESOURCE = "/vendas"
# Sale statuses are configured per GestãoClick account (``situacao_id``); these are the
# defaults of a new account. [?] unverified: a connection with other ids must map them.
_STATUS_TO_GC = {"open": "1", "confirmed": "2", "cancelled": "3"}
_STATUS_FROM_GC = {v: k for k, v in _STATUS_TO_GC.items()}
_MARKER = re.compile(r"\[crmhub:([A-Za-z0-9_.:\-]+)\]")


def status_id(status: str) -> str:
    """GestãoClick's ``situacao_id`` of a canonical sale status."""
    return _STATUS_TO_GC[status]


def marker(local_id: str) -> str:
    """The notes marker of a sale created by the hub."""
    return f"[crmhub:{local_id}]"


def to_provider(sale: Sale, refs: References) -> dict[str, Any]:
    """Canonical → GestãoClick payload; customer/product ids resolved through ``refs``."""
    notes = (sale.notes or "").strip()
    return {
        "cliente_id": refs.external(Entity.CUSTOMER, sale.customer_id),
        "data": sale.date.isoformat(),
        "situacao_id": _STATUS_TO_GC[sale.status],
        "valor_total": money(sale.total),
        "observacoes": f"{notes}\n{marker(sale.id or '')}".strip(),
        "produtos": [
            {
                "produto": {
                    "produto_id": refs.external(Entity.PRODUCT, item.product_id),
                    "quantidade": f"{item.quantity:.2f}",
                    "valor_venda": money(item.unit_price),
                }
            }
            for item in sale.items
        ],
    }


def from_provider(raw: dict[str, Any]) -> Sale:
    """GestãoClick record → canonical. Ids inside stay the provider's ids; the importer
    maps them to local ids through the links."""
    notes = text(raw.get("observacoes")) or ""
    items = []
    for wrapper in raw.get("produtos") or []:
        p = (wrapper or {}).get("produto") or {}
        items.append(
            {
                "product_id": str(p.get("produto_id")),
                "quantity": decimal(p.get("quantidade")) or 1,
                "unit_price": decimal(p.get("valor_venda")) or 0,
            }
        )
    return Sale.model_validate(
        {
            "id": str(raw.get("id")) if raw.get("id") is not None else None,
            "updated_at": timestamp(raw.get("modificado_em")),
            "customer_id": str(raw.get("cliente_id")),
            "date": (text(raw.get("data")) or "")[:10] or None,
            "status": _STATUS_FROM_GC.get(text(raw.get("situacao_id")) or "", "open"),
            "items": items,
            "total": decimal(raw.get("valor_total")),
            "notes": _MARKER.sub("", notes).strip() or None,
        }
    )


def marker_local_id(raw: dict[str, Any]) -> str | None:
    """The local id in a sale's marker, if the hub created it."""
    found = _MARKER.search(text(raw.get("observacoes")) or "")
    return found.group(1) if found else None


def search_params(sale: Sale, refs: References) -> list[dict[str, str]]:
    """Sales of the customer on the sale's date (then matched by marker)."""
    return [
        {
            "cliente_id": refs.external(Entity.CUSTOMER, sale.customer_id),
            "data_inicio": sale.date.isoformat(),
            "data_fim": sale.date.isoformat(),
        }
    ]
