"""Pipedrive simulator: API v2 ``/api/v2/persons|organizations|products|deals|activities``
(+ ``/deals/{id}/products``, ``/deals/products``, the ``/search`` endpoints) and the v1
``/v1/webhooks`` endpoints, shaped after the official v2 spec.

Reproduced: ``x-api-token`` auth (or a configured OAuth bearer token), integer ids,
``{success, data, additional_data: {next_cursor}}`` envelopes with opaque cursors,
``updated_since``/``updated_until`` filters (not on products), the burst limit per token
over a rolling 2 s window (→ 429 JSON, no ``Retry-After``), the daily token budget with
per-operation costs (list/search 10, get 1, create/update 5, delete 3),
``x-ratelimit-limit|remaining|reset`` and ``x-daily-requests-left`` on every answer, an
optional HTML 403 "back-off page" (switch, or after N 429s in a row), and webhooks v2
(``{meta, data, previous}``, HTTP Basic auth) to every registered subscription URL on every
change — ``meta.change_source`` is ``api`` for changes made through the API and ``app``
for changes made through ``/_sim/app/*`` (a user editing in Pipedrive's UI).

Null-valued fields are left out of answers: the spec types them as non-nullable.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask, Response, g, jsonify, request
from pydantic import BaseModel, Field

from .base import ControlSettings, RecordStore, SimulatorControls, WebhookSender, install_simulator, is_control_request

API = "/api/v2"
ENTITIES = ("persons", "organizations", "products", "deals", "activities")
RESOURCES = (*ENTITIES, "deal_products", "webhooks")
EVENT_OBJECT = {
    "persons": "person",
    "organizations": "organization",
    "products": "product",
    "deals": "deal",
    "activities": "activity",
}
WEBHOOK_OBJECTS = (
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
    "*",
)
WEBHOOK_ACTIONS = ("create", "change", "delete", "*")
COSTS = {"list": 10, "search": 10, "get": 1, "create": 5, "update": 5, "delete": 3}
UPDATED_SINCE = {"persons", "organizations", "deals", "activities"}  # products have no such filter
BACKOFF_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied</title></head><body><h1>403 Forbidden</h1>"
    "<p>Too many requests. Please slow down and try again later.</p></body></html>"
)


class PipedriveConfig(BaseModel):
    """Settings of one Pipedrive simulator instance."""

    api_token: str = "pd-api-token"
    oauth_access_token: str | None = None
    company_id: int = 1
    user_id: int = 1
    company_domain: str = "crmhub-sim"
    default_currency: str = "BRL"
    default_limit: int = Field(default=100, ge=1, le=500)
    max_limit: int = Field(default=500, ge=1)
    daily_token_budget: int = Field(default=30_000, ge=0)
    backoff_403: bool = False
    backoff_after_429s: int = Field(default=0, ge=0, description="429s in a row before the 403 page (0: never)")
    backoff_s: float = Field(default=60.0, ge=0)
    controls: ControlSettings = Field(
        default_factory=lambda: ControlSettings(rate_limit=20, window_s=2.0, retry_after_header=False)
    )


class PdError(ValueError):
    """A request Pipedrive would refuse with 400 and this message."""


def error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    """Pipedrive's error envelope ``{success: false, error, error_info, data: null}``."""
    messages = {
        "rate_limited": "Request over limit",
        "injected_fault": "Internal server error",
        "unauthorized": "unauthorized access",
        "not_found": "Not found",
    }
    body = {
        "success": False,
        "error": messages.get(code, message),
        "errorCode": status,
        "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
        "data": None,
        "additional_data": None,
    }
    response = jsonify(body)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def now_stamp() -> str:
    """RFC 3339 UTC seconds, Pipedrive v2 style (``2024-01-31T10:20:30Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PdError(f"Invalid {name}: expected an RFC 3339 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any, name: str, *, required: bool = False) -> int | None:
    if value is None or value == "":
        if required:
            raise PdError(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise PdError(f"{name} must be an integer")
    try:
        number = int(str(value))
    except ValueError:
        raise PdError(f"{name} must be an integer") from None
    return number


def _num(value: Any, name: str, default: float = 0.0) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise PdError(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PdError(f"{name} must be a number") from None
    return float(number)


def _clean(value: Any) -> Any:
    """Drop None values (recursively in objects) and render whole floats as ints."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _contact_list(value: Any, name: str) -> list[dict[str, Any]]:
    """``emails``/``phones``: a list of ``{value, primary, label}`` objects."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PdError(f"{name} must be an array of objects")
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise PdError(f"{name}[{index}] must be an object with a string value")
        out.append(
            {
                "value": item["value"],
                "primary": bool(item.get("primary", index == 0)),
                "label": item.get("label") if isinstance(item.get("label"), str) else "work",
            }
        )
    return out


class PipedriveControls(SimulatorControls):
    """Sliding-window controls that can also say how full the window is (for headers)."""

    def window(self, now: float | None = None) -> tuple[int, int]:
        """(admitted requests in the current window, seconds until a slot frees)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            horizon = now - self._settings.window_s
            live = [t for t in self._allowed if t > horizon]
            reset = math.ceil(live[0] + self._settings.window_s - now) if live else 0
            return len(live), max(reset, 0)


