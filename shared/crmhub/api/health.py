"""``/health``: is the API up."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from crmhub import __version__

router = APIGatewayRouter()


@router.get("/health", summary="Liveness", tags=["health"])
def health() -> dict[str, str]:
    """Answers without touching any dependency."""
    return {"status": "ok", "version": __version__}
