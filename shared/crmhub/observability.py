"""Powertools Logger, Tracer and Metrics shared by every function (service ``crmhub``).

Log records carry ids, statuses and counts only: never names, e-mails, phones,
documents or message text (LGPD).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="crmhub")
metrics = Metrics(namespace="CrmHub", service="crmhub")
tracer = Tracer(service="crmhub")
