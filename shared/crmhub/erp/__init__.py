"""The business's own system (the ERP) as seen by the hub: its REST API client."""

from crmhub.erp.client import ErpClient, ErpPage

__all__ = ["ErpClient", "ErpPage"]
