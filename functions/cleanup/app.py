"""Cleanup function (EventBridge Scheduler, daily): stale intents, old events, stuck jobs."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from crmhub import bootstrap
from crmhub.cleanup import Cleanup
from crmhub.observability import logger, metrics, tracer
from crmhub.sync.engine import SyncEngine

settings = bootstrap.init()
engine = SyncEngine(settings)

SAFETY_MARGIN_MS = 20_000


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """Run once; stop early (reported) when the function is about to time out."""
    report = Cleanup(engine).run(out_of_time=lambda: context.get_remaining_time_in_millis() < SAFETY_MARGIN_MS)
    return report.as_dict()
