"""Scheduled import function (EventBridge Scheduler, every 10 minutes)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from crmhub import bootstrap
from crmhub.imports import plan_imports
from crmhub.observability import logger, metrics, tracer

bootstrap.init()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """Look at every enabled connection and report what an import would cover."""
    return plan_imports()
