"""The REST API (Powertools Event Handler with OpenAPI validation)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from crmhub import __version__


def create_app() -> APIGatewayRestResolver:
    """The API with every router, error mapping, OpenAPI at /openapi.json and Swagger UI at /docs."""
    from crmhub.api import changes, conflicts, console, dead_letters, health, stores, sync
    from crmhub.api.errors import register_error_handlers

    app = APIGatewayRestResolver(enable_validation=True)
    register_error_handlers(app)
    app.include_router(health.router)
    app.include_router(changes.router)
    app.include_router(stores.router)
    app.include_router(sync.router)
    app.include_router(conflicts.router)
    app.include_router(dead_letters.router)
    app.include_router(console.router)
    app.enable_swagger(path="/docs", title="crmhub API", version=__version__)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict:
        import json

        return json.loads(app.get_openapi_json_schema(title="crmhub API", version=__version__))

    return app
