"""Sage Accounting (v3.1): HTTP client, Connector implementation and OAuth configuration."""

from sagebridge.connectors.sage_accounting.client import SageAccountingClient, SageAccountingConnector

__all__ = ["SageAccountingClient", "SageAccountingConnector"]
