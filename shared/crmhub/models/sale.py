"""Canonical sale, with items. Customer and product ids are the ERP's (local) ids; the
worker resolves them to the provider's ids through the entity links."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crmhub.models.base import CanonicalRecord


class SaleItem(BaseModel):
    """One line of a sale."""

    model_config = ConfigDict(extra="allow")

    product_id: str = Field(min_length=1)
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)

    @property
    def subtotal(self) -> Decimal:
        """quantity × unit price."""
        return self.quantity * self.unit_price


class Sale(CanonicalRecord):
    """A sale (order) of a customer."""

    customer_id: str = Field(min_length=1)
    date: date
    status: Literal["open", "confirmed", "cancelled"] = "open"
    items: list[SaleItem] = Field(default_factory=list)
    total: Decimal | None = Field(default=None, ge=0)
    notes: str | None = None

    @model_validator(mode="after")
    def _total(self) -> Sale:
        computed = sum((item.subtotal for item in self.items), Decimal("0"))
        if self.total is None:
            self.total = computed
        elif self.items and abs(self.total - computed) > Decimal("0.01"):
            raise ValueError(f"total {self.total} does not match the items' sum {computed}")
        return self
