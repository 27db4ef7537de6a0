"""Portal links and sessions (sagebridge.security.portal): signed, expiring, bound to one tenant
and one role, each good for one purpose only; and the return URL allow-list of portal links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from sagebridge.admin.fixes import ago, fix_for, plural
from sagebridge.admin.portal_links import allowed_return_url
from sagebridge.portal.web import security_headers
from sagebridge.security.portal import PortalSigner, PortalTokenError, derive_portal_key
from sagebridge.security.secrets import IntegrationSecrets

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
signer = PortalSigner("k" * 40)


def test_a_link_opens_a_session_for_its_tenant_and_role_only():
    token, _ = signer.link("acme", "viewer", now=NOW, return_url="https://host.example/app")
    link = signer.verify(token, purpose="link", now=NOW + timedelta(minutes=9))
    assert (link.tenant_id, link.role, link.return_url, link.csrf) == ("acme", "viewer", "https://host.example/app",
                                                                       None)
    cookie, session = signer.session(link, now=NOW)
    again = signer.verify(cookie, purpose="session", now=NOW + timedelta(minutes=59))
    assert (again.tenant_id, again.role, again.can_change) == ("acme", "viewer", False)
    assert again.csrf_ok(session.csrf_token()) and not again.csrf_ok("forged") and not again.csrf_ok(None)
    assert session.csrf not in session.csrf_token()  # the page never holds the secret itself


def test_expired_tampered_foreign_and_misused_tokens_are_refused():
    token, _ = signer.link("acme", "admin", now=NOW)
    with pytest.raises(PortalTokenError) as expired:
        signer.verify(token, purpose="link", now=NOW + timedelta(minutes=10))
    assert expired.value.reason == "expired"
    payload, mac = token.split(".")
    other = token.replace(payload, payload.replace(payload[5], "A" if payload[5] != "A" else "B", 1))
    for bad in (other, f"{payload}.{mac[:-1]}x", "", "nonsense", PortalSigner("z" * 40).link(
            "acme", "admin", now=NOW)[0]):
        with pytest.raises(PortalTokenError) as refused:
            signer.verify(bad, purpose="link", now=NOW)
        assert refused.value.reason == "tampered"
    with pytest.raises(PortalTokenError) as wrong:  # a link is not a session cookie
        signer.verify(token, purpose="session", now=NOW)
    assert wrong.value.reason == "wrong_purpose"
    cookie, _ = signer.session(signer.verify(token, purpose="link", now=NOW), now=NOW)
    with pytest.raises(PortalTokenError):  # nor a session cookie a link
        signer.verify(cookie, purpose="link", now=NOW)


def test_roles_lifetimes_and_keys():
    with pytest.raises(ValueError, match="role"):
        signer.link("acme", "owner", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1 day"):
        signer.link("acme", "admin", now=NOW, ttl=timedelta(days=2))
    with pytest.raises(ValueError, match="32"):
        PortalSigner("short")
    assert "kkkk" not in repr(signer)
    state = "s" * 40
    derived = IntegrationSecrets(state_signing_key=SecretStr(state)).portal_key()
    assert derived == derive_portal_key(state) and derived != state
    own = IntegrationSecrets(state_signing_key=SecretStr(state), portal_signing_key=SecretStr("p" * 40))
    assert own.portal_key() == "p" * 40


@pytest.mark.parametrize(("url", "ok"), [
    ("https://host.example/app", True),
    ("https://host.example/app/settings?tab=sage", True),
    ("https://HOST.example/app/x", True),
    ("https://host.example/application", False),  # a prefix is a path, not a string
    ("https://host.example.evil.test/app", False),
    ("http://host.example/app", False),  # https only (http on localhost)
    ("https://user@host.example/app", False),
    ("javascript:alert(1)", False),
    ("https://other.example/", True),  # an allow-listed origin with no path allows all of it
    ("http://localhost:8080/back", True),
])
def test_return_urls_must_be_on_the_allow_list(url, ok):
    allowed = ("https://host.example/app/", "https://other.example", "http://localhost:8080")
    assert allowed_return_url(url, allowed) is ok
    assert allowed_return_url(url, ()) is False


def test_words_and_headers():
    assert (plural(1, "document"), plural(2, "document"), plural(3, "delivery")) == \
        ("1 document", "2 documents", "3 deliveries")
    assert ago(NOW - timedelta(seconds=61), NOW) == "1 minute ago" and ago(None, NOW) == "never"
    assert ago(NOW - timedelta(hours=3), NOW) == "3 hours ago"
    fix = fix_for(None, "Line 1: host tax code 'T9' is not mapped to a Sage tax rate", "skipped")
    assert fix.replayable and fix.link == "mappings?tax_code=T9#tax"
    assert not fix_for("status_not_exportable", "draft", "skipped").replayable  # no Replay beside it
    assert not fix_for("totals_mismatch", "totals differ", "skipped").replayable
    assert fix_for(None, "Sage answered 503", "failed").replayable
    headers = security_headers("'none'")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors https://host.example" in security_headers("https://host.example")["Content-Security-Policy"]
