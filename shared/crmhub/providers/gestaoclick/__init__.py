"""GestãoClick (Betel Tecnologia): clientes, produtos, vendas."""

from crmhub.providers.gestaoclick.client import DEFAULT_BASE_URL, DEFAULT_RATE_LIMIT, GestaoClickProvider

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_RATE_LIMIT", "GestaoClickProvider"]
