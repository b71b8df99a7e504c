"""Reference ERP simulator: the business's own system, whose shapes are the hub's canonical ones.

REST under ``/api/v1/stores/<store>/<entity>`` (customers, products, sales, activities),
``Authorization: Bearer <token>``, soft deletes, ``updated_at``/``version`` on every record,
and change notifications POSTed to the hub from a background worker.
"""

from __future__ import annotations

import random
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, Field

from .base import (
    ControlSettings,
    RecordStore,
    SimulatorControls,
    StrictClock,
    WebhookSender,
    digits,
    install_simulator,
    is_control_request,
    paginate,
)

ENTITIES: dict[str, str] = {"customers": "customer", "products": "product", "sales": "sale", "activities": "activity"}
SALE_STATUSES = ("open", "confirmed", "cancelled")
ACTIVITY_TYPES = ("call", "meeting", "task", "email", "whatsapp")
ADDRESS_KEYS = ("street", "number", "complement", "district", "city", "state", "zip")
DEFAULTS: dict[str, dict[str, Any]] = {
    "customers": {
        "person_type": None,
        "name": None,
        "trade_name": None,
        "email": None,
        "phones": [],
        "document": None,
        "birth_date": None,
        "address": None,
        "active": True,
        "notes": None,
    },
    "products": {
        "sku": None,
        "name": None,
        "description": None,
        "price": "0.00",
        "cost": None,
        "stock": 0,
        "unit": "UN",
        "active": True,
    },
    "sales": {
        "customer_id": None,
        "date": None,
        "status": "open",
        "items": [],
        "total": None,
        "notes": None,
        "active": True,
    },
    "activities": {
        "customer_id": None,
        "type": "task",
        "subject": None,
        "due_at": None,
        "done": False,
        "notes": None,
        "active": True,
    },
}


class HubConfig(BaseModel):
    """Where the ERP reports its changes (``POST /_sim/config {"hub": {...}}``)."""

    url: str | None = None
    api_key: str = ""
    enabled: bool = False
    max_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=0.2, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)


class ErpConfig(BaseModel):
    """Settings of one ERP simulator instance."""

    token: str = "erp-local-token"
    default_per_page: int = Field(default=50, ge=1, le=100)
    controls: ControlSettings = Field(default_factory=lambda: ControlSettings(rate_limit=100))
    hub: HubConfig = Field(default_factory=HubConfig)


class ErpValidationError(ValueError):
    """Invalid input; ``fields`` maps field name -> problem."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def iso_utc(moment: datetime) -> str:
    """``2024-01-31T10:20:30.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    """Parse ISO-8601 (``Z`` allowed); naive values are taken as UTC."""
    # An unencoded "+00:00" in a query string arrives as " 00:00".
    text = value.strip()
    moment = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- validation


