"""Bling transforms: canonical ⇄ Bling shapes, both ways, nothing silently dropped."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crmhub.models import Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.bling import contacts, orders, products


def test_customer_round_trip_keeps_every_field_bling_has_room_for() -> None:
    original = Customer(
        id="c1",
        name="João Silva",
        trade_name="Jota",
        email="joao@example.com",
        document="52998224725",
        phones=["11999998888", "1133334444"],
        birth_date="1990-05-01",
        ie="ISENTO",
        rg="123456",
        address={
            "street": "Rua A",
            "number": "10",
            "complement": "ap 2",
            "district": "Sé",
            "city": "São Paulo",
            "state": "sp",
            "zip": "01001-000",
        },
    )
    payload = contacts.to_provider(original)
    assert payload["tipo"] == "F" and payload["numeroDocumento"] == "52998224725" and payload["codigo"] == "c1"
    assert payload["celular"] == "11999998888" and payload["telefone"] == "1133334444"
    assert payload["endereco"]["geral"]["uf"] == "SP" and payload["dadosAdicionais"]["dataNascimento"] == "1990-05-01"
    back = contacts.from_provider({**payload, "id": 5})
    assert back.id == "5" and back.comparable() == original.comparable()


def test_company_contact() -> None:
    payload = contacts.to_provider(Customer(name="ACME Ltda", document="11222333000181", active=False))
    assert payload["tipo"] == "J" and payload["situacao"] == "I"
    back = contacts.from_provider({**payload, "id": 1})
    assert back.person_type == "PJ" and back.active is False
    assert contacts.from_provider({"id": 2, "nome": "Sem CNPJ", "tipo": "J", "situacao": "A"}).person_type == "PJ"


def test_fields_without_a_slot_are_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    customer = Customer(name="Ana", notes="VIP secreto", phones=["11999998888", "11988887777"], loyalty="gold")
    with caplog.at_level("WARNING"):
        contacts.to_provider(customer)
    record = next(r for r in caplog.records if r.getMessage() == "bling_unmapped_fields")
    assert record.fields == ["loyalty", "notes", "phones"]  # type: ignore[attr-defined]
    assert "VIP" not in caplog.text and "gold" not in caplog.text


def test_inbound_values_the_model_rejects_become_extras() -> None:
    back = contacts.from_provider(
        {
            "id": 1,
            "nome": "Ana",
            "situacao": "A",
            "tipo": "F",
            "email": "ana@",
            "celular": "123",
            "numeroDocumento": "11111111111",
            "endereco": {"geral": {"uf": "São Paulo", "cep": "123"}},
            "dadosAdicionais": {"dataNascimento": "0000-00-00"},
        }
    )
    extras = back.unmapped_fields()
    assert extras["unparsed_emails"] == ["ana@"] and extras["unparsed_phones"] == ["123"]
    assert extras["unparsed_document"] == "11111111111" and extras["unparsed_state"] == "São Paulo"
    assert extras["unparsed_zip"] == "123" and back.birth_date is None


def test_matching_rows_by_code_or_document() -> None:
    customer = Customer(id="c1", name="Ana", document="52998224725")
    assert contacts.same_record({"codigo": "c1"}, customer)
    assert contacts.same_record({"codigo": "other", "numeroDocumento": "529.982.247-25"}, customer)
    assert not contacts.same_record({"codigo": "other", "numeroDocumento": ""}, customer)
    assert contacts.search_params(customer) == [{"numeroDocumento": "52998224725"}, {"pesquisa": "Ana"}]


def test_product_round_trip_keeps_cost_and_extras_in_observacoes() -> None:
    original = Product(
        id="p1",
        sku="CAN-1",
        name="Caneta",
        description="Azul",
        price="2.50",
        cost="1.10",
        unit="UN",
        color="blue",
        active=False,
    )
    payload = products.to_provider(original)
    assert payload["tipo"] == "P" and payload["formato"] == "S" and payload["situacao"] == "I"
    assert "fornecedor" not in payload  # read-only in the spec
    back = products.from_provider({**payload, "id": 3})
    assert back.comparable() == original.comparable()


def test_product_reads_bling_cost_and_stock() -> None:
    back = products.from_provider(
        {
            "id": 3,
            "nome": "Caneta",
            "preco": 2.5,
            "precoCusto": 1.2,
            "situacao": "A",
            "estoque": {"saldoVirtualTotal": 7},
        }
    )
    assert (back.price, back.cost, back.stock) == (Decimal("2.50"), Decimal("1.20"), Decimal("7"))


def test_long_names_survive_the_120_character_limit() -> None:
    long_name = "Caneta " * 25  # 175 characters
    payload = products.to_provider(Product(name=long_name.strip()))
    assert len(payload["nome"]) == 120
    assert products.from_provider({**payload, "id": 1}).name == long_name.strip()


def test_sale_round_trip() -> None:
    refs = References({(Entity.CUSTOMER, "c1"): "10", (Entity.PRODUCT, "p1"): "20"})
    original = Sale(
        id="v1",
        customer_id="c1",
        date="2026-11-01",
        notes="entregar cedo",
        channel="web",
        items=[{"product_id": "p1", "quantity": 2, "unit_price": "3.00", "description": "Caneta"}],
    )
    payload = orders.to_provider(original, refs, {})
    assert payload["numeroLoja"] == "v1" and payload["contato"] == {"id": 10}
    assert payload["itens"] == [{"produto": {"id": 20}, "quantidade": 2, "valor": 3, "descricao": "Caneta"}]
    assert payload["data"] == payload["dataSaida"] == payload["dataPrevista"] == "2026-11-01"
    back = orders.from_provider({**payload, "id": 5, "total": 6, "situacao": {"id": 6, "valor": 0}})
    assert back.customer_id == "10" and back.items[0].product_id == "20"
    assert back.model_dump(exclude={"id", "customer_id", "items"}) == original.model_dump(
        exclude={"id", "customer_id", "items"}
    )


def test_items_without_description_use_the_given_names() -> None:
    refs = References({(Entity.CUSTOMER, "c1"): "10", (Entity.PRODUCT, "p1"): "20"})
    sale = Sale(
        id="v1", customer_id="c1", date="2026-11-01", items=[{"product_id": "p1", "quantity": 1, "unit_price": "3.00"}]
    )
    assert orders.to_provider(sale, refs, {"p1": "Caneta azul"})["itens"][0]["descricao"] == "Caneta azul"


def test_statuses_and_totals_from_bling() -> None:
    raw = {
        "id": 1,
        "data": "2026-01-01",
        "contato": {"id": 2},
        "total": 10,
        "situacao": {"id": 12, "valor": 2},
        "itens": [{"produto": {"id": 3}, "quantidade": 1, "valor": 9, "desconto": 0}],
    }
    sale = orders.from_provider(raw)
    assert sale.status == "cancelled" and sale.total == Decimal("9.00")
    assert sale.unmapped_fields() == {"provider_total": "10.00"}  # freight: kept, not refused
    odd = orders.from_provider({**raw, "situacao": {"id": 99, "valor": 9}, "itens": []})
    assert odd.status == "open" and odd.unmapped_fields()["bling_situacao"] == {"id": 99, "valor": 9}
