"""The demo with provider = sage200, through the one connect endpoint every product shares: a
Sage Accounting tenant and a Sage 200 tenant get their own product's sign-in from the same signed
link; the Sage 200 tenant picks a company from GET /sites, then invoices go to Sage 200 and a
receipt comes back to the host."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from local.sandboxes.sage_accounting import AUTHORIZE_URL as SA_AUTHORIZE_URL
from sagebridge import composition
from sagebridge.connectors.sage_accounting.product import build_sage_accounting
from sagebridge.connectors.sage_accounting.settings import SageAccountingSettings
from sagebridge.domain import DocumentKind, TenantSettings
from sagebridge.domain.settings import Provider
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.store.aws import AwsClients
from sagebridge.sync.products import SageProducts

from ..export.conftest import customer, document, line
from .conftest import PUBLIC_API_URL, SIGNING_KEY, TENANT

CALLBACK = f"{PUBLIC_API_URL}/oauth/callback"


def _connect_deps(world, kms):
    secrets = IntegrationSecrets(sage_accounting_client_id="sa-client", sage_accounting_client_secret=SecretStr("x"),
                                 sage200_client_id="unused", sage200_client_secret=SecretStr("unused"),
                                 state_signing_key=SecretStr(SIGNING_KEY))
    settings = world.sage.settings
    sa = build_sage_accounting(settings, store=world.store, clients=AwsClients(kms=kms[0]), http=world.http,
                               secrets=secrets, clock=world.clock.now, notify=lambda s: None,
                               product_settings=SageAccountingSettings(auth_url=SA_AUTHORIZE_URL))
    products = SageProducts(settings, AwsClients(kms=kms[0]), store=world.store, secrets=secrets,
                            built={Provider.SAGE_ACCOUNTING: sa, Provider.SAGE_200: world.sage})
    return composition.connect(settings, products=products, clock=world.clock.now)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_each_tenant_signs_in_to_its_own_product_then_exports_and_polls(world, host, kms):
    world.add_tenant(connect=False)
    world.store.tenants.create("other", TenantSettings(provider="sage_accounting").model_dump(mode="json"))
    deps = _connect_deps(world, kms)
    world.sandbox.auto_approve = True

    other = deps.flow.start("other", _query(deps.flow.connect_link(PUBLIC_API_URL, "other")), redirect_uri=CALLBACK)
    assert other.location.startswith(SA_AUTHORIZE_URL.split("?")[0])

    started = deps.flow.start(TENANT, _query(deps.flow.connect_link(PUBLIC_API_URL, TENANT)), redirect_uri=CALLBACK)
    assert started.status == 302 and started.location.startswith(world.sage.product_settings.auth_url)
    consent = world.http.get(started.location)
    chooser = deps.flow.callback(_query(consent.headers["location"]), callback_url=CALLBACK,
                                 browser=started.browser_nonce)
    assert chooser.kind == "choose_business", (chooser.kind, chooser.message, consent.headers["location"])
    assert [label for label, _ in chooser.choices] == ["Northwind Garage Services Ltd (Sandbox site)",
                                                       "Southside Motors Ltd (Sandbox site)"]
    done = deps.flow.callback(_query(chooser.choices[0][1]), callback_url=CALLBACK, browser=started.browser_nonce)
    assert done.kind == "success", done.message
    assert world.sage.service.is_connected(TENANT)

    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=customer(1), lines=[line("100.00")]))
    world.export()
    world.poll()
    invoice = world.sandbox.accountant().by_reference("sales_invoice", "INV-00001")
    world.clock.advance(minutes=1)
    world.sandbox.accountant().record_receipt(invoice["id"])
    world.poll(advance_minutes=15)
    assert [e["data"]["invoice"]["host_id"] for e in world.events("invoice.paid")] == ["INV-1"]
    # Every call carried the subscription key and the chosen site and company (the sandbox checks).
    assert world.sandbox.request_count("POST", "sales_invoices") == 1


def test_a_sage200_sign_in_finished_in_another_browser_is_refused(world, kms):
    """The Sage ID callback, and the company pick after it, only work in the browser that opened the link."""
    world.add_tenant(connect=False)
    deps = _connect_deps(world, kms)
    world.sandbox.auto_approve = True
    started = deps.flow.start(TENANT, _query(deps.flow.connect_link(PUBLIC_API_URL, TENANT)), redirect_uri=CALLBACK)
    back = _query(world.http.get(started.location).headers["location"])
    exchanged = world.sandbox.oauth.token_requests
    for cookie in (None, "someone-elses-cookie"):
        refused = deps.flow.callback(back, callback_url=CALLBACK, browser=cookie)
        assert (refused.status, refused.kind) == (403, "other_browser")
    assert world.sandbox.oauth.token_requests == exchanged and not world.sage.service.is_connected(TENANT)
    chooser = deps.flow.callback(back, callback_url=CALLBACK, browser=started.browser_nonce)
    assert chooser.kind == "choose_business" and chooser.browser_nonce == started.browser_nonce
    pick = _query(chooser.choices[0][1])
    assert deps.flow.callback(pick, callback_url=CALLBACK, browser=None).kind == "other_browser"
    done = deps.flow.callback(pick, callback_url=CALLBACK, browser=started.browser_nonce)
    assert done.kind == "success" and done.browser_nonce == "" and world.sage.service.is_connected(TENANT)
