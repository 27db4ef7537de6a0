"""Sage Business Cloud Accounting regional API v2.0.0 (AU / NZ / ZA / Asia): client, Connector, mapper, feed."""

from sagebridge.connectors.sage_regional.client import RegionalClient, RegionalLogin
from sagebridge.connectors.sage_regional.connector import RegionalConnector

__all__ = ["RegionalClient", "RegionalConnector", "RegionalLogin"]
