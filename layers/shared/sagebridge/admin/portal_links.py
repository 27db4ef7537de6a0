"""Portal links for the host app (POST /admin/tenants/{id}/portal-links, `sagebridge portal-url`):
a signed, expiring link that opens the tenant portal for one tenant as a viewer or an admin, and
optionally names the host app page to return to, which must be on the deployment's allow-list."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sagebridge.admin.models import Problem, SettingsInvalid
from sagebridge.security.portal import PortalSigner
from sagebridge.sync.products import SageProducts

OPEN_PATH = "/portal/open"


class PortalLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["viewer", "admin"] = Field(default="viewer", description="viewer reads; admin also changes")
    minutes: int | None = Field(default=None, ge=1, le=1440,
                                description="how long the link can wait to be opened (default: the deployment's)")
    return_url: str | None = Field(default=None, max_length=2000,
                                   description="the host app page to go back to; must be on PORTAL_RETURN_URLS")


class PortalLink(BaseModel):
    tenant_id: str
    role: Literal["viewer", "admin"]
    url: str
    expires_at: datetime


class PortalSessionsRevoked(BaseModel):
    tenant_id: str
    revoked_at: datetime
    message: str


def allowed_return_url(url: str, allowed: Iterable[str]) -> bool:
    """`url` is https (or http on localhost), and starts with one of the `allowed` prefixes at the
    same origin: an allow-listed host app page, never a lookalike host or another scheme."""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local) or not parts.netloc:
        return False
    if parts.username or parts.password or any(c in url for c in "\\\r\n\t "):
        return False
    for prefix in allowed:
        p = urlsplit(prefix)
        if (p.scheme, p.netloc.lower()) != (parts.scheme, parts.netloc.lower()):
            continue
        base = (p.path or "/").rstrip("/")
        if not base or parts.path == base or parts.path.startswith(base + "/"):
            return True
    return False


def split_allow_list(text: str) -> tuple[str, ...]:
    return tuple(u for u in text.replace(",", " ").split() if u)


@dataclass
class PortalLinks:
    """What issues portal links: the signer, the return URL allow-list and the default lifetime."""

    key: Callable[[], str]  # the portal signing key, read from the settings secret when first needed
    return_urls: tuple[str, ...] = ()
    default_ttl: timedelta = timedelta(minutes=10)

    @classmethod
    def of(cls, products: SageProducts) -> PortalLinks:
        """The deployment's: its PORTAL_* settings, and the settings secret's portal key (read when a
        link is first made)."""
        settings = products.settings
        return cls(key=lambda: products.integration_secrets().portal_key(),
                   return_urls=split_allow_list(settings.portal_return_urls),
                   default_ttl=timedelta(minutes=settings.portal_link_ttl_minutes))

    def issue(self, tenant_id: str, body: PortalLinkRequest, *, base_url: str, now: datetime,
              binding: str = "") -> PortalLink:
        if body.return_url is not None and not allowed_return_url(body.return_url, self.return_urls):
            why = ("is not on this deployment's allow-list (PORTAL_RETURN_URLS)" if self.return_urls else
                   "cannot be used: this deployment allows no return URLs (set PORTAL_RETURN_URLS)")
            raise SettingsInvalid([Problem(field="return_url", message=why)], title=f"return_url {why}")
        ttl = timedelta(minutes=body.minutes) if body.minutes else self.default_ttl
        token, claims = PortalSigner(self.key()).link(tenant_id, body.role, now=now, ttl=ttl,
                                                      return_url=body.return_url, binding=binding)
        return PortalLink(tenant_id=tenant_id, role=body.role, expires_at=claims.expires_at,
                          url=f"{base_url.rstrip('/')}{OPEN_PATH}?{urlencode({'token': token})}")


__all__ = ["OPEN_PATH", "PortalLink", "PortalLinkRequest", "PortalLinks", "PortalSessionsRevoked", "allowed_return_url",
           "split_allow_list"]
