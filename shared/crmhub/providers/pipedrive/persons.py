"""Pipedrive ``/persons`` ⇄ canonical :class:`~crmhub.models.Customer` (PF customers), plus
the custom-field helpers every Pipedrive transform shares.

Native slots (API v2, official spec): ``name``, ``emails[{value, primary, label}]``,
``phones[…]``, ``org_id``. Canonical fields without a native slot (CPF, birth date,
address, notes, the hub's own id…) go to **custom fields** whose keys — Pipedrive's
40-character hashes, different in every account — the connection maps by canonical name
(``credentials["custom_fields"]["person"] = {"document": "<hash>", "extra": "<hash>", …}``).
A value whose name is not mapped goes, as JSON, into the ``extra`` custom field; with no
``extra`` field either it cannot be stored and its *name* is logged (never its value).

A person linked to an organization is the contact of a PJ customer (see
:mod:`~crmhub.providers.pipedrive.organizations`); only persons without an organization are
PF customers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from email_validator import EmailNotValidError, validate_email

from crmhub.models.customer import Customer
from crmhub.models.documents import normalise_document, normalise_phone
from crmhub.observability import logger

RESOURCE = "/persons"
SEARCH = "/persons/search"

FieldMap = Mapping[str, str]  # canonical field name → Pipedrive custom-field key
EXTRA = "extra"  # map entry of the JSON overflow field
HUB_ID = "hub_id"  # map entry of the field holding the hub's (ERP's) id of the record
ACTIVE = "active"

# Canonical fields a person carries natively (everything else is custom or overflow).
_NATIVE = {"id", "name", "email", "phones", "updated_at", "version", "person_type"}


# --------------------------------------------------------------------------- custom fields


def _scalar(value: Any) -> Any:
    """A value as Pipedrive text/date custom fields take it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def pack_custom_fields(values: Mapping[str, Any], fields: FieldMap) -> tuple[dict[str, Any], list[str]]:
    """Canonical values without a native slot → a ``custom_fields`` payload.

    Mapped names go to their own field (None clears it); the rest go, as one JSON object,
    to the ``extra`` field when mapped. Returns the payload and the names that fit nowhere.
    """
    custom: dict[str, Any] = {}
    overflow: dict[str, Any] = {}
    for name, value in values.items():
        if name in fields and name != EXTRA:
            custom[fields[name]] = None if _empty(value) else _scalar(value)
        elif not _empty(value):
            overflow[name] = value
    if EXTRA in fields:
        custom[fields[EXTRA]] = (
            json.dumps(overflow, sort_keys=True, ensure_ascii=False, default=str) if overflow else None
        )
        return custom, []
    return custom, sorted(overflow)


def unpack_custom_fields(custom: Mapping[str, Any] | None, fields: FieldMap) -> dict[str, Any]:
    """Inverse of :func:`pack_custom_fields`: canonical values found in ``custom_fields``."""
    custom = custom or {}
    values: dict[str, Any] = {}
    raw_extra = custom.get(fields[EXTRA]) if EXTRA in fields else None
    if isinstance(raw_extra, str) and raw_extra.strip():
        try:
            parsed = json.loads(raw_extra)
        except ValueError:
            parsed = {"extra_text": raw_extra}  # a human edited it: keep the text
        if isinstance(parsed, dict):
            values.update(parsed)
    for name, key in fields.items():
        if name == EXTRA:
            continue
        value = custom.get(key)
        if isinstance(value, dict) and "value" in value:  # monetary/option fields are objects
            value = value["value"]
        if not _empty(value):
            values[name] = value
    if ACTIVE in values:
        values[ACTIVE] = str(values[ACTIVE]).strip().lower() in ("true", "1", "yes", "sim")
    return values


def log_unmapped(entity: str, names: list[str]) -> None:
    """Say (by name only) which canonical fields the connection has no place for."""
    if names:
        logger.warning("pipedrive_unmapped_fields", extra={"pipedrive_entity": entity, "fields": names})


