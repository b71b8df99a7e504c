"""API function: the ERP's and operators' REST API (routes live in ``crmhub.api``)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from crmhub import bootstrap
from crmhub.api import create_app
from crmhub.observability import logger, metrics, tracer

bootstrap.init()
app = create_app()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """API Gateway REST proxy event → route → response."""
    return app.resolve(event, context)