def _money(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("must be a decimal amount") from exc
    if not amount.is_finite():
        raise ValueError("must be a decimal amount")
    return f"{amount.quantize(Decimal('0.01'))}"


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("must be a number")
    number = float(value)
    return int(number) if number.is_integer() else number


def _check(errors: dict[str, str], field: str, fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except (ValueError, TypeError) as exc:
        errors[field] = str(exc) or "invalid"
        return value


def _text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _day(value: Any) -> str | None:
    return None if value is None else date.fromisoformat(str(value)).isoformat()


def normalize(resource: str, data: dict[str, Any], provided: set[str] | None = None) -> dict[str, Any]:
    """Validate and coerce one entity's fields; raises :class:`ErpValidationError`.

    ``data`` already has defaults merged in; ``provided`` is the set of keys the caller sent
    (used to recompute a sale's total when only its items changed).
    """
    rec = {key: data.get(key, default) for key, default in DEFAULTS[resource].items()}
    errors: dict[str, str] = {}
    for key in ("notes", "trade_name", "email", "sku", "description", "unit", "subject"):
        if key in rec:
            rec[key] = _check(errors, key, _text, rec[key])
    for key in ("active", "done"):
        if key in rec:
            rec[key] = _check(errors, key, _bool, rec[key])
    required = {"customers": "name", "products": "name", "activities": "subject"}.get(resource)
    if required and not (isinstance(rec[required], str) and rec[required].strip()):
        errors[required] = "is required"
    if resource == "customers":
        doc = digits(rec["document"]) if rec["document"] else ""
        if rec["person_type"] is None:
            rec["person_type"] = "PJ" if len(doc) == 14 else "PF"
        if rec["person_type"] not in ("PF", "PJ"):
            errors["person_type"] = "must be PF or PJ"
        elif rec["document"] and len(doc) != (11 if rec["person_type"] == "PF" else 14):
            errors["document"] = "CPF must have 11 digits, CNPJ 14"
        if isinstance(rec["phones"], str):
            rec["phones"] = [rec["phones"]]
        if not isinstance(rec["phones"], list) or not all(isinstance(p, str) for p in rec["phones"]):
            errors["phones"] = "must be a list of strings"
        if rec["email"] and "@" not in rec["email"]:
            errors["email"] = "must be an e-mail address"
        rec["birth_date"] = _check(errors, "birth_date", _day, rec["birth_date"])
        if rec["address"] is not None:
            if isinstance(rec["address"], dict):
                rec["address"] = {k: rec["address"].get(k) for k in ADDRESS_KEYS}
            else:
                errors["address"] = "must be an object"
    elif resource == "products":
        rec["price"] = _check(errors, "price", _money, rec["price"])
        if rec["cost"] is not None:
            rec["cost"] = _check(errors, "cost", _money, rec["cost"])
        rec["stock"] = _check(errors, "stock", _number, rec["stock"])
    elif resource == "sales":
        _normalize_sale(rec, provided, errors)
    elif resource == "activities":
        if rec["type"] not in ACTIVITY_TYPES:
            errors["type"] = f"must be one of {', '.join(ACTIVITY_TYPES)}"
        if rec["due_at"] is not None:
            _check(errors, "due_at", lambda v: parse_iso(str(v)), rec["due_at"])
    if resource in ("sales", "activities") and rec["customer_id"] is not None:
        rec["customer_id"] = str(rec["customer_id"])
    if errors:
        raise ErpValidationError(errors)
    return rec


def _normalize_sale(rec: dict[str, Any], provided: set[str] | None, errors: dict[str, str]) -> None:
    if rec["customer_id"] in (None, ""):
        errors["customer_id"] = "is required"
    rec["date"] = _check(errors, "date", _day, rec["date"] or datetime.now(UTC).date().isoformat())
    if rec["status"] not in SALE_STATUSES:
        errors["status"] = f"must be one of {', '.join(SALE_STATUSES)}"
    items: list[dict[str, Any]] = []
    if not isinstance(rec["items"], list):
        errors["items"] = "must be a list"
    else:
        for i, item in enumerate(rec["items"]):
            if not isinstance(item, dict) or item.get("product_id") in (None, ""):
                errors[f"items[{i}]"] = "needs product_id, quantity and unit_price"
                continue
            items.append(
                {
                    "product_id": str(item["product_id"]),
                    "quantity": _check(errors, f"items[{i}].quantity", _number, item.get("quantity", 1)),
                    "unit_price": _check(errors, f"items[{i}].unit_price", _money, item.get("unit_price", 0)),
                }
            )
    rec["items"] = items
    recompute = rec["total"] is None or (provided is not None and "items" in provided and "total" not in provided)
    if recompute and not any(k.startswith("items") for k in errors):
        total = sum((Decimal(str(i["quantity"])) * Decimal(i["unit_price"]) for i in items), Decimal(0))
        rec["total"] = _money(total)
    elif rec["total"] is not None:
        rec["total"] = _check(errors, "total", _money, rec["total"])


# --------------------------------------------------------------------------- app


@dataclass
class ErpState:
    """Everything one ERP app instance owns (``app.extensions["simulator"]``)."""

    config: ErpConfig
    controls: SimulatorControls
    store: RecordStore
    clock: StrictClock
    sender: WebhookSender
    # Idempotency-Key of a create → the id it created (a repeated create returns that record).
    idempotency: dict[tuple[str, str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stamp(self, fields: dict[str, Any], version: int) -> dict[str, Any]:
        return {**fields, "updated_at": iso_utc(self.clock.now()), "version": version}

    def notify(self, store: str, resource: str, record: dict[str, Any], operation: str) -> None:
        """Queue a change notification to the hub (never blocks the response)."""
        hub = self.config.hub
        if not (hub.enabled and hub.url):
            return
        body: dict[str, Any] = {
            "entity": ENTITIES[resource],
            "local_id": record["id"],
            "operation": operation,
            "data": record,
            "updated_at": record["updated_at"],
        }
        origin = request.headers.get("X-Sync-Origin", "").strip().lower()
        if origin:
            body["origin"] = origin[:32]
        self.sender.submit(
            f"{hub.url.rstrip('/')}/api/v1/stores/{store}/changes",
            body,
            {"x-api-key": hub.api_key},
            max_attempts=hub.max_attempts,
            backoff_s=hub.backoff_s,
            timeout_s=hub.timeout_s,
        )


def error(
    status: int, code: str, message: str, retry_after: int | None = None, fields: dict[str, str] | None = None
) -> Response:
    """The ERP's error envelope ``{"error": {code, message[, fields]}}``."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def make_app(config: ErpConfig | None = None, *, clock: StrictClock | None = None) -> Flask:
    """Build a reference-ERP simulator app."""
    cfg = (config or ErpConfig()).model_copy(deep=True)
    controls = SimulatorControls(cfg.controls)
    state = ErpState(cfg, controls, RecordStore(ENTITIES), clock or StrictClock(), WebhookSender(controls, "notify"))
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the canonical field order
    app.extensions["simulator"] = state

    def set_hub(value: Any) -> None:
        if not isinstance(value, dict):
            raise TypeError("hub must be an object")
        cfg.hub = HubConfig.model_validate({**cfg.hub.model_dump(), **value})

    def set_token(value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("token must be a non-empty string")
        cfg.token = value

    def seeder(resource: str, data: dict[str, Any], ns: str) -> dict[str, Any]:
        """Seeded records may carry their own ``version`` and ``updated_at`` (e.g. in the past)."""
        record = state.stamp(normalize(resource, {**DEFAULTS[resource], **data}), int(data.get("version", 1)))
        if data.get("updated_at"):
            record["updated_at"] = iso_utc(parse_iso(str(data["updated_at"])))
        return record

    install_simulator(
        app,
        name="erp",
        controls=controls,
        store=state.store,
        error_response=error,
        seeder=seeder,
        on_reset=lambda: (state.sender.clear(), state.idempotency.clear()),
        config_hooks={
            "hub": (lambda: {**cfg.hub.model_dump(), "api_key": "***" if cfg.hub.api_key else ""}, set_hub),
            "token": (lambda: "***", set_token),
        },
        sender=state.sender,
    )

    @app.before_request
    def authenticate() -> Response | None:
        if is_control_request() or request.headers.get("Authorization") == f"Bearer {cfg.token}":
            return None
        return error(401, "unauthorized", "missing or invalid bearer token")

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return error(404, "not_found", "resource not found")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return error(405, "method_not_allowed", "method not allowed")

    def body_or_error() -> dict[str, Any] | Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "bad_request", "expected a JSON object")
        return body

    def check_refs(store: str, resource: str, rec: dict[str, Any]) -> Response | None:
        if (
            resource in ("sales", "activities")
            and rec["customer_id"] is not None
            and state.store.get("customers", rec["customer_id"], store) is None
        ):
            return error(
                422, "validation_error", f"invalid {ENTITIES[resource]}", fields={"customer_id": "customer not found"}
            )
        return None

    base = "/api/v1/stores/<store>/<entity>"

    @app.get(base)
    def list_records(store: str, entity: str) -> Response:
        if entity not in ENTITIES:
            return error(404, "not_found", "unknown entity")
        args = request.args
        try:
            page = int(args.get("page", 1))
            per_page = int(args.get("per_page", cfg.default_per_page))
            since = parse_iso(args["updated_since"]) if args.get("updated_since") else None
        except ValueError:
            return error(422, "validation_error", "invalid query parameter")
        if page < 1 or not 1 <= per_page <= 100:
            return error(422, "validation_error", "page must be >= 1 and per_page 1..100")
        records = state.store.list(entity, store)
        if since is not None:
            records = [r for r in records if parse_iso(r["updated_at"]) >= since]
            records.sort(key=lambda r: r["updated_at"])
        if args.get("active") in ("true", "false"):
            records = [r for r in records if r["active"] == (args["active"] == "true")]
        data, pages = paginate(records, page, per_page)
        return jsonify(
            {
                "data": data,
                "page": page,
                "per_page": per_page,
                "total": len(records),
                "next_page": page + 1 if page < pages else None,
            }
        )

    @app.post(base)
    def create(store: str, entity: str) -> Response | tuple[Response, int]:
        if entity not in ENTITIES:
            return error(404, "not_found", "unknown entity")
        body = body_or_error()
        if isinstance(body, Response):
            return body
        try:
            fields = normalize(entity, {**DEFAULTS[entity], **body})
        except ErpValidationError as exc:
            return error(422, "validation_error", f"invalid {ENTITIES[entity]}", fields=exc.fields)
        if (problem := check_refs(store, entity, fields)) is not None:
            return problem
        key = request.headers.get("Idempotency-Key", "").strip()
        with state.lock:
            if key and (seen := state.idempotency.get((store, entity, key))) is not None:
                existing = state.store.get(entity, seen, store)
                if existing is not None:
                    return jsonify(existing), 200  # the first create's record, not a second one
            record = state.store.create(entity, state.stamp(fields, 1), store)
            if key:
                state.idempotency[(store, entity, key)] = str(record["id"])
        state.notify(store, entity, record, "upsert")
        return jsonify(record), 201

    @app.get(f"{base}/<record_id>")
    def read(store: str, entity: str, record_id: str) -> Response:
        record = state.store.get(entity, record_id, store) if entity in ENTITIES else None
        if record is None:
            return error(404, "not_found", f"{ENTITIES.get(entity, 'record')} not found")
        return jsonify(record)

    @app.route(f"{base}/<record_id>", methods=["PUT", "PATCH"])
    def update(store: str, entity: str, record_id: str) -> Response:
        if entity not in ENTITIES:
            return error(404, "not_found", "unknown entity")
        body = body_or_error()
        if isinstance(body, Response):
            return body
        problem: list[Response] = []

        def change(current: dict[str, Any]) -> dict[str, Any]:
            base_fields = current if request.method == "PATCH" else DEFAULTS[entity]
            fields = normalize(entity, {**base_fields, **body}, set(body))
            if (bad := check_refs(store, entity, fields)) is not None:
                problem.append(bad)
                return current
            # Reactivating clears the soft delete; other edits of a deleted record keep it.
            keep = current.get("deleted_at") and not fields["active"]
            extra = {"deleted_at": current["deleted_at"]} if keep else {}
            return {**state.stamp(fields, current["version"] + 1), **extra}

        try:
            record = state.store.update(entity, record_id, change, store)
        except ErpValidationError as exc:
            return error(422, "validation_error", f"invalid {ENTITIES[entity]}", fields=exc.fields)
        if problem:
            return problem[0]
        if record is None:
            return error(404, "not_found", f"{ENTITIES[entity]} not found")
        state.notify(store, entity, record, "upsert")
        return jsonify(record)

    @app.delete(f"{base}/<record_id>")
    def soft_delete(store: str, entity: str, record_id: str) -> Response:
        if entity not in ENTITIES:
            return error(404, "not_found", "unknown entity")

        changed: list[bool] = []

        def change(current: dict[str, Any]) -> dict[str, Any]:
            if current.get("deleted_at"):
                return current  # already deleted: idempotent, no new version
            changed.append(True)
            stamped = state.stamp({**current, "active": False}, current["version"] + 1)
            return {**stamped, "deleted_at": stamped["updated_at"]}

        record = state.store.update(entity, record_id, change, store)
        if record is None:
            return error(404, "not_found", f"{ENTITIES[entity]} not found")
        if changed:
            state.notify(store, entity, record, "delete")
        return jsonify(record)

    return app


# --------------------------------------------------------------------------- demo data


def cpf_check_digits(base9: str) -> str:
    """The two check digits of a CPF whose first nine digits are ``base9``."""
    nums = [int(c) for c in base9]
    for weight_start in (10, 11):
        total = sum(n * w for n, w in zip(nums, range(weight_start, 1, -1), strict=False))
        nums.append(0 if total % 11 < 2 else 11 - total % 11)
    return f"{nums[-2]}{nums[-1]}"


def cnpj_check_digits(base12: str) -> str:
    """The two check digits of a CNPJ whose first twelve digits are ``base12``."""
    nums = [int(c) for c in base12]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        total = sum(n * w for n, w in zip(nums, weights, strict=True))
        nums.append(0 if total % 11 < 2 else 11 - total % 11)
    return f"{nums[-2]}{nums[-1]}"


def is_valid_cpf(value: str) -> bool:
    d = digits(value)
    return len(d) == 11 and len(set(d)) > 1 and cpf_check_digits(d[:9]) == d[9:]


def is_valid_cnpj(value: str) -> bool:
    d = digits(value)
    return len(d) == 14 and len(set(d)) > 1 and cnpj_check_digits(d[:12]) == d[12:]


# Demo vocabulary, "|"-separated to keep the module short.
_FIRST = (
    "Ana|João|Maria|José|Francisca|Antônio|Luiz|Juliana|Carlos|Fernanda|Paulo|Camila|Lucas"
    "|Beatriz|Rafael|Letícia|Marcos|Aline"
).split("|")
_LAST = (
    "Silva|Santos|Oliveira|Souza|Rodrigues|Ferreira|Alves|Pereira|Lima|Gomes|Costa|Ribeiro"
    "|Martins|Carvalho|Araújo|Barbosa"
).split("|")
_BUSINESS = "Padaria|Mercadinho|Oficina|Papelaria|Farmácia|Distribuidora|Pet Shop".split("|")
_STREETS = (
    "Rua das Flores|Avenida Brasil|Rua XV de Novembro|Rua Sete de Setembro|Avenida Paulista"
    "|Rua São João|Travessa da Paz|Rua Tiradentes"
).split("|")
_DISTRICTS = "Centro|Jardim América|Vila Nova|Boa Vista|Santa Cruz|Liberdade".split("|")
# city / state / first two zip digits / area code
_CITIES = [
    tuple(c.split("/"))
    for c in (
        "São Paulo/SP/01/11|Rio de Janeiro/RJ/20/21|Belo Horizonte/MG/30/31|Curitiba/PR/80/41"
        "|Porto Alegre/RS/90/51|Salvador/BA/40/71|Recife/PE/50/81|Fortaleza/CE/60/85"
    ).split("|")
]
# name / unit / base price
_PRODUCTS = [
    tuple(p.split("/"))
    for p in (
        "Café torrado 500g/UN/18|Açúcar cristal 1kg/UN/5|Arroz tipo 1 5kg/UN/28"
        "|Feijão carioca 1kg/UN/9|Óleo de soja 900ml/UN/8|Detergente 500ml/UN/3"
        "|Papel A4 resma/PCT/32|Caneta esferográfica/CX/25|Ração premium 10kg/SC/120"
        "|Água mineral 1,5 l/FD/14"
    ).split("|")
]
_SUBJECTS = {
    "call": "Ligar para retorno",
    "meeting": "Reunião de apresentação",
    "task": "Enviar orçamento",
    "email": "Enviar proposta por e-mail",
    "whatsapp": "Confirmar entrega pelo WhatsApp",
}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def demo_customer(rng: random.Random, business: bool) -> dict[str, Any]:
    """One realistic customer payload (valid CPF/CNPJ, +55 phones, Brazilian address)."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, state, zip_prefix, ddd = rng.choice(_CITIES)
    if business:
        base = "".join(str(rng.randint(0, 9)) for _ in range(8)) + "0001"
        doc = base + cnpj_check_digits(base)
        formatted = f"{doc[:2]}.{doc[2:5]}.{doc[5:8]}/{doc[8:12]}-{doc[12:]}"
        trade = f"{rng.choice(_BUSINESS)} {last}"
        name, email = f"{trade} Ltda", f"contato@{_ascii(trade).replace(' ', '')}.example.com"
    else:
        base = "".join(str(rng.randint(0, 9)) for _ in range(9))
        doc = base + cpf_check_digits(base)
        formatted = f"{doc[:3]}.{doc[3:6]}.{doc[6:9]}-{doc[9:]}"
        trade, name = None, f"{first} {last}"
        email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@example.com"
    mobile = f"9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    return {
        "person_type": "PJ" if business else "PF",
        "name": name,
        "trade_name": trade,
        "email": email,
        "phones": [f"+55 {ddd} {mobile}"],
        "document": formatted if rng.random() < 0.5 else doc,
        "birth_date": None
        if business
        else date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
        "address": {
            "street": rng.choice(_STREETS),
            "number": str(rng.randint(1, 2500)),
            "complement": rng.choice([None, "Apto 12", "Sala 3", "Fundos"]),
            "district": rng.choice(_DISTRICTS),
            "city": city,
            "state": state,
            "zip": f"{zip_prefix}{rng.randint(100, 999)}-{rng.randint(0, 999):03d}",
        },
        "active": True,
        "notes": None,
    }


def seed_demo(
    app: Flask,
    store: str = "demo",
    *,
    n_customers: int = 20,
    n_products: int = 10,
    n_sales: int = 10,
    n_activities: int = 10,
    seed: int = 42,
) -> dict[str, list[dict[str, Any]]]:
    """Fill ``store`` of an ERP app with deterministic demo data (no notifications, no limits)."""
    state: ErpState = app.extensions["simulator"]
    rng = random.Random(seed)

    def add(resource: str, data: dict[str, Any]) -> dict[str, Any]:
        return state.store.create(resource, state.stamp(normalize(resource, data), 1), store)

    out: dict[str, list[dict[str, Any]]] = {r: [] for r in ENTITIES}
    for _ in range(n_customers):
        out["customers"].append(add("customers", demo_customer(rng, rng.random() < 0.3)))
    for i in range(n_products):
        name, unit, base_price = _PRODUCTS[i % len(_PRODUCTS)]
        price = Decimal(base_price) + Decimal(rng.randint(0, 99)) / 100
        cost = (price * Decimal("0.6")).quantize(Decimal("0.01"))
        name = name if i < len(_PRODUCTS) else f"{name} ({i})"
        product = {"sku": f"SKU-{1000 + i}", "name": name, "price": str(price), "cost": str(cost)}
        out["products"].append(add("products", {**product, "stock": rng.randint(0, 200), "unit": unit}))
    for _ in range(n_sales if out["customers"] and out["products"] else 0):
        picked = rng.sample(out["products"], k=min(len(out["products"]), rng.randint(1, 3)))
        items = [{"product_id": p["id"], "quantity": rng.randint(1, 5), "unit_price": p["price"]} for p in picked]
        day = date(2024, rng.randint(1, 12), rng.randint(1, 28)).isoformat()
        customer_id = rng.choice(out["customers"])["id"]
        status = rng.choice(SALE_STATUSES)
        sale = {"customer_id": customer_id, "date": day, "status": status, "items": items}
        out["sales"].append(add("sales", sale))
    for _ in range(n_activities if out["customers"] else 0):
        kind = rng.choice(ACTIVITY_TYPES)
        due = datetime(2024, rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 18), tzinfo=UTC)
        activity = {
            "customer_id": rng.choice(out["customers"])["id"],
            "type": kind,
            "subject": _SUBJECTS[kind],
            "due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "done": rng.random() < 0.4,
        }
        out["activities"].append(add("activities", activity))
    return out
