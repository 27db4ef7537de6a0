"""Sage 200 (Professional / "Extra" and Standard) accounts API v1: client, Connector, mapper, OAuth."""

from sagebridge.connectors.sage200.client import Sage200Client, Sage200Connector

__all__ = ["Sage200Client", "Sage200Connector"]
