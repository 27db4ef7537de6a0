"""The browser flow a tenant admin goes through to link their Sage business.

    GET /connect/{tenant}?expires=..&sig=..   -> 302 to Sage (signed single-use state + PKCE S256)
    GET /oauth/callback?code=..&state=..      -> exchange the code, list the user's businesses:
                                                 one: store the connection, success page;
                                                 several: a page to pick one, whose links come back
    GET /oauth/callback?pick=..&business_id=.. -> (signed single-use, holds the sealed tokens) store

The connect link itself is signed (HMAC with the state key), short-lived (`CONNECT_LINK_TTL_MINUTES`,
15 by default) and single-use: the endpoint is public, and without that anyone who knows a tenant id,
or holds a forwarded link, could link their own Sage business to that tenant and receive its
invoices. A link is spent when it is opened (the hop to Sage), not when the connect completes:
spent at completion, a second person opening the same link could still race the first to Sage, and
whoever finished first would win. A fresh link is one admin API call away.

A reconnect to the business already linked just renews the grant. A reconnect to a *different*
business is refused (and logged) unless the link was issued with `allow_business_change` by an
operator (admin API / CLI), so a stolen or stale link cannot move the tenant's books elsewhere.

The flow is bound to the browser that opened the link: the hop to Sage sets a short-lived cookie
holding a random nonce (`browser_nonce` below; the handler writes the cookie) and the signed state
carries its hash. The callback, and the business pick after it, are refused without that cookie, so a
Sage authorize URL passed to someone else (say, another company's accountant) cannot link *their*
Sage business to this tenant: they would finish it in a browser that never opened the link.

Every failure is a page that says what happened and what to do; nothing secret is ever shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sagebridge.connections.lifecycle import ConnectionService
from sagebridge.connectors.base import SageError
from sagebridge.connectors.oauth import OAuthError
from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.observability import logger
from sagebridge.security.oauth_state import (
    StateClaims,
    StateError,
    StateSigner,
    browser_binding,
    browser_matches,
    new_pkce,
)
from sagebridge.security.tokens import TokenSet
from sagebridge.store.oauth_states import OAuthStates
from sagebridge.store.tenants import Tenants

CALLBACK_PATH = "/oauth/callback"
CONNECT_LINK_TTL = timedelta(minutes=15)  # the default of CONNECT_LINK_TTL_MINUTES
_LINK_USED_PREFIX = "connect-link."  # the spent-link marker's key among the OAuth states

# (access token) -> the businesses that token's user can open: [{"id", "name"}]
ListBusinesses = Callable[[str], Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class FlowResult:
    """What the handler sends back: a redirect or an HTML page."""

    status: int
    kind: str  # redirect | success | choose_business | denied | code_rejected | state_tampered |
    #            state_expired | state_reused | unknown_tenant | link_invalid | link_used |
    #            business_change_refused | business_held | no_business | other_browser | error
    title: str = ""
    message: str = ""
    location: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)  # (label, href)
    # The browser binding's cookie: a nonce to set (the hop to Sage; the business picker keeps it),
    # "" to clear it (the flow is over), None to leave it alone.
    browser_nonce: str | None = None

    def html(self) -> str:
        items = "".join(
            f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>' for label, href in self.choices
        )
        listing = f"<ul>{items}</ul>" if items else ""
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(self.title)}</title>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}"
            "li{margin:.5em 0}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p>{html.escape(self.message)}</p>{listing}</body></html>"
        )


def _page(status: int, kind: str, title: str, message: str, **kw: Any) -> FlowResult:
    return FlowResult(status=status, kind=kind, title=title, message=message, **kw)


def _link_mac(signer_key: bytes, tenant_id: str, expires: int, nonce: str, allow_change: bool) -> str:
    message = f"connect-link|{tenant_id}|{expires}|{nonce}|{int(allow_change)}"
    mac = hmac.new(signer_key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _back_mac(signer_key: bytes, tenant_id: str, nonce: str, url: str) -> str:
    """Signs a link's way back to the host app (checked against the deployment's allow-list when the
    link was made), so a link cannot be edited to send the tenant elsewhere afterwards."""
    mac = hmac.new(signer_key, f"connect-back|{tenant_id}|{nonce}|{url}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _back(choices: list[tuple[str, str]], return_to: object, portal: object = None) -> list[tuple[str, str]]:
    """The result page's ways back: the tenant portal it was started from, and the host app page."""
    ways = [("Back to the portal", str(portal))] if portal else []
    return [*choices, *ways, *([("Back to your app", str(return_to))] if return_to else [])]