@dataclass
class PdState:
    """Everything one Pipedrive app instance owns (``app.extensions["simulator"]``)."""

    config: PipedriveConfig
    controls: PipedriveControls
    store: RecordStore
    sender: WebhookSender
    lock: threading.RLock = field(default_factory=threading.RLock)
    tokens_used: int = 0
    token_day: str = ""
    banned_until: float = 0.0
    consecutive_429: int = 0

    # -- daily budget -----------------------------------------------------------------
    def _roll_day(self) -> None:
        today = datetime.now(UTC).date().isoformat()
        if today != self.token_day:
            self.token_day, self.tokens_used = today, 0

    def tokens_left(self) -> int:
        with self.lock:
            self._roll_day()
            return max(self.config.daily_token_budget - self.tokens_used, 0)

    def charge(self, cost: int) -> None:
        with self.lock:
            self._roll_day()
            self.tokens_used += cost

    def set_tokens_left(self, left: int) -> None:
        with self.lock:
            self._roll_day()
            self.tokens_used = max(self.config.daily_token_budget - int(left), 0)

    # -- webhooks ---------------------------------------------------------------------
    def emit(
        self, resource: str, action: str, record: dict[str, Any] | None, previous: dict[str, Any] | None, source: str
    ) -> None:
        """Send a v2 webhook for one change to every matching subscription."""
        event_object = EVENT_OBJECT.get(resource)
        if event_object is None:
            return
        entity_id = (record or previous or {}).get("id")
        for hook in self.store.list("webhooks"):
            if hook["event_object"] not in (event_object, "*") or hook["event_action"] not in (action, "*"):
                continue
            meta = {
                "action": action,
                "company_id": str(self.config.company_id),
                "correlation_id": str(uuid.uuid4()),
                "entity_id": str(entity_id),
                "entity": event_object,
                "id": str(uuid.uuid4()),
                "is_bulk_edit": False,
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "type": "general",
                "user_id": str(self.config.user_id),
                "version": "2.0",
                "webhook_id": str(hook["id"]),
                "webhook_owner_id": str(self.config.user_id),
                "change_source": source,
                "permitted_user_ids": [str(self.config.user_id)],
                "attempt": 1,
                "host": f"{self.config.company_domain}.pipedrive.com",
            }
            auth = base64.b64encode(f"{hook['http_auth_user']}:{hook['http_auth_password']}".encode()).decode()
            body = {"meta": meta, "data": record, "previous": previous}
            self.sender.submit(hook["subscription_url"], body, {"Authorization": f"Basic {auth}"})
            self.controls.incr("webhooks_emitted")

    # -- records ----------------------------------------------------------------------
    def render(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        """A stored record as the API shows it (integer ids, no nulls)."""
        out = dict(record)
        out["id"] = int(record["id"])
        return _clean(out)

    def _exists(self, resource: str, record_id: int | None, name: str) -> None:
        if record_id is not None and self.store.get(resource, record_id) is None:
            raise PdError(f"{name} {record_id} not found")

    def normalize(self, resource: str, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        """Validate a create/update body and return the record to store (no id)."""
        stamp = now_stamp()
        base = dict(current or {})
        custom = dict(base.get("custom_fields") or {})
        if "custom_fields" in body:
            if not isinstance(body["custom_fields"], dict):
                raise PdError("custom_fields must be an object")
            custom.update(body["custom_fields"])
        owner = _int(body.get("owner_id"), "owner_id") or base.get("owner_id") or self.config.user_id
        if resource in ("persons", "organizations", "products"):
            name = body.get("name", base.get("name"))
            if not isinstance(name, str) or not name.strip():
                raise PdError("Name must be given")
        common = {
            "owner_id": owner,
            "custom_fields": custom,
            "add_time": base.get("add_time") or stamp,
            "update_time": stamp,
            "visible_to": _int(body.get("visible_to"), "visible_to") or base.get("visible_to") or 3,
        }
        if resource == "persons":
            org_id = _int(body["org_id"], "org_id") if "org_id" in body else base.get("org_id")
            self._exists("organizations", org_id, "Organization")
            name = str(body.get("name", base.get("name"))).strip()
            first, _, last = name.partition(" ")
            return {
                **common,
                "name": name,
                "first_name": first,
                "last_name": last or None,
                "org_id": org_id,
                "emails": _contact_list(body["emails"], "emails") if "emails" in body else base.get("emails", []),
                "phones": _contact_list(body["phones"], "phones") if "phones" in body else base.get("phones", []),
                "is_deleted": False,
                "label_ids": body.get("label_ids", base.get("label_ids", [])),
            }
        if resource == "organizations":
            address = body.get("address", base.get("address"))
            if address is not None and not isinstance(address, dict):
                raise PdError("address must be an object")
            return {
                **common,
                "name": str(body.get("name", base.get("name"))).strip(),
                "address": address,
                "is_deleted": False,
                "label_ids": body.get("label_ids", base.get("label_ids", [])),
            }
        if resource == "products":
            prices = body.get("prices", base.get("prices", []))
            if not isinstance(prices, list) or not all(isinstance(p, dict) for p in prices):
                raise PdError("prices must be an array of objects")
            rendered_prices = [
                {
                    "product_id": int(current["id"]) if current else None,
                    "price": _num(p.get("price"), "price"),
                    "currency": str(p.get("currency") or self.config.default_currency),
                    "cost": _num(p.get("cost"), "cost"),
                    "direct_cost": p.get("direct_cost"),
                    "notes": str(p.get("notes") or ""),
                }
                for p in prices
            ]
            return {
                **common,
                "name": str(body.get("name", base.get("name"))).strip(),
                "code": body.get("code", base.get("code")) or "",
                "description": body.get("description", base.get("description")) or "",
                "unit": body.get("unit", base.get("unit")) or "",
                "tax": _num(body.get("tax", base.get("tax")), "tax"),
                "category": body.get("category", base.get("category")),
                "is_deleted": False,
                "is_linkable": bool(body.get("is_linkable", base.get("is_linkable", True))),
                "billing_frequency": body.get("billing_frequency", base.get("billing_frequency", "one-time")),
                "prices": rendered_prices,
            }
        if resource == "deals":
            title = body.get("title", base.get("title"))
            if not isinstance(title, str) or not title.strip():
                raise PdError("Title must be given")
            person_id = _int(body["person_id"], "person_id") if "person_id" in body else base.get("person_id")
            org_id = _int(body["org_id"], "org_id") if "org_id" in body else base.get("org_id")
            self._exists("persons", person_id, "Person")
            self._exists("organizations", org_id, "Organization")
            status = body.get("status", base.get("status", "open"))
            if status not in ("open", "won", "lost"):
                raise PdError("status must be one of open, won, lost")
            record = {
                **common,
                "title": title.strip(),
                "person_id": person_id,
                "org_id": org_id,
                "pipeline_id": base.get("pipeline_id", 1),
                "stage_id": _int(body.get("stage_id"), "stage_id") or base.get("stage_id", 1),
                "value": _num(body.get("value", base.get("value")), "value"),
                "currency": str(body.get("currency", base.get("currency")) or self.config.default_currency),
                "status": status,
                "expected_close_date": body.get("expected_close_date", base.get("expected_close_date")),
                "lost_reason": body.get("lost_reason", base.get("lost_reason")) if status == "lost" else None,
                "is_deleted": False,
                "is_archived": False,
                "label_ids": body.get("label_ids", base.get("label_ids", [])),
                "origin": base.get("origin", "API"),
                "stage_change_time": base.get("stage_change_time") or stamp,
                "won_time": (base.get("won_time") or stamp) if status == "won" else None,
                "lost_time": (base.get("lost_time") or stamp) if status == "lost" else None,
                "close_time": (base.get("close_time") or stamp) if status != "open" else None,
            }
            return record
        # activities
        person_id = _int(body["person_id"], "person_id") if "person_id" in body else base.get("person_id")
        org_id = _int(body["org_id"], "org_id") if "org_id" in body else base.get("org_id")
        deal_id = _int(body["deal_id"], "deal_id") if "deal_id" in body else base.get("deal_id")
        self._exists("persons", person_id, "Person")
        self._exists("organizations", org_id, "Organization")
        self._exists("deals", deal_id, "Deal")
        done = body.get("done", base.get("done", False))
        if not isinstance(done, bool):
            raise PdError("done must be a boolean")
        subject = body.get("subject", base.get("subject")) or "Call"
        return {
            **common,
            "subject": str(subject),
            "type": str(body.get("type", base.get("type")) or "task"),
            "creator_user_id": base.get("creator_user_id", self.config.user_id),
            "is_deleted": False,
            "deal_id": deal_id,
            "person_id": person_id,
            "org_id": org_id,
            "due_date": body.get("due_date", base.get("due_date")),
            "due_time": body.get("due_time", base.get("due_time")),
            "duration": body.get("duration", base.get("duration")),
            "busy": bool(body.get("busy", base.get("busy", False))),
            "done": done,
            "marked_as_done_time": (base.get("marked_as_done_time") or stamp) if done else None,
            "participants": [{"person_id": person_id, "primary": True}] if person_id else [],
            "public_description": body.get("public_description", base.get("public_description")),
            "priority": body.get("priority", base.get("priority")),
            "note": body.get("note", base.get("note")),
        }

    def normalize_deal_product(
        self, deal_id: int, body: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Validate a deal-product body (add or update)."""
        base = dict(current or {})
        product_id = _int(body.get("product_id", base.get("product_id")), "product_id", required=True)
        product = self.store.get("products", product_id)
        if product is None:
            raise PdError(f"Product {product_id} not found")
        for key in ("item_price", "quantity"):
            if current is None and key not in body:
                raise PdError(f"{key} is required")
        price = _num(body.get("item_price", base.get("item_price")), "item_price")
        quantity = _num(body.get("quantity", base.get("quantity")), "quantity", 1)
        if quantity <= 0:
            raise PdError("quantity must be greater than 0")
        discount = _num(body.get("discount", base.get("discount")), "discount")
        discount_type = body.get("discount_type", base.get("discount_type", "percentage"))
        if discount_type not in ("percentage", "amount"):
            raise PdError("discount_type must be percentage or amount")
        gross = price * quantity
        total = gross - (gross * discount / 100 if discount_type == "percentage" else discount)
        deal = self.store.get("deals", deal_id) or {}
        stamp = now_stamp()
        return {
            "deal_id": deal_id,
            "product_id": product_id,
            "name": product["name"],
            "item_price": price,
            "quantity": quantity,
            "discount": discount,
            "discount_type": discount_type,
            "tax": _num(body.get("tax", base.get("tax")), "tax"),
            "tax_method": body.get("tax_method", base.get("tax_method", "inclusive")),
            "is_enabled": bool(body.get("is_enabled", base.get("is_enabled", True))),
            "comments": str(body.get("comments", base.get("comments")) or ""),
            "sum": round(total, 2),
            "currency": deal.get("currency") or self.config.default_currency,
            "order_nr": base.get("order_nr") or len(self.deal_products(deal_id)) + 1,
            "billing_frequency": "one-time",
            "add_time": base.get("add_time") or stamp,
            "update_time": stamp,
        }

    def deal_products(self, deal_id: int) -> list[dict[str, Any]]:
        return [p for p in self.store.list("deal_products") if p["deal_id"] == deal_id]

    def recompute_deal(self, deal_id: int, source: str) -> None:
        """Deal value follows its products (Pipedrive's default), with a change webhook."""
        attached = self.deal_products(deal_id)
        total = round(sum(p["sum"] for p in attached), 2)
        before = self.store.get("deals", deal_id)
        if before is None or (not attached and before.get("value") == total):
            return
        after = self.store.update("deals", deal_id, lambda d: {**d, "value": total, "update_time": now_stamp()})
        if after is not None and before.get("value") != total:
            self.emit("deals", "change", self.render("deals", after), {"value": before.get("value")}, source)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["offset"])
    except (ValueError, KeyError, TypeError):
        raise PdError("Invalid cursor") from None


def make_app(config: PipedriveConfig | None = None) -> Flask:
    """Build a Pipedrive simulator app."""
    cfg = (config or PipedriveConfig()).model_copy(deep=True)
    controls = PipedriveControls(cfg.controls)
    state = PdState(cfg, controls, RecordStore(RESOURCES), WebhookSender(controls, "webhook"))
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["simulator"] = state

    def seeder(resource: str, data: dict[str, Any], ns: str) -> dict[str, Any]:
        if resource in ENTITIES:
            try:
                return {
                    **state.normalize(resource, data, None),
                    **{k: v for k, v in data.items() if k in ("add_time", "update_time")},
                }
            except PdError as exc:
                raise ValueError(str(exc)) from None
        return dict(data)

    def reset() -> None:
        state.sender.clear()
        with state.lock:
            state.tokens_used, state.banned_until, state.consecutive_429 = 0, 0.0, 0

    def flag_setter(key: str) -> Callable[[Any], None]:
        def set_value(value: Any) -> None:
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
            setattr(cfg, key, value)

        return set_value

    def int_setter(key: str) -> Callable[[Any], None]:
        def set_value(value: Any) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer")
            setattr(cfg, key, value)

        return set_value

    def set_token(value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("api_token must be a non-empty string")
        cfg.api_token = value

    def backoff_page() -> Response:
        return Response(BACKOFF_PAGE, status=403, content_type="text/html; charset=utf-8")

    @app.before_request
    def banned() -> Response | None:
        # Registered before the rate limiter: a banned client gets the page, not a 429.
        if is_control_request() or not (cfg.backoff_403 or state.banned_until > time.monotonic()):
            return None
        g.pd_backoff = True
        return backoff_page()

    install_simulator(
        app,
        name="pipedrive",
        controls=controls,
        store=state.store,
        error_response=error,
        seeder=seeder,
        on_reset=reset,
        config_hooks={
            "api_token": (lambda: "***", set_token),
            "backoff_403": (lambda: cfg.backoff_403, flag_setter("backoff_403")),
            "backoff_after_429s": (lambda: cfg.backoff_after_429s, int_setter("backoff_after_429s")),
            "daily_token_budget": (lambda: cfg.daily_token_budget, int_setter("daily_token_budget")),
            "daily_tokens_left": (state.tokens_left, lambda v: state.set_tokens_left(int(v))),
        },
        sender=state.sender,
    )

    @app.before_request
    def guard() -> Response | None:
        if is_control_request():
            return None
        token = request.headers.get("x-api-token")
        bearer = request.headers.get("Authorization", "")
        oauth_ok = cfg.oauth_access_token and bearer == f"Bearer {cfg.oauth_access_token}"
        if token != cfg.api_token and not oauth_ok:
            return error(401, "unauthorized", "unauthorized access")
        if state.tokens_left() <= 0:
            return error(429, "daily_limit", "Daily token limit exceeded")
        return None

    @app.after_request
    def rate_headers(response: Response) -> Response:
        if is_control_request():
            return response
        status = response.status_code
        with state.lock:
            if status == 429:
                state.consecutive_429 += 1
                if cfg.backoff_after_429s and state.consecutive_429 >= cfg.backoff_after_429s:
                    state.banned_until = time.monotonic() + cfg.backoff_s
            elif not g.get("pd_backoff"):
                state.consecutive_429 = 0
        cost = g.get("pd_cost")
        if cost and status < 500 and status != 429:
            state.charge(cost)
        used, reset_s = controls.window()
        limit = controls.settings.rate_limit
        response.headers["x-ratelimit-limit"] = str(limit)
        response.headers["x-ratelimit-remaining"] = str(max(limit - used, 0))
        response.headers["x-ratelimit-reset"] = str(reset_s)
        response.headers["x-daily-requests-left"] = str(state.tokens_left())
        return response

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return error(404, "not_found", "Not found")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return error(405, "method_not_allowed", "Method not allowed")

    _register_entities(app, state)
    _register_deal_products(app, state)
    _register_search(app, state)
    _register_webhooks(app, state)
    _register_app_changes(app, state)
    return app


# --------------------------------------------------------------------------- helpers


def _ok(data: Any, status: int = 200, additional: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"success": True, "data": data}
    if additional is not None:
        body["additional_data"] = additional
    response = jsonify(body)
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PdError("Request body must be a JSON object")
    return body


def _cost(kind: str) -> None:
    g.pd_cost = COSTS[kind]


def _page(items: list[dict[str, Any]], default_limit: int, max_limit: int) -> tuple[list[dict[str, Any]], str | None]:
    limit = _int(request.args.get("limit"), "limit") or default_limit
    if not 1 <= limit <= max_limit:
        raise PdError(f"limit must be between 1 and {max_limit}")
    offset = _offset(request.args.get("cursor"))
    page = items[offset : offset + limit]
    return page, _cursor(offset + limit) if offset + limit < len(items) else None


def _sorted(items: list[dict[str, Any]], allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    sort_by = request.args.get("sort_by", "id")
    direction = request.args.get("sort_direction", "asc")
    if sort_by not in allowed or direction not in ("asc", "desc"):
        raise PdError("Invalid sort_by or sort_direction")

    def key(record: dict[str, Any]) -> Any:
        value = record.get(sort_by)
        return (value is None, int(record["id"]) if sort_by == "id" else (value or ""), int(record["id"]))

    return sorted(items, key=key, reverse=direction == "desc")


def _filter(resource: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    args = request.args
    if resource in UPDATED_SINCE:
        if args.get("updated_since"):
            since = _parse_time(args["updated_since"], "updated_since")
            items = [r for r in items if _parse_time(r["update_time"], "update_time") >= since]
        if args.get("updated_until"):
            until = _parse_time(args["updated_until"], "updated_until")
            items = [r for r in items if _parse_time(r["update_time"], "update_time") < until]
    if args.get("ids"):
        wanted = {int(i) for i in args["ids"].split(",") if i.strip().isdigit()}
        items = [r for r in items if int(r["id"]) in wanted]
    for key in ("owner_id", "org_id", "person_id", "deal_id", "stage_id", "pipeline_id"):
        if args.get(key) and (resource != "persons" or key in ("owner_id", "org_id")):
            value = _int(args[key], key)
            items = [r for r in items if r.get(key) == value]
    if resource == "deals" and args.get("status"):
        items = [r for r in items if r["status"] == args["status"]]
    if resource == "activities" and args.get("done") in ("true", "false", "1", "0"):
        done = args["done"] in ("true", "1")
        items = [r for r in items if r["done"] is done]
    return items


def _guarded(view: Callable[..., Response]) -> Callable[..., Response]:
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except PdError as exc:
            return error(400, "bad_request", str(exc))

    wrapper.__name__ = view.__name__
    return wrapper


# --------------------------------------------------------------------------- routes


def _register_entities(app: Flask, state: PdState) -> None:
    store, cfg = state.store, state.config
    sort_keys = {
        "products": ("id", "name", "add_time", "update_time"),
        "activities": ("id", "update_time", "add_time", "due_date"),
    }

    def make(resource: str) -> None:
        @_guarded
        def list_records() -> Response:
            _cost("list")
            items = _sorted(
                _filter(resource, store.list(resource)), sort_keys.get(resource, ("id", "update_time", "add_time"))
            )
            page, next_cursor = _page(items, cfg.default_limit, cfg.max_limit)
            return _ok([state.render(resource, r) for r in page], additional={"next_cursor": next_cursor})

        @_guarded
        def create() -> Response:
            _cost("create")
            record = store.create(resource, state.normalize(resource, _body(), None))
            if resource == "products":
                record = (
                    store.update(
                        resource,
                        record["id"],
                        lambda r: {**r, "prices": [{**p, "product_id": int(r["id"])} for p in r["prices"]]},
                    )
                    or record
                )
            rendered = state.render(resource, record)
            state.emit(resource, "create", rendered, None, "api")
            return _ok(rendered, 201 if resource == "products" else 200)

        @_guarded
        def read(record_id: int) -> Response:
            _cost("get")
            record = store.get(resource, record_id)
            if record is None:
                return error(404, "not_found", "Not found")
            return _ok(state.render(resource, record))

        @_guarded
        def update(record_id: int) -> Response:
            _cost("update")
            return _apply_update(state, resource, record_id, _body(), "api")

        @_guarded
        def delete(record_id: int) -> Response:
            _cost("delete")
            return _apply_delete(state, resource, record_id, "api")

        app.add_url_rule(f"{API}/{resource}", f"{resource}_list", list_records, methods=["GET"])
        app.add_url_rule(f"{API}/{resource}", f"{resource}_create", create, methods=["POST"])
        app.add_url_rule(f"{API}/{resource}/<int:record_id>", f"{resource}_read", read, methods=["GET"])
        app.add_url_rule(f"{API}/{resource}/<int:record_id>", f"{resource}_update", update, methods=["PATCH"])
        app.add_url_rule(f"{API}/{resource}/<int:record_id>", f"{resource}_delete", delete, methods=["DELETE"])

    for resource in ENTITIES:
        make(resource)


def _apply_update(state: PdState, resource: str, record_id: int, body: dict[str, Any], source: str) -> Response:
    before = state.store.get(resource, record_id)
    if before is None:
        return error(404, "not_found", "Not found")
    fields = state.normalize(resource, body, before)
    after = state.store.update(resource, record_id, lambda current: {**current, **fields})
    assert after is not None
    rendered, old = state.render(resource, after), state.render(resource, before)
    previous = {
        k: old.get(k) for k in set(old) | set(rendered) if k not in ("update_time",) and old.get(k) != rendered.get(k)
    }
    if previous:
        state.emit(resource, "change", rendered, previous, source)
    return _ok(rendered)


def _apply_delete(state: PdState, resource: str, record_id: int, source: str) -> Response:
    removed = state.store.delete(resource, record_id)
    if removed is None:
        return error(404, "not_found", "Not found")
    if resource == "deals":
        for attached in state.deal_products(record_id):
            state.store.delete("deal_products", attached["id"])
    state.emit(resource, "delete", None, state.render(resource, removed), source)
    return _ok({"id": record_id})


def _register_deal_products(app: Flask, state: PdState) -> None:
    store, cfg = state.store, state.config

    def render(product: dict[str, Any]) -> dict[str, Any]:
        return {**state.render("deal_products", product), "deal_id": product["deal_id"]}

    @_guarded
    def list_products(deal_id: int) -> Response:
        _cost("list")
        if store.get("deals", deal_id) is None:
            return error(404, "not_found", "Deal not found")
        items = _sorted(state.deal_products(deal_id), ("id", "add_time", "update_time", "order_nr"))
        page, next_cursor = _page(items, cfg.default_limit, cfg.max_limit)
        return _ok([render(p) for p in page], additional={"next_cursor": next_cursor})

    @_guarded
    def add_product(deal_id: int) -> Response:
        _cost("create")
        if store.get("deals", deal_id) is None:
            return error(404, "not_found", "Deal not found")
        created = store.create("deal_products", state.normalize_deal_product(deal_id, _body(), None))
        state.recompute_deal(deal_id, "api")
        return _ok(render(created), 201)

    @_guarded
    def update_product(deal_id: int, attachment_id: int) -> Response:
        _cost("update")
        current = store.get("deal_products", attachment_id)
        if current is None or current["deal_id"] != deal_id:
            return error(404, "not_found", "Deal product not found")
        fields = state.normalize_deal_product(deal_id, _body(), current)
        updated = store.update("deal_products", attachment_id, lambda p: {**p, **fields})
        state.recompute_deal(deal_id, "api")
        return _ok(render(updated or current))

    @_guarded
    def delete_product(deal_id: int, attachment_id: int) -> Response:
        _cost("delete")
        current = store.get("deal_products", attachment_id)
        if current is None or current["deal_id"] != deal_id:
            return error(404, "not_found", "Deal product not found")
        store.delete("deal_products", attachment_id)
        state.recompute_deal(deal_id, "api")
        return _ok({"id": attachment_id})

    @_guarded
    def products_of_deals() -> Response:
        _cost("list")
        raw_ids = request.args.getlist("deal_ids")
        ids = {_int(part, "deal_ids") for raw in raw_ids for part in raw.split(",") if part.strip()}
        if not ids:
            raise PdError("deal_ids is required")
        if len(ids) > 100:
            raise PdError("at most 100 deal_ids")
        items = [p for p in store.list("deal_products") if p["deal_id"] in ids]
        items = _sorted(items, ("id", "deal_id", "add_time", "update_time", "order_nr"))
        page, next_cursor = _page(items, cfg.default_limit, cfg.max_limit)
        return _ok([render(p) for p in page], additional={"next_cursor": next_cursor})

    path = f"{API}/deals/<int:deal_id>/products"
    app.add_url_rule(f"{API}/deals/products", "deal_products_many", products_of_deals, methods=["GET"])
    app.add_url_rule(path, "deal_products_list", list_products, methods=["GET"])
    app.add_url_rule(path, "deal_products_add", add_product, methods=["POST"])
    app.add_url_rule(f"{path}/<int:attachment_id>", "deal_products_update", update_product, methods=["PATCH"])
    app.add_url_rule(f"{path}/<int:attachment_id>", "deal_products_delete", delete_product, methods=["DELETE"])


def _register_search(app: Flask, state: PdState) -> None:
    store, cfg = state.store, state.config
    searchable = {
        "persons": ("custom_fields", "email", "notes", "phone", "name"),
        "organizations": ("address", "custom_fields", "notes", "name"),
        "products": ("code", "custom_fields", "name"),
        "deals": ("custom_fields", "notes", "title"),
    }

    def texts(resource: str, record: dict[str, Any], field_name: str) -> list[str]:
        if field_name == "custom_fields":
            return [str(v) for v in (record.get("custom_fields") or {}).values() if v not in (None, "")]
        if field_name == "email":
            return [e["value"] for e in record.get("emails") or []]
        if field_name == "phone":
            return [p["value"] for p in record.get("phones") or []]
        if field_name == "address":
            return [str((record.get("address") or {}).get("value") or "")]
        if field_name == "notes":
            return []
        return [str(record.get(field_name) or "")]

    def item(resource: str, record: dict[str, Any]) -> dict[str, Any]:
        owner = {"id": record.get("owner_id")}
        custom = [str(v) for v in (record.get("custom_fields") or {}).values() if v not in (None, "")]
        if resource == "persons":
            org = store.get("organizations", record["org_id"]) if record.get("org_id") else None
            out = {
                "id": int(record["id"]),
                "type": "person",
                "name": record["name"],
                "phones": texts(resource, record, "phone"),
                "emails": texts(resource, record, "email"),
                "visible_to": record.get("visible_to"),
                "owner": owner,
                "custom_fields": custom,
                "notes": [],
            }
            if org:
                out["organization"] = {"id": int(org["id"]), "name": org["name"]}
            return out
        if resource == "organizations":
            return {
                "id": int(record["id"]),
                "type": "organization",
                "name": record["name"],
                "address": (record.get("address") or {}).get("value"),
                "visible_to": record.get("visible_to"),
                "owner": owner,
                "custom_fields": custom,
                "notes": [],
            }
        if resource == "products":
            return {
                "id": int(record["id"]),
                "type": "product",
                "name": record["name"],
                "code": record.get("code"),
                "visible_to": record.get("visible_to"),
                "owner": owner,
                "custom_fields": custom,
            }
        person = store.get("persons", record["person_id"]) if record.get("person_id") else None
        org = store.get("organizations", record["org_id"]) if record.get("org_id") else None
        return {
            "id": int(record["id"]),
            "type": "deal",
            "title": record["title"],
            "value": int(record.get("value") or 0),
            "currency": record.get("currency"),
            "status": record.get("status"),
            "visible_to": record.get("visible_to"),
            "owner": owner,
            "stage": {"id": record.get("stage_id"), "name": "Qualified"},
            "person": {"id": int(person["id"]), "name": person["name"]} if person else None,
            "organization": {"id": int(org["id"]), "name": org["name"]} if org else None,
            "custom_fields": custom,
            "notes": [],
        }

    def make(resource: str) -> None:
        @_guarded
        def search() -> Response:
            _cost("search")
            args = request.args
            term = (args.get("term") or "").strip()
            exact = args.get("exact_match") in ("true", "1")
            if len(term) < (1 if exact else 2):
                raise PdError("term must be at least 2 characters long (1 with exact_match)")
            wanted = [f for f in (args.get("fields") or ",".join(searchable[resource])).split(",") if f]
            if any(f not in searchable[resource] for f in wanted):
                raise PdError("Invalid fields")
            scope = {"person_id": args.get("person_id"), "org_id": args.get("organization_id")}
            hits = []
            for record in store.list(resource):
                if (
                    resource in ("deals", "persons")
                    and scope["org_id"]
                    and str(record.get("org_id")) != str(scope["org_id"])
                ):
                    continue
                if (
                    resource == "deals"
                    and scope["person_id"]
                    and str(record.get("person_id")) != str(scope["person_id"])
                ):
                    continue
                values = [v.lower() for f in wanted for v in texts(resource, record, f)]
                needle = term.lower()
                if any(v == needle if exact else needle in v for v in values):
                    score = 1.0 if needle in values else 0.5
                    hits.append({"result_score": score, "item": _clean(item(resource, record))})
            hits.sort(key=lambda h: -h["result_score"])
            page, next_cursor = _page(hits, cfg.default_limit, cfg.max_limit)
            return _ok({"items": page}, additional={"next_cursor": next_cursor})

        app.add_url_rule(f"{API}/{resource}/search", f"{resource}_search", search, methods=["GET"])

    for resource in searchable:
        make(resource)


def _register_webhooks(app: Flask, state: PdState) -> None:
    store, cfg = state.store, state.config

    def render(hook: dict[str, Any]) -> dict[str, Any]:
        return {**hook, "id": int(hook["id"])}

    @_guarded
    def list_hooks() -> Response:
        _cost("list")
        return jsonify({"success": True, "status": "ok", "data": [render(h) for h in store.list("webhooks")]})

    @_guarded
    def create_hook() -> Response:
        _cost("create")
        body = _body()
        url = body.get("subscription_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PdError("subscription_url must be a valid URL")
        if body.get("event_action") not in WEBHOOK_ACTIONS or body.get("event_object") not in WEBHOOK_OBJECTS:
            raise PdError("Invalid event_action or event_object")
        version = str(body.get("version") or "1.0")
        if version not in ("1.0", "2.0"):
            raise PdError("version must be 1.0 or 2.0")
        created = store.create(
            "webhooks",
            {
                "company_id": cfg.company_id,
                "owner_id": cfg.user_id,
                "user_id": body.get("user_id") or cfg.user_id,
                "event_action": body["event_action"],
                "event_object": body["event_object"],
                "subscription_url": url,
                "is_active": 1,
                "add_time": now_stamp(),
                "remove_time": None,
                "type": "general",
                "http_auth_user": body.get("http_auth_user"),
                "http_auth_password": body.get("http_auth_password"),
                "remove_reason": None,
                "last_delivery_time": None,
                "last_http_status": None,
                "admin_id": cfg.user_id,
                "version": version,
            },
        )
        response = jsonify({"success": True, "status": "ok", "data": render(created)})
        response.status_code = 201
        return response

    @_guarded
    def delete_hook(hook_id: int) -> Response:
        _cost("delete")
        if store.delete("webhooks", hook_id) is None:
            return error(404, "not_found", "Webhook not found")
        return jsonify({"success": True, "status": "ok"})

    app.add_url_rule("/v1/webhooks", "webhooks_list", list_hooks, methods=["GET"])
    app.add_url_rule("/v1/webhooks", "webhooks_create", create_hook, methods=["POST"])
    app.add_url_rule("/v1/webhooks/<int:hook_id>", "webhooks_delete", delete_hook, methods=["DELETE"])


def _register_app_changes(app: Flask, state: PdState) -> None:
    """``/_sim/app/<resource>[/<id>]``: a user changing data in Pipedrive's UI
    (``change_source: "app"`` webhooks; no auth, limits or costs)."""

    @_guarded
    def app_create(resource: str) -> Response:
        if resource not in ENTITIES:
            return error(404, "not_found", "Unknown resource")
        record = state.store.create(resource, state.normalize(resource, _body(), None))
        rendered = state.render(resource, record)
        state.emit(resource, "create", rendered, None, "app")
        return _ok(rendered, 201)

    @_guarded
    def app_update(resource: str, record_id: int) -> Response:
        if resource not in ENTITIES:
            return error(404, "not_found", "Unknown resource")
        return _apply_update(state, resource, record_id, _body(), "app")

    @_guarded
    def app_delete(resource: str, record_id: int) -> Response:
        if resource not in ENTITIES:
            return error(404, "not_found", "Unknown resource")
        return _apply_delete(state, resource, record_id, "app")

    app.add_url_rule("/_sim/app/<resource>", "app_create", app_create, methods=["POST"])
    app.add_url_rule("/_sim/app/<resource>/<int:record_id>", "app_update", app_update, methods=["PATCH"])
    app.add_url_rule("/_sim/app/<resource>/<int:record_id>", "app_delete", app_delete, methods=["DELETE"])
