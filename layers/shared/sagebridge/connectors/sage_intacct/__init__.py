"""Sage Intacct (XML gateway, dtdversion 3.0): client, Connector implementation, mapper, feed."""

from sagebridge.connectors.sage_intacct.client import IntacctClient, IntacctCredentials
from sagebridge.connectors.sage_intacct.connector import IntacctConnector

__all__ = ["IntacctClient", "IntacctConnector", "IntacctCredentials"]