@dataclass(frozen=True)
class ConnectLink:
    """What a genuine, unexpired connect link says."""

    nonce: str
    expires: int
    allow_business_change: bool


class ConnectFlow:
    def __init__(
        self,
        *,
        service: ConnectionService,
        states: OAuthStates,
        tenants: Tenants,
        signer: StateSigner,
        link_key: bytes,
        list_businesses: ListBusinesses,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        require_signed_link: bool = True,
        link_ttl: timedelta = CONNECT_LINK_TTL,
    ) -> None:
        self._service = service
        self.link_ttl = link_ttl
        self._states = states
        self._tenants = tenants
        self._signer = signer
        self._link_key = link_key
        self._list_businesses = list_businesses
        self._clock = clock
        self._require_signed_link = require_signed_link

    @property
    def provider(self) -> str:
        return self._service.provider

    # ---- connect links

    def connect_link(self, api_base_url: str, tenant_id: str, ttl: timedelta | None = None, *,
                     allow_business_change: bool = False, return_to: str | None = None,
                     portal_url: str | None = None) -> str:
        """The URL a tenant admin opens, once, to connect Sage (hand it out through the admin API).
        `portal_url`: the tenant portal page the link was made from (the result pages lead back to it).
        `allow_business_change`: the operator confirms the tenant may link a different business.
        `return_to`: an allow-listed host app page the result page links back to (the tenant portal's)."""
        expires = int((self._clock() + (ttl or self.link_ttl)).timestamp())
        nonce = secrets.token_urlsafe(16)
        params: dict[str, str | int] = {"link": nonce, "expires": expires}
        if allow_business_change:
            params["change"] = 1
        params["sig"] = _link_mac(self._link_key, tenant_id, expires, nonce, allow_business_change)
        if return_to:
            params["back"] = return_to
            params["back_sig"] = _back_mac(self._link_key, tenant_id, nonce, return_to)
        if portal_url:
            params["portal"] = portal_url
            params["portal_sig"] = _back_mac(self._link_key, tenant_id, nonce, "portal|" + portal_url)
        return f"{api_base_url.rstrip('/')}/connect/{tenant_id}?{urlencode(params)}"

    def _link(self, tenant_id: str, query: Mapping[str, str]) -> ConnectLink | None:
        """The link's claims if it is genuine, for this tenant and unexpired (spent or not)."""
        try:
            expires = int(query.get("expires", ""))
        except ValueError:
            return None
        nonce, allow = query.get("link", ""), query.get("change") == "1"
        if not nonce:
            return None
        expected = _link_mac(self._link_key, tenant_id, expires, nonce, allow)
        if not hmac.compare_digest(expected, query.get("sig", "")) or expires <= self._clock().timestamp():
            return None
        return ConnectLink(nonce=nonce, expires=expires, allow_business_change=allow)

    def _link_ok(self, tenant_id: str, query: Mapping[str, str]) -> bool:
        return not self._require_signed_link or self._link(tenant_id, query) is not None

    def _spend(self, tenant_id: str, link: ConnectLink) -> bool:
        """Mark the link used, once (a conditional put); False if it was used before."""
        left = max(link.expires - int(self._clock().timestamp()), 0) + 60
        try:
            self._states.put(_LINK_USED_PREFIX + link.nonce, {"tenant_id": tenant_id, "purpose": "link_used"},
                             ttl=timedelta(seconds=left))
        except ConflictError:
            return False
        return True

    # ---- step 1: off to Sage

    def start(self, tenant_id: str, query: Mapping[str, str], *, redirect_uri: str) -> FlowResult:
        link = self._link(tenant_id, query)
        if link is None and self._require_signed_link:
            return _page(403, "link_invalid", "This connect link is not valid",
                         "The link has expired or was altered. Open Sage settings in your business app "
                         "again to get a fresh link.")
        try:
            known = self._tenants.find(tenant_id) is not None
        except ValueError:  # an id the store refuses (e.g. contains '#') is certainly unknown
            known = False
        if not known:
            return _page(404, "unknown_tenant", "Unknown account",
                         "We do not know this account. Check the link from your business app, or ask "
                         "your administrator to set the account up first.")
        if link is not None and not self._spend(tenant_id, link):
            logger.warning("connect_link_reused", extra={"tenant_id": tenant_id, "provider": self.provider})
            return _page(403, "link_used", "This connect link has already been used",
                         "Each connect link works once. If your Sage connection is not showing, open Sage "
                         "settings in your business app again to get a fresh link.")
        allow_change = link is not None and link.allow_business_change
        back = query.get("back") or None
        if back and (link is None or not hmac.compare_digest(_back_mac(self._link_key, tenant_id, link.nonce, back),
                                                             query.get("back_sig", ""))):
            back = None  # an unsigned way back is dropped, not followed
        portal = query.get("portal") or None
        if portal and (link is None or not hmac.compare_digest(
                _back_mac(self._link_key, tenant_id, link.nonce, "portal|" + portal), query.get("portal_sig", ""))):
            portal = None
        now = self._clock()
        browser_nonce = secrets.token_urlsafe(32)
        claims = self._signer.new_claims(tenant_id=tenant_id, provider=self.provider, purpose="authorize", now=now,
                                         browser=browser_binding(browser_nonce))
        pkce = new_pkce()
        self._states.put(claims.nonce, {
            "tenant_id": tenant_id, "provider": self.provider, "purpose": "authorize",
            "code_verifier": pkce.verifier, "redirect_uri": redirect_uri,
            "allow_business_change": allow_change, "return_to": back, "portal_url": portal,
        })
        url = self._service.oauth.authorize_url(
            redirect_uri=redirect_uri, state=self._signer.sign(claims), code_challenge=pkce.challenge
        )
        logger.info("connect_started", extra={"tenant_id": tenant_id, "provider": self.provider})
        return FlowResult(status=302, kind="redirect", location=url, browser_nonce=browser_nonce)

    # ---- step 2: back from Sage

    def callback(self, query: Mapping[str, str], *, callback_url: str, browser: str | None = None) -> FlowResult:
        """`browser`: the nonce from the connect cookie this request carried (None without one)."""
        if "pick" in query:
            result = self._picked(query, browser)
        else:
            result = self._authorized(query, callback_url, browser)
        if result.kind in ("other_browser", "state_tampered", "state_expired"):
            return result  # not this cookie's flow (it may be another of this browser's): left alone
        if result.kind == "choose_business":  # the pick comes back with the same cookie
            return replace(result, browser_nonce=browser)
        return replace(result, browser_nonce="")  # the flow is over: the cookie is cleared

    def _other_browser(self, claims: StateClaims, browser: str | None) -> FlowResult | None:
        """The refusal when this request does not come from the browser that opened the link; checked
        before the state is consumed, so a forwarded URL cannot spend the real admin's sign-in."""
        if browser_matches(claims, browser):
            return None
        logger.warning("connect_other_browser", extra={"tenant_id": claims.tenant_id, "provider": self.provider,
                                                       "step": claims.purpose, "cookie": browser is not None})
        return _page(403, "other_browser", "Open the connect link again in this browser",
                     "This Sage sign-in was started in another browser (or already finished here, or this "
                     "browser did not keep our cookie), so it cannot be finished here. Nothing was changed. "
                     "Open the connect link from your business app again in this browser and sign in to "
                     "Sage in the same browser.")

    def _authorized(self, query: Mapping[str, str], callback_url: str, browser: str | None) -> FlowResult:
        state = query.get("state", "")
        try:
            claims = self._signer.verify(state, now=self._clock(), purpose="authorize")
        except StateError as exc:
            return self._state_page(exc.reason)
        if refused := self._other_browser(claims, browser):
            return refused
        try:
            saved = self._states.consume(claims.nonce)
        except NotFoundError:
            return self._state_page("reused")
        tenant_id = claims.tenant_id
        if query.get("error"):
            logger.info("connect_denied", extra={"tenant_id": tenant_id, "error": query.get("error")})
            if query.get("error") == "access_denied":
                return _page(200, "denied", "Sage was not connected",
                             "You chose not to give access to Sage. Nothing was changed. You can close "
                             "this page, or start again from your business app.",
                             choices=_back([], saved.get("return_to"), saved.get("portal_url")))
            return _page(400, "error", "Sage could not sign you in",
                         f"Sage answered: {query.get('error')}. Please start again from your business app.")
        code = query.get("code")
        if not code:
            return _page(400, "error", "Sage sent no authorisation", "Please start again from your business app.")
        try:
            tokens = self._service.oauth.exchange_code(
                code, redirect_uri=saved.get("redirect_uri") or callback_url, code_verifier=saved.get("code_verifier")
            )
        except OAuthError as exc:
            logger.info("connect_code_rejected", extra={"tenant_id": tenant_id, "error": exc.data_code})
            return _page(400, "code_rejected", "The sign-in took too long or was already used",
                         "Sage did not accept this sign-in: it may have expired (they last a minute) or "
                         "been used already. Please start again from your business app.")
        except SageError as exc:
            logger.warning("connect_exchange_failed", extra={"tenant_id": tenant_id, "error": type(exc).__name__})
            return _page(502, "error", "Sage is not answering",
                         "We could not reach Sage to finish connecting. Please try again in a few minutes.")
        try:
            businesses = [b for b in self._list_businesses(tokens.access_token.get_secret_value()) if b.get("id")]
        except SageError:
            return _page(502, "error", "Sage is not answering",
                         "We could not read your Sage businesses. Please try again in a few minutes.")
        if not businesses:
            return _page(400, "no_business", "No Sage business found",
                         "The Sage user you signed in with has no business we can link to.")
        allow_change = bool(saved.get("allow_business_change"))
        if len(businesses) == 1:
            return self._finish(tenant_id, tokens, businesses[0], allow_change=allow_change,
                                return_to=saved.get("return_to"), portal_url=saved.get("portal_url"))
        return self._choose(tenant_id, tokens, businesses, callback_url, allow_change=allow_change,
                            return_to=saved.get("return_to"), portal_url=saved.get("portal_url"),
                            bound_to=claims.browser)

    def _choose(self, tenant_id: str, tokens: TokenSet, businesses: list[Mapping[str, Any]],
                callback_url: str, *, allow_change: bool, return_to: str | None = None,
                portal_url: str | None = None, bound_to: str = "") -> FlowResult:
        claims = self._signer.new_claims(tenant_id=tenant_id, provider=self.provider, purpose="business",
                                         now=self._clock(), browser=bound_to)  # the same browser picks
        offered = [{"id": str(b["id"]), "name": str(b.get("name") or b.get("displayed_as") or b["id"])}
                   for b in businesses]
        # The tokens wait, sealed with KMS, in the single-use selection state (10 minutes).
        sealed = base64.b64encode(self._service.seal(tenant_id, tokens)).decode()
        self._states.put(claims.nonce, {"tenant_id": tenant_id, "provider": self.provider,
                                        "purpose": "business", "sealed": sealed, "businesses": offered,
                                        "allow_business_change": allow_change, "return_to": return_to,
                                        "portal_url": portal_url})
        pick = self._signer.sign(claims)
        choices = [(b["name"], f"{callback_url}?{urlencode({'pick': pick, 'business_id': b['id']})}")
                   for b in offered]
        message = "Your Sage user can open several businesses. Choose the one to link:"
        current = self._service.find(tenant_id)
        if current is not None and current.business_id:
            linked = current.business_name or current.business_id
            message = (f"This account is linked to \u201c{linked}\u201d. "
                       + ("Choosing another business replaces that link: new documents will go to the "
                          "business you choose. Choose the one to link:" if allow_change else
                          "Choose it to renew the link (linking a different business needs a link from "
                          "your administrator that allows the change):"))
        return _page(200, "choose_business", "Choose your Sage business", message, choices=choices)

    def _picked(self, query: Mapping[str, str], browser: str | None) -> FlowResult:
        try:
            claims = self._signer.verify(query.get("pick", ""), now=self._clock(), purpose="business")
        except StateError as exc:
            return self._state_page(exc.reason)
        if refused := self._other_browser(claims, browser):
            return refused
        try:
            saved = self._states.consume(claims.nonce)
        except NotFoundError:
            return self._state_page("reused")
        chosen = next((b for b in saved.get("businesses", []) if b["id"] == query.get("business_id")), None)
        if chosen is None:
            return _page(400, "error", "That business was not offered",
                         "Please start again from your business app.")
        tokens = self._service.unseal(claims.tenant_id, base64.b64decode(saved["sealed"]))
        return self._finish(claims.tenant_id, tokens, chosen,
                            allow_change=bool(saved.get("allow_business_change")), return_to=saved.get("return_to"),
                            portal_url=saved.get("portal_url"))

    def _finish(self, tenant_id: str, tokens: TokenSet, business: Mapping[str, Any], *,
                allow_change: bool = False, return_to: str | None = None,
                portal_url: str | None = None) -> FlowResult:
        name = str(business.get("name") or business.get("displayed_as") or business["id"])
        current = self._service.find(tenant_id)
        if current is not None and current.business_id and current.business_id != str(business["id"]):
            change = {"tenant_id": tenant_id, "provider": self.provider,
                      "previous_business_id": current.business_id, "business_id": str(business["id"])}
            if not allow_change:
                logger.warning("connect_business_change_refused", extra=change)
                linked = current.business_name or current.business_id
                return _page(409, "business_change_refused", "Sage was not connected",
                             f"This account is linked to the Sage business \u201c{linked}\u201d, and you "
                             f"signed in to \u201c{name}\u201d. Nothing was changed. Sign in again and choose "
                             f"\u201c{linked}\u201d, or, to move this account to another business, "
                             + ("use \u201cConnect a different business\u201d on the portal's Connection page."
                                if portal_url else
                                "ask your administrator for a connect link that allows changing the business."),
                             choices=_back([], return_to, portal_url))
            logger.warning("connect_business_changed", extra=change)
        if refused := self._held_by_another(tenant_id, str(business["id"]), name):
            return refused
        try:
            self._service.store_new_connection(tenant_id, tokens, business_id=str(business["id"]), business_name=name)
        except ConflictError:
            return _page(409, "error", "Sage was not connected",
                         "The connection changed while we were saving it. Please start again.")
        return _page(200, "success", "Link to Sage established successfully",
                     f"Your account is now linked to the Sage business \u201c{name}\u201d."
                     + ("" if portal_url or return_to else " You can close this page."),
                     choices=_back([], return_to, portal_url))

    def _held_by_another(self, tenant_id: str, business_id: str, name: str) -> FlowResult | None:
        """Refuse a business another tenant already holds: both would export into the same books,
        and each would take the other's documents for its own (matched by number when going live,
        then changed or voided by the wrong tenant). The other tenant is named in the log only."""
        others = self._service.others_on(tenant_id, business_id, (t.tenant_id for t in self._tenants.iter_all()))
        if not others:
            return None
        logger.warning("connect_business_held_by_another_tenant",
                       extra={"tenant_id": tenant_id, "provider": self.provider, "business_id": business_id,
                              "held_by": [r.tenant_id for r in others]})
        return _page(409, "business_held", "Sage was not connected",
                     f"The Sage business “{name}” is already linked to another account in this app, "
                     "and two accounts exporting into the same books would post each other's documents. "
                     "Nothing was changed. Sign in again and choose another business, or ask your "
                     "administrator to disconnect the other account first.")

    @staticmethod
    def _state_page(reason: str) -> FlowResult:
        if reason == "expired":
            return _page(400, "state_expired", "This sign-in has expired",
                         "Connecting must be finished within 10 minutes. Please start again from your "
                         "business app.")
        if reason == "reused":
            return _page(400, "state_reused", "This sign-in was already used",
                         "Each sign-in link works once. If your Sage connection is not showing, start "
                         "again from your business app.")
        return _page(400, "state_tampered", "This sign-in is not valid",
                     "The sign-in could not be verified. Please start again from your business app.")


