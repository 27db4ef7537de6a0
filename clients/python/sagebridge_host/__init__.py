"""Sage Bridge for host-app developers: sign what you send, verify what you receive, typed events
and the retry rules of both directions. Standard library only. docs/host-integration.md is the contract."""

from sagebridge_host.retry import DeliveryReply, should_retry_webhook
from sagebridge_host.signing import (
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    signed_headers,
    standard_webhooks_secret,
    verify,
    verify_delivery,
    verify_standard_webhooks,
)

__all__ = ["SIGNATURE_HEADER", "DeliveryReply", "SignatureError", "should_retry_webhook", "sign", "signed_headers",
           "standard_webhooks_secret", "verify", "verify_delivery", "verify_standard_webhooks"]
