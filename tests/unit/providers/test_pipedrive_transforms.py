"""Pipedrive transforms: canonical ⇄ Pipedrive shapes, both ways, nothing silently dropped."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from crmhub.models import Activity, Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.pipedrive import activities, deals, organizations, persons, products
from crmhub.providers.pipedrive.persons import pack_custom_fields, unpack_custom_fields

K = "f" * 36
PERSON = {"document": K + "pdoc", "hub_id": K + "phub", "extra": K + "pext"}
ORG = {"document": K + "odoc", "hub_id": K + "ohub", "extra": K + "oext"}
PRODUCT = {"hub_id": K + "rhub", "extra": K + "rext", "stock": K + "stck"}
DEAL = {"hub_id": K + "dhub", "extra": K + "dext"}


def test_pf_customer_round_trip_keeps_every_field() -> None:
    # Given a PF customer with fields Pipedrive has no native slot for, and an unknown one
    original = Customer(
        id="c1",
        name="João Silva",
        email="joao@example.com",
        document="52998224725",
        phones=["11999998888", "1133334444"],
        birth_date="1990-05-01",
        notes="cliente antigo",
        address={"street": "Rua A", "number": "10", "city": "São Paulo", "state": "sp", "zip": "01001-000"},
        loyalty="gold",
        active=False,
    )
    # When it becomes a person and comes back
    payload = persons.to_provider(original, PERSON)
    back = persons.from_provider({**payload, "id": 7, "update_time": "2026-01-01T10:00:00Z"}, PERSON)
    # Then native slots are used…
    assert payload["emails"] == [{"value": "joao@example.com", "primary": True}]
    assert [p["value"] for p in payload["phones"]] == ["+5511999998888", "+551133334444"]
    assert payload["custom_fields"][PERSON["document"]] == "52998224725"
    assert payload["custom_fields"][PERSON["hub_id"]] == "c1"
    # …the rest rides in the overflow field…
    extra = json.loads(payload["custom_fields"][PERSON["extra"]])
    assert extra["loyalty"] == "gold" and extra["address"]["city"] == "São Paulo" and extra["active"] is False
    # …and nothing is lost on the way back (the hub's id is bookkeeping, not data)
    assert back.comparable() == original.comparable()
    assert back.id == "7" and back.updated_at is not None
    assert "hub_id" not in back.unmapped_fields()


def test_pj_customer_is_an_organization_with_a_contact_person() -> None:
    original = Customer(
        id="c2",
        name="ACME Ltda",
        trade_name="ACME",
        document="11222333000181",
        email="compras@acme.example",
        phones=["1133334444"],
        contact_name="Ana Compras",
        address={
            "street": "Av. Paulista",
            "number": "1000",
            "complement": "cj 5",
            "district": "Bela Vista",
            "city": "São Paulo",
            "state": "SP",
            "zip": "01310-100",
        },
    )
    org = organizations.to_provider(original, ORG)
    contact = organizations.contact_to_provider(original, org_id=3)
    assert org["name"] == "ACME Ltda" and org["address"]["route"] == "Av. Paulista"
    assert org["address"]["postal_code"] == "01310100" and "cj 5" in org["address"]["value"]
    assert org["custom_fields"][ORG["document"]] == "11222333000181"
    assert "emails" not in org  # organizations have no e-mail: the contact carries it
    assert contact == {
        "name": "Ana Compras",
        "org_id": 3,
        "emails": [{"value": "compras@acme.example", "primary": True}],
        "phones": [{"value": "+551133334444", "primary": True}],
    }
    back = organizations.from_provider({**org, "id": 3}, {**contact, "id": 9}, ORG)
    assert back.id == "org:3" and back.person_type == "PJ"
    assert back.comparable() == original.comparable()


def test_pj_without_cnpj_stays_a_company() -> None:
    back = organizations.from_provider({"id": 4, "name": "Padaria"}, None, ORG)
    assert back.person_type == "PJ" and back.email is None and back.id == "org:4"


def test_external_id_convention() -> None:
    assert organizations.external_id(12) == "org:12"
    assert organizations.org_id_of("org:12") == 12 and organizations.org_id_of("12") is None
    assert deals.customer_ref("org:12") == {"org_id": 12} and deals.customer_ref("5") == {"person_id": 5}
    assert deals.customer_of({"person_id": 5, "org_id": 12}) == "org:12"  # a company's deal
    assert deals.customer_of({"person_id": 5}) == "5"


def test_unmapped_fields_are_logged_by_name_not_value(caplog: pytest.LogCaptureFixture) -> None:
    # Given a connection that mapped no custom field at all
    customer = Customer(id="c1", name="Ana", document="52998224725", notes="segredo")
    # When the person payload is built
    with caplog.at_level("WARNING"):
        payload = persons.to_provider(customer, {})
    # Then the fields are reported (names only) instead of vanishing silently
    assert "custom_fields" not in payload
    record = next(r for r in caplog.records if r.getMessage() == "pipedrive_unmapped_fields")
    assert record.fields == ["document", "notes"]  # type: ignore[attr-defined]
    assert "52998224725" not in caplog.text and "segredo" not in caplog.text


def test_inbound_values_the_model_rejects_become_extras() -> None:
    raw = {
        "id": 1,
        "name": "Ana",
        "emails": [
            {"value": "not-an-email", "primary": True},
            {"value": "ana@example.com"},
            {"value": "ana2@example.com"},
        ],
        "phones": [{"value": "12345"}, {"value": "+55 11 99999-8888", "primary": True}],
        "custom_fields": {PERSON["document"]: "111.111.111-11"},
    }
    customer = persons.from_provider(raw, PERSON)
    assert customer.email == "ana@example.com" and customer.phones == ["+5511999998888"]
    extras = customer.unmapped_fields()
    assert extras["unparsed_emails"] == ["not-an-email"] and extras["unparsed_phones"] == ["12345"]
    assert extras["other_emails"] == ["ana2@example.com"] and extras["unparsed_document"] == "111.111.111-11"
    # and the second e-mail goes back to Pipedrive as a secondary one
    assert [e["value"] for e in persons.to_provider(customer, PERSON)["emails"]] == [
        "ana@example.com",
        "ana2@example.com",
    ]


def test_custom_field_helpers_clear_and_parse() -> None:
    custom, unmapped = pack_custom_fields({"document": None, "x": 1}, {"document": "k1"})
    assert custom == {"k1": None} and unmapped == ["x"]
    assert unpack_custom_fields(
        {"k1": {"value": "v", "currency": "BRL"}, "e": "not json"}, {"document": "k1", "extra": "e"}
    ) == {"document": "v", "extra_text": "not json"}


def test_product_round_trip() -> None:
    original = Product(
        id="p1",
        sku="CAN-1",
        name="Caneta",
        description="Azul",
        price="2.50",
        cost="1.10",
        unit="UN",
        stock=12,
        color="blue",
    )
    payload = products.to_provider(original, PRODUCT, "BRL")
    assert payload["code"] == "CAN-1" and payload["prices"] == [{"price": 2.5, "currency": "BRL", "cost": 1.1}]
    assert payload["custom_fields"][PRODUCT["stock"]] == "12"
    back = products.from_provider({**payload, "id": 5.0, "is_deleted": False}, PRODUCT, "BRL")
    assert back.id == "5" and back.comparable() == original.comparable()
    assert products.from_provider({**payload, "id": 5, "is_deleted": True}, PRODUCT, "BRL").active is False


def test_sale_becomes_a_deal_with_products_and_back() -> None:
    refs = References({(Entity.CUSTOMER, "c1"): "org:3", (Entity.PRODUCT, "p1"): "10", (Entity.PRODUCT, "p2"): "11"})
    sale = Sale(
        id="v9",
        customer_id="c1",
        date="2026-11-01",
        status="cancelled",
        notes="urgente",
        items=[
            {"product_id": "p1", "quantity": 2, "unit_price": "3.00"},
            {"product_id": "p2", "quantity": 1, "unit_price": "4.00", "comments": "embrulhar"},
        ],
    )
    deal = deals.to_provider(sale, refs, DEAL, "BRL")
    items = deals.items_to_provider(sale, refs)
    assert deal["title"] == "Venda v9" and deal["org_id"] == 3 and "person_id" not in deal
    assert deal["status"] == "lost" and deal["value"] == 10 and deal["expected_close_date"] == "2026-11-01"
    assert items[1] == {"product_id": 11, "item_price": 4, "quantity": 1, "comments": "embrulhar"}
    attached = [
        {
            **item,
            "id": 100 + i,
            "deal_id": 1,
            "order_nr": i + 1,
            "tax_method": "inclusive",
            "discount": 0,
            "discount_type": "percentage",
        }
        for i, item in enumerate(items)
    ]
    back = deals.from_provider({**deal, "id": 1}, attached, DEAL, "BRL")
    assert back.customer_id == "org:3" and [i.product_id for i in back.items] == ["10", "11"]
    assert back.model_dump(exclude={"id", "customer_id", "items", "updated_at"}) == sale.model_dump(
        exclude={"id", "customer_id", "items", "updated_at"}
    )
    assert back.items[1].model_extra == {"comments": "embrulhar"}  # Pipedrive's defaults are not sale data


def test_deal_value_that_differs_from_items_is_kept_not_refused() -> None:
    back = deals.from_provider(
        {
            "id": 1,
            "title": "Pedido grande",
            "value": 90,
            "person_id": 2,
            "status": "won",
            "expected_close_date": "2026-01-01",
        },
        [{"id": 5, "product_id": 10, "quantity": 1, "item_price": 100}],
        {},
        "BRL",
    )
    assert back.total == Decimal("100") and back.unmapped_fields() == {"deal_value": "90.00", "title": "Pedido grande"}
    assert back.status == "confirmed"


def test_plan_items_uses_the_fewest_calls() -> None:
    current = [
        {"id": 1, "product_id": 10, "item_price": 3, "quantity": 2, "order_nr": 1},
        {"id": 2, "product_id": 11, "item_price": 4, "quantity": 1, "order_nr": 2},
        {"id": 3, "product_id": 12, "item_price": 5, "quantity": 1, "order_nr": 3},
    ]
    wanted = [{"product_id": 10, "item_price": 3, "quantity": 2}, {"product_id": 11, "item_price": 4.5, "quantity": 1}]
    patches, posts, deletes = deals.plan_items(current, wanted)
    assert patches == [(2, wanted[1])] and posts == [] and deletes == [3]
    assert deals.plan_items([], wanted) == ([], wanted, [])


def test_activity_round_trip_keeps_a_type_pipedrive_lacks() -> None:
    refs = References({(Entity.CUSTOMER, "c1"): "5"})
    original = Activity(
        id="a1",
        customer_id="c1",
        type="whatsapp",
        subject="Responder",
        notes="ligar depois",
        due_at="2026-03-02T17:30:00Z",
        done=True,
        channel="zap",
    )
    payload = activities.to_provider(original, refs)
    assert payload["type"] == "task" and payload["person_id"] == 5
    assert payload["due_date"] == "2026-03-02" and payload["due_time"] == "17:30"
    back = activities.from_provider({**payload, "id": 8})
    assert back.type == "whatsapp" and back.customer_id == "5" and back.notes == "ligar depois"
    assert back.comparable() == original.model_copy(update={"customer_id": "5"}).comparable()
    assert activities.marker_local_id(payload) == "a1"
    # a type only this account has survives as such
    lunch = activities.from_provider({"id": 9, "subject": "Almoço", "type": "lunch"})
    assert lunch.type == "task" and activities.to_provider(lunch, refs)["type"] == "lunch"
