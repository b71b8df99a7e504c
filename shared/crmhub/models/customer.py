"""Canonical customer (PF person or PJ company)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmhub.models.base import CanonicalRecord
from crmhub.models.documents import digits, document_kind, normalise_document, normalise_email, normalise_phone


class Address(BaseModel):
    """A Brazilian postal address."""

    model_config = ConfigDict(str_strip_whitespace=True)

    street: str | None = None
    number: str | None = None
    complement: str | None = None
    district: str | None = None
    city: str | None = None
    state: str | None = Field(default=None, description="UF, two letters.")
    zip: str | None = Field(default=None, description="CEP, 8 digits.")

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.upper()
        if len(value) != 2 or not value.isalpha():
            raise ValueError("state must be a two-letter UF such as SP")
        return value

    @field_validator("zip")
    @classmethod
    def _zip(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        number = digits(value)
        if len(number) != 8:
            raise ValueError("zip (CEP) must have 8 digits")
        return number


class Customer(CanonicalRecord):
    """A customer. ``document`` is a CPF (PF) or CNPJ (PJ), kept as digits only."""

    person_type: Literal["PF", "PJ"] | None = None
    name: str = Field(min_length=1, max_length=200)
    trade_name: str | None = None
    email: str | None = None
    phones: list[str] = Field(default_factory=list)
    document: str | None = None
    birth_date: date | None = None
    address: Address | None = None
    notes: str | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> object:
        if isinstance(value, str):
            return normalise_email(value) if value.strip() else None
        return value

    @field_validator("document", mode="before")
    @classmethod
    def _document(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return normalise_document(str(value))

    @field_validator("phones", mode="before")
    @classmethod
    def _phones(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("phones must be a list of phone numbers")
        normalised: list[str] = []
        for phone in value:
            if phone is None or not str(phone).strip():
                continue
            e164 = normalise_phone(str(phone))
            if e164 not in normalised:
                normalised.append(e164)
        return normalised

    @model_validator(mode="after")
    def _person_type(self) -> Customer:
        if self.document:
            kind: Literal["PF", "PJ"] = document_kind(self.document)
            if self.person_type and self.person_type != kind:
                raise ValueError(f"person_type {self.person_type} does not match a {kind} document")
            self.person_type = kind
        elif self.person_type is None:
            self.person_type = "PF"
        return self
