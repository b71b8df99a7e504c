"""Bling (API v3): contatos (customers), produtos, pedidos de venda (sales); OAuth2 with
rotating refresh tokens; signed webhooks."""

from crmhub.providers.bling.client import DEFAULT_BASE_URL, DEFAULT_RATE_LIMIT, BlingProvider, StaticToken
from crmhub.providers.bling.oauth import BlingOAuth, RefreshLock, TokenManager, TokenPair
from crmhub.providers.bling.webhooks import parse_webhook

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_LIMIT",
    "BlingOAuth",
    "BlingProvider",
    "RefreshLock",
    "StaticToken",
    "TokenManager",
    "TokenPair",
    "parse_webhook",
]
