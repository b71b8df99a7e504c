"""Sync worker function: SQS FIFO lanes → provider APIs, under each connection's rate budget."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from crmhub import bootstrap
from crmhub.observability import logger, metrics, tracer
from crmhub.sync.worker import SyncWorker

settings = bootstrap.init()
worker = SyncWorker(settings)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """An SQS batch → partial batch response (``batchItemFailures``)."""
    return worker.handle(event, context)
