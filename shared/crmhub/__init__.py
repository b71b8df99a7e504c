"""crmhub: the domain package of the serverless CRM integration hub.

Layers, from the outside in: Lambda handlers (``functions/``) → services in this package
(``sync``, ``changes``) → storage (``storage``, pynamodb) and provider clients
(``providers``, httpx) → canonical models (``models``, pydantic).
"""

__version__ = "0.1.0"
