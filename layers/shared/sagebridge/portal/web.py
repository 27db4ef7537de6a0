"""The tenant portal's requests and answers: a signed link opens a session (a signed cookie bound to
one tenant and one role), and each page reads or changes that tenant only, through the admin
service (the same checks, validation and versioning as the admin API).

Every answer carries the security headers (`security_headers`). Every POST needs the session's
CSRF token; a viewer's POST is refused. A tenant id in a URL that is not the session's is "not found".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sagebridge.admin.fixes import ago, plural
from sagebridge.admin.service import Admin
from sagebridge.domain.errors import ConflictError
from sagebridge.security.portal import SESSION_TTL, PortalClaims, PortalSigner, PortalTokenError, tenant_binding

COOKIE = "sb_portal"
_LINK_USED_PREFIX = "portal-link."  # the opened-link marker's key among the OAuth states
PREFIX = "/portal"
HERE = Path(__file__).parent
PAGES = (("overview", "Overview"), ("log", "Sync log"), ("mappings", "Mappings"), ("settings", "Settings"),
         ("connection", "Connection"), ("deliveries", "Deliveries"))

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["plural"] = plural
_env.globals["PAGES"] = PAGES


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, list[str]] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    base_url: str = ""  # the API's public base (connect links)

    def one(self, name: str, default: str = "") -> str:
        values = self.form.get(name) or []
        return values[0].strip() if values else default

    def many(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name) or []]


@dataclass
class Reply:
    status: int
    body: str = ""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[Cookie] = field(default_factory=list)


HSTS = "max-age=31536000; includeSubDomains"


def security_headers(frame_ancestors: str, *, https: bool = True) -> dict[str, str]:
    """On every answer: no script at all (the pages work without it), styles and images from the
    portal only, forms post to the portal only, framed only by the deployment's host app."""
    csp = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; img-src 'self' data:; "
           f"style-src 'self'; form-action 'self'; frame-ancestors {frame_ancestors}")
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store", "X-Frame-Options": "DENY" if frame_ancestors.strip() == "'none'" else "",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Strict-Transport-Security": HSTS if https else ""}  # not on the local stack's plain http


class Refused(Exception):
    """An answer other than the page: not signed in, another tenant, a viewer changing, no CSRF token."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass
class Portal:
    admin: Admin
    key: Callable[[], str]  # the portal signing key (read from the settings secret on first use)
    frame_ancestors: str = "'none'"
    https: bool = True  # False on the local stack (plain http): no Strict-Transport-Security
    session_ttl: timedelta = SESSION_TTL
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _signer: PortalSigner | None = None

    @property
    def signer(self) -> PortalSigner:
        if self._signer is None:
            self._signer = PortalSigner(self.key())
        return self._signer

    # ---- answers

    def finish(self, reply: Reply) -> Reply:
        headers = {k: v for k, v in security_headers(self.frame_ancestors, https=self.https).items() if v}
        reply.headers = {**headers, **reply.headers}
        return reply

    def render(self, template: str, code: int = 200, **context: Any) -> Reply:
        now = self.clock()
        body = _env.get_template(template).render(now=now, ago=lambda t: ago(t, now), **context)
        return Reply(code, body)

    def refused(self, exc: Refused, session: PortalClaims | None = None) -> Reply:
        return self.render("message.html", exc.status, title=exc.title, message=exc.message, session=session)

    def redirect(self, location: str, *, cookies: list[Cookie] | None = None) -> Reply:
        return Reply(303, "", "text/plain", {"Location": location}, cookies or [])

    # ---- sessions

    def _current(self, claims: PortalClaims) -> bool:
        """The link or session was issued for the tenant as it is now: not for a deleted tenant of the
        same id, nor before its portal sessions were revoked."""
        tenant = self.admin.store.tenants.find(claims.tenant_id)
        return tenant is not None and claims.binding == tenant_binding(tenant.created_at, tenant.portal_epoch)

    def _spend(self, link: PortalClaims) -> bool:
        """Mark the link opened, once (a conditional put among the OAuth states, as connect links are
        spent); False if it was opened before."""
        left = max(link.expires_at - self.clock(), timedelta(0)) + timedelta(minutes=1)
        try:
            self.admin.store.oauth_states.put(_LINK_USED_PREFIX + link.nonce,
                                              {"tenant_id": link.tenant_id, "purpose": "portal_link_used"}, ttl=left)
        except ConflictError:
            return False
        return True

    def open(self, req: Request) -> Reply:
        """GET /portal/open?token=...: the link becomes a session cookie, and the token leaves the URL."""
        try:
            link = self.signer.verify(req.query.get("token"), purpose="link", now=self.clock())
        except PortalTokenError as exc:
            expired = exc.reason == "expired"
            return self.refused(Refused(
                403, "This link has expired" if expired else "This link is not valid",
                ("Portal links work for a few minutes. " if expired else "")
                + "Open the portal again from your business app to get a fresh link."))
        if not self._current(link):
            return self.refused(Refused(403, "This link is no longer valid",
                                        "The portal sessions of this account were ended after the link was made. "
                                        "Open the portal again from your business app to get a fresh link."))
        if not self._spend(link):
            return self.refused(Refused(403, "This link was already used",
                                        "Each portal link opens once: ask the host app for a new one (open the "
                                        "portal again from your business app)."))
        cookie, session = self.signer.session(link, now=self.clock(), ttl=self.session_ttl)
        # Lax, not Strict: the first page after the link (a cross-site navigation from the host app) needs it.
        set_cookie = Cookie(COOKIE, cookie, path=PREFIX, max_age=int(self.session_ttl.total_seconds()), secure=True,
                            http_only=True, same_site=SameSite.LAX_MODE)
        return self.redirect(self.url(session.tenant_id), cookies=[set_cookie])

    def session(self, req: Request, tenant_id: str, *, change: bool = False) -> PortalClaims:
        """The request's session for `tenant_id`; Refused when there is none, it is another tenant's,
        or (`change`) it is a viewer's or the CSRF token is missing or wrong."""
        try:
            claims = self.signer.verify(req.cookies.get(COOKIE), purpose="session", now=self.clock())
        except PortalTokenError as exc:
            title = "Your session has ended" if exc.reason == "expired" or COOKIE not in req.cookies \
                else "You are not signed in"
            raise Refused(401, title, "Open the portal again from your business app.") from None
        if claims.tenant_id != tenant_id:
            raise Refused(404, "Not found", "There is no such page.")
        if not self._current(claims):
            raise Refused(401, "Your session has ended", "Open the portal again from your business app.")
        if change:
            if not claims.csrf_ok(req.one("csrf")):
                raise Refused(403, "This change was refused",
                              "The form was missing its security token (it may be from an old page or another "
                              "site). Reload the page and try again.")
            if not claims.can_change:
                raise Refused(403, "You can look but not change",
                              "Your link lets you see this account, not change it. Ask your administrator.")
        return claims

    @staticmethod
    def url(tenant_id: str, page: str = "") -> str:
        base = f"{PREFIX}/t/{quote(tenant_id, safe='')}"
        return f"{base}/{page}" if page else base


__all__ = ["COOKIE", "PREFIX", "Portal", "Refused", "Reply", "Request", "security_headers"]
