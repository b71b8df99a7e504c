"""Domain exceptions → HTTP, in one place. Every error body has the same shape:
``{"error": {"code": <machine-readable>, "message": <human>, "details"|"fields": …}}``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from crmhub.errors import (
    Conflict,
    Forbidden,
    HubError,
    InvalidInput,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from crmhub.observability import logger

_STATUS: list[tuple[type[HubError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (PermanentError, 422),
    (TransientError, 503),
]


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """A JSON error response."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, **extra}},
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        message = str(err.get("msg", "invalid"))
        ctx_error = (err.get("ctx") or {}).get("error")
        if ctx_error is not None:
            message = str(ctx_error)
        fields.append(
            {
                "field": ".".join(loc) or "body",
                "message": message.removeprefix("Value error, "),
                "type": err.get("type"),
            }
        )
    return fields


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map validation and domain errors to 4xx/5xx JSON answers."""

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response:
        fields = _field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(422, "validation_error", f"request is not valid: {summary}", fields=fields)

    @app.exception_handler(HubError)
    def _domain(exc: HubError) -> Response:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        if status >= 500:
            logger.warning("request_failed", extra={"code": exc.code})
        return error_response(status, exc.code, exc.message, details=exc.details)