class ConnectFlows:
    """One connect endpoint for every Sage product: a tenant connects the product its settings name
    (`provider`), and a callback goes back to the flow that started it (the signed state and the
    business pick both carry the provider). Connect links are the same for every product."""

    def __init__(self, flows: Mapping[str, ConnectFlow], *, tenants: Tenants, signer: StateSigner,
                 default: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 unconfigured: Mapping[str, Sequence[str]] | None = None) -> None:
        if default not in flows:
            raise ValueError(f"no connect flow for the default provider {default!r}")
        self.flows = dict(flows)
        # provider -> its connect keys still holding the template's placeholder: Sage would show the
        # tenant its "invalid client" page, so such a flow answers with our own page instead.
        self.unconfigured = {p: tuple(keys) for p, keys in (unconfigured or {}).items() if keys}
        self._tenants = tenants
        self._signer = signer
        self._default = default
        self._clock = clock

    @property
    def provider(self) -> str:
        return self._default

    def flow_for_tenant(self, tenant_id: str) -> ConnectFlow:
        try:
            tenant = self._tenants.find(tenant_id)
        except ValueError:
            tenant = None
        provider = str((tenant.settings or {}).get("provider") or self._default) if tenant else self._default
        return self.flows.get(provider, self.flows[self._default])

    def connect_link(self, api_base_url: str, tenant_id: str, ttl: timedelta | None = None, *,
                     allow_business_change: bool = False, return_to: str | None = None,
                     portal_url: str | None = None) -> str:
        return self.flows[self._default].connect_link(api_base_url, tenant_id, ttl,
                                                      allow_business_change=allow_business_change,
                                                      return_to=return_to, portal_url=portal_url)

    def start(self, tenant_id: str, query: Mapping[str, str], *, redirect_uri: str) -> FlowResult:
        flow = self.flow_for_tenant(tenant_id)  # its redirect carries the browser binding's nonce
        if flow.provider in self.unconfigured:
            return self._not_configured(flow.provider, tenant_id)
        return flow.start(tenant_id, query, redirect_uri=redirect_uri)

    def _not_configured(self, provider: str, tenant_id: str | None) -> FlowResult:
        keys = self.unconfigured[provider]
        logger.error("connect_not_configured", extra={
            "tenant_id": tenant_id, "provider": provider, "placeholder_keys": list(keys),
            "fix": "fill these keys of the settings secret (sagebridge settings-secret set), then sagebridge doctor"})
        return FlowResult(503, "not_configured", "Connecting to Sage is not set up yet",
                          "This service does not have its Sage app credentials yet, so Sage would refuse the "
                          "sign-in. Nothing was changed. Please tell the support team of the app that sent you "
                          "this link; the link stays usable until it expires.")

    def callback(self, query: Mapping[str, str], *, callback_url: str, browser: str | None = None) -> FlowResult:
        signed, purpose = (query.get("pick", ""), "business") if "pick" in query else (query.get("state", ""),
                                                                                           "authorize")
        try:
            provider = self._signer.verify(signed, now=self._clock(), purpose=purpose).provider
        except StateError:
            provider = self._default  # any flow answers a bad state with the same page
        if provider in self.unconfigured:
            return self._not_configured(provider, None)
        return self.flows.get(provider, self.flows[self._default]).callback(query, callback_url=callback_url,
                                                                           browser=browser)


__all__ = ["CALLBACK_PATH", "ConnectFlow", "ConnectFlows", "FlowResult"]
