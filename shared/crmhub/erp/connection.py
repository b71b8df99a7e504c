"""Building the ERP client of a store: URL on the store record, token in Secrets Manager."""

from __future__ import annotations

from crmhub.credentials import ERP_SECRET, CredentialStore
from crmhub.erp.client import ErpClient
from crmhub.errors import PermanentError
from crmhub.storage.stores import StoreRecord


def erp_client_for(store: StoreRecord, credentials: CredentialStore) -> ErpClient:
    """The store's ERP client, or :class:`PermanentError` if the ERP is not configured."""
    if not store.erp_base_url:
        raise PermanentError(f"store {store.store_id!r} has no ERP API configured")
    token = credentials.get(store.store_id, ERP_SECRET).get("token")
    if not token:
        raise PermanentError("the ERP credentials have no token")
    return ErpClient(store.erp_base_url, str(token), store.store_id)
