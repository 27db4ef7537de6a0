"""Errors every layer speaks. The store maps DynamoDB's ClientError codes onto these; connectors map
Sage's HTTP errors onto their own subclasses in connectors.base."""


class SageBridgeError(Exception):
    """Base of every error Sage Bridge raises on purpose."""


class NotFoundError(SageBridgeError):
    """The thing asked for does not exist (for this tenant)."""


class ConflictError(SageBridgeError):
    """A conditional write lost: someone else changed or holds the item (lease held, ledger claimed,
    stale version)."""


class ThrottledError(SageBridgeError):
    """The backing service asked us to slow down; the caller may retry later."""


class ConfigurationError(SageBridgeError):
    """The deployment or the tenant is missing something it needs; the message names it."""
