"""GestãoClick transforms: canonical ⇄ provider shapes, both ways, nothing dropped."""

from decimal import Decimal

from crmhub.models import Customer, Entity, Product, Sale
from crmhub.providers.base import References
from crmhub.providers.gestaoclick import customers, products, sales
from crmhub.providers.gestaoclick.common import split_overflow


def test_customer_round_trip_keeps_every_field():
    # Given a PF customer with two mobiles, an address and an unknown field
    original = Customer(
        id="c1",
        name="João Silva",
        email="joao@example.com",
        document="52998224725",
        phones=["11999998888", "21988887777"],
        birth_date="1990-05-01",
        address={"street": "Rua A", "number": "10", "city": "São Paulo", "state": "sp", "zip": "01001-000"},
        notes="cliente antigo",
        loyalty="gold",
    )
    # When it goes to GestãoClick and comes back
    payload = customers.to_provider(original)
    back = customers.from_provider({**payload, "id": "77"})
    # Then GestãoClick's own fields are used where they exist…
    assert payload["cpf"] == "52998224725" and payload["celular"] == "11999998888"
    assert payload["enderecos"][0]["endereco"]["estado"] == "SP"
    # …and nothing is lost on the way back
    assert back.comparable() | {"active": True} == original.comparable() | {"active": True}
    assert back.unmapped_fields()["loyalty"] == "gold"


def test_company_uses_cnpj_and_razao_social():
    payload = customers.to_provider(Customer(name="ACME Ltda", document="11222333000181"))
    assert payload["tipo_pessoa"] == "PJ" and payload["cnpj"] == "11222333000181"
    assert payload["razao_social"] == "ACME Ltda" and "cpf" not in payload


def test_strings_as_numbers_are_parsed():
    product = products.from_provider({"id": 5, "nome": "Caneta", "valor_venda": "1,50", "estoque": 60, "ativo": "0"})
    assert product.price == Decimal("1.50") and product.stock == Decimal(60) and product.active is False
    assert products.to_provider(Product(name="Caneta", price="1.5"))["valor_venda"] == "1.50"


def test_sale_uses_linked_ids_and_carries_a_marker():
    sale = Sale(
        id="v9", customer_id="c1", date="2026-11-01", items=[{"product_id": "p1", "quantity": 2, "unit_price": "3.00"}]
    )
    refs = References({(Entity.CUSTOMER, "c1"): "100", (Entity.PRODUCT, "p1"): "200"})
    payload = sales.to_provider(sale, refs)
    assert payload["cliente_id"] == "100"
    assert payload["produtos"][0]["produto"]["produto_id"] == "200"
    assert sales.marker_local_id(payload) == "v9"
    assert sales.from_provider({**payload, "id": "1"}).notes is None


def test_overflow_notes_survive_user_text():
    notes, extra = split_overflow('hello\n--- crmhub ---\n{"a": 1}')
    assert notes == "hello" and extra == {"a": 1}
    assert split_overflow("just notes") == ("just notes", {})
