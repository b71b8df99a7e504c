"""Inbound provider webhooks: ``POST /webhooks/<provider>/<store>``.

No provider's webhook is wired yet: every delivery is answered 404 ``unknown_provider``
and counted (GestãoClick documents no webhooks; its changes arrive by scheduled import).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from crmhub.observability import metrics


def register_routes(app: APIGatewayRestResolver) -> None:
    """Add the webhook route."""

    @app.post("/webhooks/<provider>/<store_id>")
    def receive(provider: str, store_id: str) -> Response:
        metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
        return Response(
            status_code=404,
            content_type=content_types.APPLICATION_JSON,
            body={"error": {"code": "unknown_provider", "message": f"no webhooks for provider {provider!r}"}},
        )
