"""Canonical product."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from crmhub.models.base import CanonicalRecord


class Product(CanonicalRecord):
    """A product or service the store sells. Money is ``Decimal`` (never float)."""

    sku: str | None = Field(default=None, max_length=60)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    price: Decimal = Field(default=Decimal("0"), ge=0, decimal_places=4)
    cost: Decimal | None = Field(default=None, ge=0, decimal_places=4)
    stock: Decimal | None = None
    unit: str | None = Field(default=None, max_length=10)
