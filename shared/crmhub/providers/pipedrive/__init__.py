"""Pipedrive (API v2): persons/organizations (customers), products, deals (sales),
activities; webhooks v2; token-cost rate limits."""

from crmhub.providers.pipedrive.client import DEFAULT_BASE_URL, PipedriveOptions, PipedriveProvider
from crmhub.providers.pipedrive.rate_limits import BURST_WINDOW_S, DEFAULT_BURST_LIMIT, OPERATION_COSTS, Operation
from crmhub.providers.pipedrive.webhooks import parse_webhook, register_webhooks

__all__ = [
    "BURST_WINDOW_S",
    "DEFAULT_BASE_URL",
    "DEFAULT_BURST_LIMIT",
    "OPERATION_COSTS",
    "Operation",
    "PipedriveOptions",
    "PipedriveProvider",
    "parse_webhook",
    "register_webhooks",
]
