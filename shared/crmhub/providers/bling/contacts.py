"""Bling ``/contatos`` ⇄ canonical :class:`~crmhub.models.Customer`.

Fields (API v3 spec, ``ContatosDadosBaseDTO`` + ``ContatosDadosDTO``): ``nome``,
``codigo``, ``situacao`` (A/I/E/S), ``numeroDocumento``, ``telefone``, ``celular``,
``fantasia``, ``tipo`` (F/J/E), ``ie``, ``rg``, ``email``, ``endereco.geral{endereco,
numero, complemento, bairro, cep, municipio, uf}``, ``dadosAdicionais.dataNascimento``.

``codigo`` carries the ERP's (local) id of the customer: the natural "code in the other
system", and how the hub recognises a contact it created. The spec has no notes field for
contacts, so canonical ``notes``, phones beyond one mobile and one landline, and unknown
fields have no place in Bling: their *names* are logged when a push leaves them behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email

from crmhub.models.customer import Customer
from crmhub.models.documents import digits, normalise_document, normalise_phone
from crmhub.observability import logger
from crmhub.providers.gestaoclick.common import is_mobile, local_phone, text

RESOURCE = "/contatos"

# Bling-only contact data worth carrying as canonical extras (the ERP may know them too).
_PASSTHROUGH = {"ie": "ie", "rg": "rg", "indicadorIe": "indicador_ie", "inscricaoMunicipal": "inscricao_municipal"}
_MAPPED = {
    "id",
    "active",
    "updated_at",
    "version",
    "person_type",
    "name",
    "trade_name",
    "email",
    "phones",
    "document",
    "birth_date",
    "address",
    *_PASSTHROUGH.values(),
}


def to_provider(customer: Customer, *, quiet: bool = False) -> dict[str, Any]:
    """Canonical → Bling contato payload (POST/PUT body)."""
    mobiles = [p for p in customer.phones if is_mobile(p)]
    landlines = [p for p in customer.phones if not is_mobile(p)]
    extras = customer.unmapped_fields()
    payload: dict[str, Any] = {
        "nome": customer.name,
        "codigo": customer.id or "",
        "situacao": "A" if customer.active else "I",
        "numeroDocumento": customer.document or "",
        "telefone": local_phone(landlines[0]) if landlines else "",
        "celular": local_phone(mobiles[0]) if mobiles else "",
        "fantasia": customer.trade_name or "",
        "tipo": "J" if customer.person_type == "PJ" else "F",
        "email": customer.email or "",
    }
    for bling_name, canonical in _PASSTHROUGH.items():
        if extras.get(canonical) is not None:
            payload[bling_name] = extras[canonical]
    if customer.address:
        a = customer.address
        payload["endereco"] = {
            "geral": {
                "endereco": a.street or "",
                "numero": a.number or "",
                "complemento": a.complement or "",
                "bairro": a.district or "",
                "cep": a.zip or "",
                "municipio": a.city or "",
                "uf": a.state or "",
            }
        }
    if customer.birth_date:
        payload["dadosAdicionais"] = {"dataNascimento": customer.birth_date.isoformat()}
    left = sorted(k for k, v in customer.model_dump().items() if k not in _MAPPED and v not in (None, "", [], {}))
    if len(mobiles) > 1 or len(landlines) > 1:
        left.append("phones")
    if left and not quiet:
        logger.warning("bling_unmapped_fields", extra={"bling_entity": "contato", "fields": left})
    return payload


def _date(value: Any) -> str | None:
    raw = text(value)
    if not raw or raw.startswith("0000"):
        return None
    try:
        return date.fromisoformat(raw[:10]).isoformat()
    except ValueError:
        return None


def from_provider(raw: Mapping[str, Any]) -> Customer:
    """Bling contato → canonical (values the canonical model would reject become extras)."""
    extra: dict[str, Any] = {}
    phones = []
    for value in (text(raw.get("celular")), text(raw.get("telefone"))):
        if not value:
            continue
        try:
            phones.append(normalise_phone(value))
        except ValueError:
            extra.setdefault("unparsed_phones", []).append(value)
    email = text(raw.get("email"))
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            extra["unparsed_emails"] = [email]
            email = None
    document = None
    if text(raw.get("numeroDocumento")):
        try:
            document = normalise_document(str(raw["numeroDocumento"]))
        except ValueError:
            extra["unparsed_document"] = str(raw["numeroDocumento"])
    tipo = text(raw.get("tipo"))
    if tipo == "E":
        extra["foreign"] = True
    for bling_name, canonical in _PASSTHROUGH.items():
        if raw.get(bling_name) not in (None, ""):
            extra[canonical] = raw[bling_name]
    geral = ((raw.get("endereco") or {}).get("geral")) or {}
    address = {
        "street": text(geral.get("endereco")),
        "number": text(geral.get("numero")),
        "complement": text(geral.get("complemento")),
        "district": text(geral.get("bairro")),
        "city": text(geral.get("municipio")),
        "state": text(geral.get("uf")),
        "zip": digits(str(geral.get("cep") or "")) or None,
    }
    if address["state"] and (len(address["state"]) != 2 or not address["state"].isalpha()):
        extra["unparsed_state"] = address.pop("state")
    if address["zip"] and len(address["zip"]) != 8:
        extra["unparsed_zip"] = address.pop("zip")
    record: dict[str, Any] = {
        **extra,
        "id": str(raw["id"]) if raw.get("id") is not None else None,
        "name": text(raw.get("nome")) or "(sem nome)",
        "trade_name": text(raw.get("fantasia")),
        "email": email,
        "phones": phones,
        "document": document,
        "birth_date": _date((raw.get("dadosAdicionais") or {}).get("dataNascimento")),
        "address": address if any(address.values()) else None,
        "active": text(raw.get("situacao")) in (None, "A"),
    }
    if document is None:
        record["person_type"] = "PJ" if tipo == "J" else "PF"  # else the document decides
    return Customer.model_validate(record)


def search_params(customer: Customer) -> list[dict[str, str]]:
    """List filters, most specific first: CPF/CNPJ, then the name (matched by ``codigo``)."""
    searches = []
    if customer.document:
        searches.append({"numeroDocumento": customer.document})
    if customer.id:
        searches.append({"pesquisa": customer.name})
    return searches


def same_record(row: Mapping[str, Any], customer: Customer) -> bool:
    """Whether a list row (base fields only) is this customer: the hub's code or the CPF/CNPJ."""
    code = text(row.get("codigo"))
    if code and customer.id and code == customer.id:
        return True
    return bool(customer.document and digits(str(row.get("numeroDocumento") or "")) == customer.document)
