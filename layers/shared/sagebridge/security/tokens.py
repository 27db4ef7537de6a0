"""A tenant's OAuth token set, and its envelope encryption with KMS.

KMS makes a fresh 256-bit data key per seal (GenerateDataKey under TOKEN_KEY_ID) bound to the
encryption context {tenant_id, provider}; the token set is sealed with AES-256-GCM under that key
and only the GCM ciphertext and the KMS-encrypted data key are stored. A record copied onto another
tenant's item cannot be opened: KMS refuses the context and GCM the associated data.

The KMS client is injected (callers take it from `sagebridge.store.aws.AwsClients`): this package
sits below the store and never imports boto3.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, SecretStr

from sagebridge.domain.errors import SageBridgeError

_NONCE_BYTES = 12


class TokenDecryptionError(SageBridgeError):
    """A sealed token set could not be opened (wrong tenant/provider, tampered, wrong key)."""


class TokenSet(BaseModel):
    """Access and refresh tokens of one connection. SecretStr keeps them out of reprs and logs."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: AwareDatetime
    refresh_expires_at: AwareDatetime | None = None
    token_type: str = "bearer"  # noqa: S105 - a token kind, not a secret
    scope: str | None = None

    def expires_within(self, now: datetime, margin: timedelta) -> bool:
        return self.expires_at - margin <= now

    def to_plaintext(self) -> bytes:
        return json.dumps(
            {
                "access_token": self.access_token.get_secret_value(),
                "refresh_token": self.refresh_token.get_secret_value(),
                "expires_at": self.expires_at.isoformat(),
                "refresh_expires_at": self.refresh_expires_at.isoformat() if self.refresh_expires_at else None,
                "token_type": self.token_type,
                "scope": self.scope,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_plaintext(cls, data: bytes) -> TokenSet:
        return cls.model_validate_json(data)


@dataclass(frozen=True)
class SealedTokens:
    """What is stored: AES-GCM nonce+ciphertext and the KMS-encrypted data key. Nothing secret."""

    ciphertext: bytes
    encrypted_key: bytes

    def __repr__(self) -> str:
        return (
            f"SealedTokens(ciphertext=<{len(self.ciphertext)} bytes>, "
            f"encrypted_key=<{len(self.encrypted_key)} bytes>)"
        )


def _context(tenant_id: str, provider: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "provider": provider}


def _aad(tenant_id: str, provider: str) -> bytes:
    return json.dumps(_context(tenant_id, provider), sort_keys=True).encode()


class TokenCipher:
    """Seals and opens token sets for one KMS key."""

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def seal(self, tokens: TokenSet, *, tenant_id: str, provider: str) -> SealedTokens:
        resp = self._kms.generate_data_key(
            KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=_context(tenant_id, provider)
        )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _aesgcm()(resp["Plaintext"]).encrypt(nonce, tokens.to_plaintext(), _aad(tenant_id, provider))
        return SealedTokens(ciphertext=nonce + sealed, encrypted_key=resp["CiphertextBlob"])

    def open(self, sealed: SealedTokens, *, tenant_id: str, provider: str) -> TokenSet:
        try:
            resp = self._kms.decrypt(
                CiphertextBlob=sealed.encrypted_key,
                EncryptionContext=_context(tenant_id, provider),
                KeyId=self._key_id,
            )
            nonce, body = sealed.ciphertext[:_NONCE_BYTES], sealed.ciphertext[_NONCE_BYTES:]
            plaintext = _aesgcm()(resp["Plaintext"]).decrypt(nonce, body, _aad(tenant_id, provider))
        except Exception as exc:  # KMS InvalidCiphertextException, GCM InvalidTag, truncated blobs
            # The cause's text is dropped on purpose: nothing from inside a token set may escape.
            raise TokenDecryptionError(
                f"cannot open the token set of tenant {tenant_id!r} ({provider}): {type(exc).__name__}"
            ) from None
        return TokenSet.from_plaintext(plaintext)


__all__ = ["SealedTokens", "TokenCipher", "TokenDecryptionError", "TokenSet"]


def _aesgcm() -> Any:
    # Imported on first use, not at import: cryptography's cipher modules cost ~70 ms, which functions
    # that never seal or open a token (webhooks, host delivery, the scheduler...) no longer pay.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM
