"""Scheduled import function (EventBridge Scheduler, every 10 minutes): one import run per
enabled connection and entity; the pages themselves are worked by the sync worker."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from crmhub import bootstrap
from crmhub.imports import schedule_imports
from crmhub.observability import logger, metrics, tracer
from crmhub.queueing import SyncQueue

settings = bootstrap.init()
queue = SyncQueue(settings)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """Start the runs (a run still in progress is left alone)."""
    return schedule_imports(queue=queue)
