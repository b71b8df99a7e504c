"""crmhub's local runtime: the template's API, queues, tables and schedules without Docker.

``LocalHub`` runs moto in server mode, creates the resources ``template.yaml`` declares,
serves the API Gateway routes, polls the SQS event sources and fires the schedules, all
invoking the real Lambda handlers in this process. Run it with ``python -m local.runtime``.
"""

from .api_gateway import ApiGatewayFront, Router, TokenBucket, WsgiServer
from .aws import LocalAws, PortInUseError
from .context import (
    HandlerImportError,
    InvocationResult,
    Invoker,
    LambdaContext,
    LambdaTimeoutError,
    UnknownFunctionError,
)
from .hub import InvocationError, LocalHub
from .schedules import (
    Cron,
    Rate,
    ScheduleExpressionError,
    Scheduler,
    UnknownScheduleError,
    parse_expression,
)
from .sqs_pollers import PollerGroup, SqsPoller
from .template import LocalRuntimeError, TemplateError, TemplateModel, load_template

__all__ = [
    "ApiGatewayFront",
    "Cron",
    "HandlerImportError",
    "InvocationError",
    "InvocationResult",
    "Invoker",
    "LambdaContext",
    "LambdaTimeoutError",
    "LocalAws",
    "LocalHub",
    "LocalRuntimeError",
    "PollerGroup",
    "PortInUseError",
    "Rate",
    "Router",
    "ScheduleExpressionError",
    "Scheduler",
    "SqsPoller",
    "TemplateError",
    "TemplateModel",
    "TokenBucket",
    "UnknownFunctionError",
    "UnknownScheduleError",
    "WsgiServer",
    "load_template",
    "parse_expression",
]
