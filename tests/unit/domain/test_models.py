"""Canonical models: validation and normalisation at the boundary."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crmhub.models import Customer, Entity, Product, Sale
from crmhub.models.changes import ChangeRequest
from crmhub.models.documents import normalise_document, normalise_phone

VALID_CPF = "529.982.247-25"
VALID_CNPJ = "11.222.333/0001-81"


def test_customer_normalises_document_email_and_phones():
    # Given a customer typed the way people type them
    customer = Customer(
        name=" Maria ",
        email=" Maria@Example.COM ",
        document=VALID_CPF,
        phones=["(11) 99999-8888", "+55 11 99999-8888", "11 3333-4444"],
    )
    # Then the stored form is normalised and de-duplicated
    assert customer.name == "Maria"
    assert customer.email == "maria@example.com"
    assert customer.document == "52998224725"
    assert customer.person_type == "PF"
    assert customer.phones == ["+5511999998888", "+551133334444"]


def test_cnpj_makes_a_company():
    assert Customer(name="ACME", document=VALID_CNPJ).person_type == "PJ"


@pytest.mark.parametrize("document", ["529.982.247-24", "11.222.333/0001-80", "123", "000.000.000-00"])
def test_wrong_check_digits_or_length_are_rejected(document):
    with pytest.raises(ValidationError) as info:
        Customer(name="X", document=document)
    assert "document" in str(info.value)


def test_person_type_must_match_the_document():
    with pytest.raises(ValidationError, match="does not match"):
        Customer(name="X", person_type="PJ", document=VALID_CPF)


def test_invalid_phone_is_rejected():
    with pytest.raises(ValueError):
        normalise_phone("12")


def test_unknown_fields_are_kept_not_dropped():
    customer = Customer(name="X", loyalty_tier="gold")
    assert customer.unmapped_fields() == {"loyalty_tier": "gold"}


def test_sale_total_is_computed_and_checked():
    sale = Sale(customer_id="1", date="2026-11-01", items=[{"product_id": "p", "quantity": "2", "unit_price": "10.50"}])
    assert sale.total == Decimal("21.00")
    with pytest.raises(ValidationError, match="does not match"):
        Sale(
            customer_id="1",
            date="2026-11-01",
            total="5",
            items=[{"product_id": "p", "quantity": "2", "unit_price": "10.50"}],
        )


def test_product_money_is_decimal_and_not_negative():
    assert Product(name="P", price="10.10").price == Decimal("10.10")
    with pytest.raises(ValidationError):
        Product(name="P", price="-1")


def test_change_request_validates_the_data_for_its_entity():
    # Given an upsert whose data is not a valid customer
    with pytest.raises(ValidationError) as info:
        ChangeRequest(
            entity="customer",
            local_id="1",
            data={"name": "", "document": "1"},
            updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    # Then the message names each bad field
    message = str(info.value)
    assert "data.name" in message and "data.document" in message


def test_change_request_requires_timezone_and_safe_ids():
    with pytest.raises(ValidationError):
        ChangeRequest(entity="customer", local_id="1", data={"name": "x"}, updated_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        ChangeRequest(
            entity="customer", local_id="a/b", data={"name": "x"}, updated_at=datetime(2026, 1, 1, tzinfo=UTC)
        )


def test_delete_needs_no_data_and_change_id_is_deterministic():
    change = ChangeRequest(
        entity=Entity.PRODUCT, local_id="9", operation="delete", updated_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    again = ChangeRequest.model_validate(change.model_dump())
    assert change.change_id("s1") == again.change_id("s1")
    assert change.change_id("s1") != change.change_id("s2")


def test_normalise_document_keeps_digits_only():
    assert normalise_document(VALID_CNPJ) == "11222333000181"
