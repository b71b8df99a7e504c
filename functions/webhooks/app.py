"""Webhook function: provider webhooks → verified, stored, enqueued (no provider calls)."""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from crmhub import bootstrap
from crmhub.observability import logger, metrics, tracer
from crmhub.webhooks import register_routes

bootstrap.init()
app = APIGatewayRestResolver()
register_routes(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """API Gateway REST proxy event → verify → store → enqueue → fast 2xx."""
    return app.resolve(event, context)
