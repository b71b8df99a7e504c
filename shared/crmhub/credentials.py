"""Provider credentials in AWS Secrets Manager (never in DynamoDB, never logged).

One secret per connection, ``<prefix>/<store>/<provider>``, holding a JSON object whose
shape the provider defines (API tokens, OAuth pairs). Reads go through Powertools
Parameters, cached per container for ``max_age`` seconds.
"""

from __future__ import annotations

import json
from typing import Any

from crmhub.errors import NotFound
from crmhub.settings import HubSettings, get_settings

ERP_SECRET = "erp"  # noqa: S105 - the name of the ERP's secret, not a secret


class CredentialStore:
    """Reads and writes connection secrets."""

    def __init__(self, settings: HubSettings | None = None, *, client: Any = None, provider: Any = None) -> None:
        self._settings = settings or get_settings()
        self._client = client
        self._provider = provider

    def secret_name(self, store_id: str, provider: str) -> str:
        """The secret's name."""
        return f"{self._settings.secrets_prefix}/{store_id}/{provider}"

    def get(self, store_id: str, provider: str, *, fresh: bool = False) -> dict[str, Any]:
        """The connection's credentials (cached; ``fresh`` skips the cache)."""
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._secrets().get(
                self.secret_name(store_id, provider),
                transform="json",
                max_age=0 if fresh else self._settings.credentials_cache_seconds,
                force_fetch=fresh,
            )
        except GetParameterError:
            raise NotFound(
                f"no credentials stored for the {provider} connection",
                details={"store_id": store_id, "provider": provider},
            ) from None
        return dict(value)

    def put(self, store_id: str, provider: str, credentials: dict[str, Any]) -> None:
        """Create or replace the connection's credentials."""
        client = self._boto()
        name = self.secret_name(store_id, provider)
        body = json.dumps(credentials)
        try:
            client.put_secret_value(SecretId=name, SecretString=body)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=body)

    def _boto(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager", region_name=self._settings.aws_region)
        return self._client

    def _secrets(self) -> Any:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(boto3_client=self._boto())
        return self._provider