def text(value: Any) -> str | None:
    """A non-empty stripped string, or None."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def number(value: Any) -> float | int | None:
    """A Decimal/str amount as a JSON number (integers stay integers)."""
    if value is None:
        return None
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def money(value: Any) -> Decimal | None:
    """An amount as a Decimal with at least two decimals (``2.5`` → ``2.50``, like the ERP's)."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    exponent = amount.as_tuple().exponent
    return amount.quantize(Decimal("0.01")) if isinstance(exponent, int) and exponent > -2 else amount


def timestamp(value: Any) -> datetime | None:
    """Pipedrive's RFC 3339 times (``2021-01-01T00:00:00Z``) → aware datetime."""
    raw = text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------- contact data


def valid_contacts(emails: list[str], phones: list[str], document: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split inbound e-mails/phones/document into what the canonical model accepts and, as
    extras, what it would reject (so a typo in the CRM neither crashes nor vanishes)."""
    good: dict[str, Any] = {"email": None, "phones": []}
    bad: dict[str, Any] = {}
    valid_emails: list[str] = []
    for email in emails:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            bad.setdefault("unparsed_emails", []).append(email)
            continue
        valid_emails.append(email)
    if valid_emails:
        good["email"] = valid_emails[0]
        if len(valid_emails) > 1:
            bad["other_emails"] = valid_emails[1:]
    for phone in phones:
        try:
            normalise_phone(phone)
        except ValueError:
            bad.setdefault("unparsed_phones", []).append(phone)
            continue
        good["phones"].append(phone)
    if text(document):
        try:
            good["document"] = normalise_document(str(document))
        except ValueError:
            bad["unparsed_document"] = str(document)
    return good, bad


def contact_lists(raw: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """A person's e-mail and phone values, primary first."""

    def values(items: Any) -> list[str]:
        entries = [i for i in (items or []) if isinstance(i, dict) and text(i.get("value"))]
        entries.sort(key=lambda i: not i.get("primary"))
        return [str(i["value"]).strip() for i in entries]

    return values(raw.get("emails")), values(raw.get("phones"))


def contact_payload(customer: Customer) -> dict[str, Any]:
    """``emails``/``phones`` of a customer (labels omitted: the spec types them as boolean)."""
    emails = [customer.email] if customer.email else []
    emails += [e for e in customer.unmapped_fields().get("other_emails") or [] if e not in emails]
    return {
        "emails": [{"value": e, "primary": i == 0} for i, e in enumerate(emails)],
        "phones": [{"value": p, "primary": i == 0} for i, p in enumerate(customer.phones)],
    }


# --------------------------------------------------------------------------- transforms


def to_provider(customer: Customer, fields: FieldMap, *, quiet: bool = False) -> dict[str, Any]:
    """Canonical PF customer → Pipedrive person payload (create or PATCH)."""
    data = customer.model_dump(mode="json")
    values = {k: v for k, v in data.items() if k not in _NATIVE and k != "other_emails"}
    if customer.active and ACTIVE not in fields:
        values.pop(ACTIVE, None)  # the default needs no room
    values[HUB_ID] = customer.id
    custom, unmapped = pack_custom_fields(values, fields)
    if not quiet:
        log_unmapped("person", [n for n in unmapped if n != HUB_ID])
    payload: dict[str, Any] = {"name": customer.name, **contact_payload(customer)}
    if custom:
        payload["custom_fields"] = custom
    return payload


def from_provider(raw: Mapping[str, Any], fields: FieldMap) -> Customer:
    """Pipedrive person → canonical customer (hub bookkeeping removed)."""
    values = unpack_custom_fields(raw.get("custom_fields"), fields)
    values.pop(HUB_ID, None)
    emails, phones = contact_lists(raw)
    good, bad = valid_contacts(emails, phones, values.pop("document", None))
    if "address" not in values and isinstance(raw.get("postal_address"), dict):
        address = address_from(raw["postal_address"])
        if address:
            values["address"] = address
    if "birth_date" not in values and text(raw.get("birthday")):
        values["birth_date"] = text(raw.get("birthday"))
    if "notes" not in values and text(raw.get("notes")):
        values["notes"] = text(raw.get("notes"))
    return Customer.model_validate(
        {
            **values,
            **bad,
            **good,
            "id": str(raw["id"]) if raw.get("id") is not None else None,
            "name": text(raw.get("name")) or "(sem nome)",
            "updated_at": timestamp(raw.get("update_time")),
        }
    )


def address_from(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """Pipedrive's structured address → canonical address fields (None when empty)."""
    address = {
        "street": text(raw.get("route")),
        "number": text(raw.get("street_number")),
        "district": text(raw.get("sublocality")),
        "city": text(raw.get("locality")),
        "state": text(raw.get("admin_area_level_1")),
        "zip": text(raw.get("postal_code")),
    }
    state = address["state"]
    if state and (len(state) != 2 or not state.isalpha()):
        address["state"] = None  # "São Paulo" is not a UF: keep it in the formatted value only
    return address if any(address.values()) else None


def search_params(customer: Customer, fields: FieldMap) -> list[dict[str, str]]:
    """``/persons/search`` queries, most specific first: CPF, the hub's id, then e-mail."""
    searches = []
    if customer.document and "document" in fields:
        searches.append({"term": customer.document, "fields": "custom_fields", "exact_match": "true"})
    if customer.id and HUB_ID in fields:
        searches.append({"term": customer.id, "fields": "custom_fields", "exact_match": "true"})
    if customer.email:
        searches.append({"term": customer.email, "fields": "email", "exact_match": "true"})
    return searches


def hub_id(raw: Mapping[str, Any], fields: FieldMap) -> str | None:
    """The hub's id stored on a Pipedrive record, if any."""
    if HUB_ID not in fields:
        return None
    value = (raw.get("custom_fields") or {}).get(fields[HUB_ID])
    return text(value)


def same_record(raw: Mapping[str, Any], candidate: Customer, customer: Customer, fields: FieldMap) -> bool:
    """Whether a search hit is this customer: the hub's id, else CPF/CNPJ, else e-mail."""
    marked = hub_id(raw, fields)
    if marked is not None:
        return marked == customer.id
    if customer.document and candidate.document:
        return candidate.document == customer.document
    return bool(customer.email and candidate.email == customer.email)
