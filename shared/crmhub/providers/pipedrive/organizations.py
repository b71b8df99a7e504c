"""Pipedrive ``/organizations`` (+ a contact person) ⇄ canonical PJ :class:`~crmhub.models.Customer`.

**External id convention.** A PJ customer is the *organization*: its external id is
``"org:<organization id>"`` (a PF customer's is the bare person id). Organizations have no
e-mail or phone in Pipedrive, so the customer's e-mail/phones live on a **contact person**
linked to it by ``org_id`` (the organization's first person by id; the hub creates it right
after the organization). Consequences, applied everywhere in this provider:

- a person *with* an organization is a contact, never a PF customer: its changes are
  reported as changes of ``org:<org_id>``;
- a deal or activity with an ``org_id`` belongs to ``org:<org_id>``, else to its person.

Organization fields (API v2, official spec): ``name``, ``address{value, route,
street_number, sublocality, locality, admin_area_level_1, postal_code, country}``,
``custom_fields``. CNPJ, trade name, notes… go to custom fields mapped per connection
(``credentials["custom_fields"]["organization"]``), exactly as for persons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmhub.models.customer import Customer
from crmhub.providers.pipedrive.persons import (
    ACTIVE,
    HUB_ID,
    FieldMap,
    address_from,
    contact_lists,
    contact_payload,
    log_unmapped,
    pack_custom_fields,
    text,
    timestamp,
    unpack_custom_fields,
    valid_contacts,
)

RESOURCE = "/organizations"
SEARCH = "/organizations/search"
PREFIX = "org:"

_NATIVE = {"id", "name", "email", "phones", "updated_at", "version", "person_type", "other_emails", "contact_name"}


def external_id(org_id: Any) -> str:
    """The external id of the PJ customer that is organization ``org_id``."""
    return f"{PREFIX}{org_id}"


def org_id_of(external: str) -> int | None:
    """The organization id inside a PJ external id (None for a person id)."""
    if external.startswith(PREFIX):
        return int(external[len(PREFIX) :])
    return None


def is_company(customer: Customer) -> bool:
    """PJ customers become organizations."""
    return customer.person_type == "PJ"


def _formatted(address: Mapping[str, Any]) -> str:
    street = ", ".join(p for p in (address.get("street"), address.get("number")) if p)
    parts = [
        street,
        address.get("complement"),
        address.get("district"),
        address.get("city"),
        address.get("state"),
        address.get("zip"),
    ]
    return " - ".join(str(p) for p in parts if p)


def to_provider(customer: Customer, fields: FieldMap, *, quiet: bool = False) -> dict[str, Any]:
    """Canonical PJ customer → organization payload (create or PATCH)."""
    data = customer.model_dump(mode="json")
    values = {k: v for k, v in data.items() if k not in _NATIVE and k != "address"}
    if customer.active and ACTIVE not in fields:
        values.pop(ACTIVE, None)
    values[HUB_ID] = customer.id
    payload: dict[str, Any] = {"name": customer.name}
    if customer.address:
        a = data["address"]
        payload["address"] = {
            "value": _formatted(a),
            "route": a["street"] or "",
            "street_number": a["number"] or "",
            "sublocality": a["district"] or "",
            "locality": a["city"] or "",
            "admin_area_level_1": a["state"] or "",
            "postal_code": a["zip"] or "",
            "country": "Brasil",
        }
        if a.get("complement"):
            values["address_complement"] = a["complement"]  # no native slot
    custom, unmapped = pack_custom_fields(values, fields)
    if not quiet:
        log_unmapped("organization", [n for n in unmapped if n != HUB_ID])
    if custom:
        payload["custom_fields"] = custom
    return payload


def contact_to_provider(customer: Customer, org_id: int) -> dict[str, Any]:
    """The contact person of a PJ customer: its name, e-mails and phones, linked to the org."""
    name = text(customer.unmapped_fields().get("contact_name")) or customer.name
    return {"name": name, "org_id": org_id, **contact_payload(customer)}


def from_provider(org: Mapping[str, Any], contact: Mapping[str, Any] | None, fields: FieldMap) -> Customer:
    """Organization (+ its contact person) → canonical PJ customer; id is ``org:<id>``."""
    values = unpack_custom_fields(org.get("custom_fields"), fields)
    values.pop(HUB_ID, None)
    emails, phones = contact_lists(contact or {})
    good, bad = valid_contacts(emails, phones, values.pop("document", None))
    complement = values.pop("address_complement", None)
    address = address_from(org.get("address") or {})
    if address is not None:
        address["complement"] = complement
    elif complement:
        address = {"complement": complement}
    contact_name = text((contact or {}).get("name"))
    name = text(org.get("name")) or "(sem nome)"
    if contact_name and contact_name != name:
        values["contact_name"] = contact_name
    updated = [t for t in (timestamp(org.get("update_time")), timestamp((contact or {}).get("update_time"))) if t]
    record: dict[str, Any] = {
        **values,
        **bad,
        **good,
        "id": external_id(org["id"]) if org.get("id") is not None else None,
        "name": name,
        "address": address,
        "updated_at": max(updated) if updated else None,
    }
    if "document" not in good:
        record["person_type"] = "PJ"  # an organization is a company even without its CNPJ
    return Customer.model_validate(record)


def search_params(customer: Customer, fields: FieldMap) -> list[dict[str, str]]:
    """``/organizations/search`` queries: CNPJ, the hub's id, then the exact name."""
    searches = []
    if customer.document and "document" in fields:
        searches.append({"term": customer.document, "fields": "custom_fields", "exact_match": "true"})
    if customer.id and HUB_ID in fields:
        searches.append({"term": customer.id, "fields": "custom_fields", "exact_match": "true"})
    searches.append({"term": customer.name, "fields": "name", "exact_match": "true"})
    return searches
