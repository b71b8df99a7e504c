"""GestãoClick ``/clientes`` ⇄ canonical :class:`~crmhub.models.Customer`.

GestãoClick field names are community-documented ([?] unverified against a live account):
``tipo_pessoa``, ``nome``, ``razao_social``, ``cpf``/``cnpj``, ``email``, ``telefone``,
``celular``, ``data_nascimento``, ``ativo`` ("1"/"0"), ``observacoes``,
``enderecos: [{endereco: {…}}]``.
"""

from __future__ import annotations

from typing import Any

from crmhub.models.base import CanonicalRecord
from crmhub.models.customer import Customer
from crmhub.providers.gestaoclick.common import (
    flag,
    is_mobile,
    local_phone,
    overflow_notes,
    split_overflow,
    text,
    timestamp,
)

RESOURCE = "/clientes"

# Canonical fields this transform carries; anything else goes to the notes overflow.
_MAPPED = {
    "id",
    "active",
    "updated_at",
    "person_type",
    "name",
    "trade_name",
    "email",
    "phones",
    "document",
    "birth_date",
    "address",
    "notes",
    "version",
}


def to_provider(customer: Customer) -> dict[str, Any]:
    """Canonical → GestãoClick payload."""
    mobiles = [p for p in customer.phones if is_mobile(p)]
    landlines = [p for p in customer.phones if not is_mobile(p)]
    extra = {k: v for k, v in customer.model_dump(mode="json").items() if k not in _MAPPED}
    if len(mobiles) > 1 or len(landlines) > 1:
        extra["phones"] = customer.phones
    if customer.trade_name:
        extra["trade_name"] = customer.trade_name
    if customer.id:
        extra["hub_local_id"] = customer.id  # finds the record again after a crash
    payload: dict[str, Any] = {
        "tipo_pessoa": customer.person_type or "PF",
        "nome": customer.name,
        "email": customer.email or "",
        "telefone": local_phone(landlines[0]) if landlines else "",
        "celular": local_phone(mobiles[0]) if mobiles else "",
        "ativo": flag(customer.active),
        "observacoes": overflow_notes(customer.notes, extra),
    }
    if customer.person_type == "PJ":
        payload["razao_social"] = customer.name
        payload["cnpj"] = customer.document or ""
    else:
        payload["cpf"] = customer.document or ""
        if customer.birth_date:
            payload["data_nascimento"] = customer.birth_date.isoformat()
    if customer.address:
        a = customer.address
        payload["enderecos"] = [
            {
                "endereco": {
                    "cep": a.zip or "",
                    "logradouro": a.street or "",
                    "numero": a.number or "",
                    "complemento": a.complement or "",
                    "bairro": a.district or "",
                    "nome_cidade": a.city or "",
                    "estado": a.state or "",
                }
            }
        ]
    return payload


def from_provider(raw: dict[str, Any]) -> Customer:
    """GestãoClick record → canonical (unknown fields kept as extras). A value the hub
    cannot accept (a CPF with wrong check digits, an unparseable phone) is not dropped: it
    is kept as an ``unverified_*`` extra and the rest of the record still syncs."""
    notes, extra = split_overflow(text(raw.get("observacoes")))
    extra.pop("hub_local_id", None)  # bookkeeping, not customer data
    phones = [p for p in (text(raw.get("celular")), text(raw.get("telefone"))) if p]
    phones = extra.pop("phones", None) or phones
    document = text(raw.get("cnpj")) or text(raw.get("cpf"))
    address = None
    enderecos = raw.get("enderecos") or []
    if enderecos:
        e = (enderecos[0] or {}).get("endereco") or {}
        address = {
            "street": text(e.get("logradouro")),
            "number": text(e.get("numero")),
            "complement": text(e.get("complemento")),
            "district": text(e.get("bairro")),
            "city": text(e.get("nome_cidade")),
            "state": text(e.get("estado")),
            "zip": text(e.get("cep")),
        }
    data = {
        **extra,
        "id": str(raw.get("id")) if raw.get("id") is not None else None,
        "updated_at": timestamp(raw.get("modificado_em")),
        "person_type": text(raw.get("tipo_pessoa")) if text(raw.get("tipo_pessoa")) in ("PF", "PJ") else None,
        "name": text(raw.get("nome")) or text(raw.get("razao_social")) or "(sem nome)",
        "email": text(raw.get("email")),
        "phones": phones,
        "document": document,
        "birth_date": text(raw.get("data_nascimento")),
        "address": address,
        "active": raw.get("ativo") in ("1", 1, True, "true"),
        "notes": notes,
    }
    return tolerant_customer(data)


def tolerant_customer(data: dict[str, Any]) -> Customer:
    """Validate, moving each field the model refuses into an ``unverified_<field>`` extra."""
    from pydantic import ValidationError

    for _ in range(len(data)):
        try:
            return Customer.model_validate(data)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            bad -= {"name"}
            if not bad:
                raise
            for field in bad:
                value = data.pop(field, None)
                if value not in (None, "", []):
                    data[f"unverified_{field}"] = value
            if "document" in bad:
                data.pop("person_type", None)
    return Customer.model_validate(data)


def search_params(customer: Customer) -> list[dict[str, str]]:
    """Natural-key searches, most specific first: CPF/CNPJ, then e-mail."""
    searches = []
    if customer.document:
        searches.append({"cpf_cnpj": customer.document})
    if customer.email:
        searches.append({"email": customer.email})
    searches.append({"nome": customer.name})  # then matched by the hub_local_id marker
    return searches


def marker_local_id(raw: dict[str, Any]) -> str | None:
    """The local id the hub stored in the notes when it created this customer."""
    _, extra = split_overflow(text(raw.get("observacoes")))
    value = extra.get("hub_local_id")
    return str(value) if value is not None else None


def same_record(raw: dict[str, Any], candidate: CanonicalRecord, customer: Customer) -> bool:
    """Whether a search hit is really this customer: the hub's marker, else CPF/CNPJ,
    else e-mail."""
    marked = marker_local_id(raw)
    if marked is not None:
        return marked == customer.id
    if not isinstance(candidate, Customer):
        return False
    if customer.document and candidate.document:
        return candidate.document == customer.document
    return bool(customer.email and candidate.email == customer.email)
