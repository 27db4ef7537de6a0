"""Sage Bridge: the shared layer. Domain models, Sage connectors, the DynamoDB store and the sync engines."""
