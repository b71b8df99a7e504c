"""Reconciliation function (EventBridge Scheduler, weekly): a full scan of every enabled
connection and entity, whatever the provider's changed-since support: finds what
incremental imports and webhooks missed, deletions included."""

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
    """Start a full-scan run per connection and entity."""
    return schedule_imports(queue=queue, full=True)
