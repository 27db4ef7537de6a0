"""Every route of the admin API answers only with status codes its OpenAPI document lists.

The routes are enumerated from the resolver (functions/admin_api/app.py), not from a list here, so a
route added later is probed at once: unsigned (403), for an unknown tenant, with a body that is not
valid. Then each route's own cases below (success, validation failure, not found, conflict, Sage
failing) run through the real handler on DynamoDB Local, the Sage Accounting sandbox and moto.

Adding a route: give it a contract in `sagebridge.admin.contract.ROUTES` (operation id, success and
error codes), add its cases to `CASES` under the route's function name (at least one per success
code; a case is `(expected status, function of the world that makes the call)`), and regenerate
docs/admin-openapi.json (`.venv/bin/python functions/admin_api/app.py > docs/admin-openapi.json`).
A success that needs another product's sandbox may name the test that shows it in `SUCCESS_ELSEWHERE`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from moto import mock_aws
from openapi_spec_validator import validate

from local.sandboxes.host_app import HostApp
from local.sandboxes.host_app.fixtures import example_event
from local.sandboxes.sage_accounting import SageAccountingSandbox, SandboxClock
from local.sandboxes.sage_intacct import DEFAULT_COMPANY, DEFAULT_PASSWORD, DEFAULT_USER
from sagebridge.admin import contract
from sagebridge.host.outbound import build_event, enqueue_delivery
from tests.integration.admin.test_deliveries import part_paid
from tests.integration.admin.test_intacct_connection import intacct_tenant  # noqa: F401 (a fixture)
from tests.integration.admin.world import START, TENANT, AdminWorld, Answer, admin_module, http_event, invoice
from tests.integration.host.relay import CALLBACK_URL, SECRET, Relay

Case = tuple[int, Callable[[AdminWorld], Answer]]
T = f"/admin/tenants/{TENANT}"
UNKNOWN = "/admin/tenants/nobody"


def routes() -> list[Any]:
    app = admin_module().app
    return sorted((r for r in [*app._static_routes, *app._dynamic_routes] if r.include_in_schema),
                  key=lambda r: (r.path, r.method))


def route_id(route: Any) -> str:
    return f"{route.method} {route.path}"


def openapi_path(route: Any) -> str:
    return re.sub(r"<(\w+)>", r"{\1}", route.path)


def documented(route: Any) -> set[int]:
    return contract.documented_statuses(admin_module().app)[(route.method.upper(), openapi_path(route))]


# ------------------------------------------------------------------------------ world helpers


def _call(method: str, path: str, body: Any = None, **kwargs: Any) -> Callable[[AdminWorld], Answer]:
    return lambda w: w.call(method, path, body, **kwargs)


def _with_portal_key(call: Callable[[AdminWorld], Answer]) -> Callable[[AdminWorld], Answer]:
    """The call made in a deployment whose settings secret holds the portal's signing key."""
    from sagebridge.admin.portal_links import PortalLinks

    def run(w: AdminWorld) -> Answer:
        w.admin.portal_links = PortalLinks(key=lambda: "p" * 40, return_urls=())
        return call(w)
    return run


def _sage_fails(method: str, path: str, body: Any = None, **kwargs: Any) -> Callable[[AdminWorld], Answer]:
    """The call made while Sage refuses every API request (400)."""
    def run(w: AdminWorld) -> Answer:
        w.sandbox.faults.error(400, times=None, path="/v3.1")  # the API, not the token endpoint
        try:
            return w.call(method, path, body, **kwargs)
        finally:
            w.sandbox.faults.clear()
    return run


def _disconnected(method: str, path: str, body: Any = None, **kwargs: Any) -> Callable[[AdminWorld], Answer]:
    def run(w: AdminWorld) -> Answer:
        assert w.call("DELETE", f"{T}/connection").status == 200
        return w.call(method, path, body, **kwargs)
    return run


def _refused_delivery(w: AdminWorld) -> tuple[str, HostApp]:
    """A delivery the host refused (it checks another secret): failed, kept, resendable."""
    w.call("PATCH", f"{T}/settings", {"changes": {"host_callback_url": CALLBACK_URL}})
    host_app = HostApp(secrets=["a-secret-the-host-mistyped"])
    w.products.outbox = Relay(w.store, host_app).outbox
    return enqueue_delivery(w.products.delivery_outbox(), TENANT, part_paid()).event_id, host_app


def _resend_one(w: AdminWorld) -> Answer:
    return w.call("POST", f"{T}/deliveries/{_refused_delivery(w)[0]}/resend")


def _resend_delivered(w: AdminWorld) -> Answer:
    event_id, host_app = _refused_delivery(w)
    host_app.secrets = [SECRET]  # the host fixes its secret: the resend is delivered
    assert w.call("POST", f"{T}/deliveries/{event_id}/resend").status == 202
    return w.call("POST", f"{T}/deliveries/{event_id}/resend")  # delivered already: only failed ones are resent


def _resend_all(w: AdminWorld) -> Answer:
    _refused_delivery(w)
    return w.call("POST", f"{T}/deliveries/resend")


def _one_run(w: AdminWorld) -> Answer:
    w.stage(invoice(1))
    run = w.call("POST", f"{T}/exports", {"run": "now"}).json["run"]
    return w.call("GET", f"{T}/runs/{run['run_id']}")


def _stale_version(w: AdminWorld) -> Answer:
    return w.call("PUT", f"{T}/settings", {"settings": w.tenant_settings(), "expected_version": 99})


def _queued(method: str, path: str, body: Any) -> Callable[[AdminWorld], Answer]:
    def run(w: AdminWorld) -> Answer:
        w.stage(invoice(7))
        return w.call(method, path, body)
    return run


def _replay_failed(w: AdminWorld) -> Answer:
    w.stage(invoice(1, tax="T9"))  # no mapping for T9: skipped
    assert w.call("POST", f"{T}/exports", {"run": "now"}).status == 200
    return w.call("POST", f"{T}/replay", {"run": "now"})


LOGIN = {"company_id": "C", "user_id": "U", "user_password": "P"}
WINDOW = {"from": "2025-03-01", "to": "2025-03-31"}

CASES: dict[str, list[Case]] = {
    "list_tenants": [(200, _call("GET", "/admin/tenants")),
                     (422, _call("GET", "/admin/tenants", query={"limit": 0}))],
    "create_tenant": [(201, _call("POST", "/admin/tenants", {"tenant_id": "globex"})),
                      (409, _call("POST", "/admin/tenants", {"tenant_id": TENANT})),
                      (422, _call("POST", "/admin/tenants", {"tenant_id": "x", "settings": {"provider": "nope"}}))],
    "get_tenant": [(200, _call("GET", T)), (404, _call("GET", UNKNOWN))],
    "delete_tenant": [(200, _call("DELETE", T)), (404, _call("DELETE", UNKNOWN))],
    "replace_settings": [
        (200, lambda w: w.call("PUT", f"{T}/settings", {"settings": w.tenant_settings(), "expected_version": 1})),
        (409, _stale_version),
        (422, lambda w: w.call("PUT", f"{T}/settings", {"settings": w.tenant_settings(export_interval_minutes=1),
                                                        "expected_version": 1})),
        (404, _call("PUT", f"{UNKNOWN}/settings", {"settings": {"provider": "sage_accounting"},
                                                   "expected_version": 1})),
    ],
    "portal_link": [
        (201, _with_portal_key(_call("POST", f"{T}/portal-links", {"role": "admin", "minutes": 30}))),
        (422, _call("POST", f"{T}/portal-links", {"role": "owner"})),
        (404, _call("POST", f"{UNKNOWN}/portal-links", {"role": "viewer"})),
    ],
    "revoke_portal_sessions": [
        (200, _call("POST", f"{T}/portal-sessions/revoke")),
        (404, _call("POST", f"{UNKNOWN}/portal-sessions/revoke")),
    ],
    "settings_history": [
        (200, _call("GET", f"{T}/settings/history")),
        (422, _call("GET", f"{T}/settings/history", query={"limit": 0})),
        (404, _call("GET", f"{UNKNOWN}/settings/history")),
    ],
    "change_settings": [
        (200, _call("PATCH", f"{T}/settings", {"changes": {"export_interval_minutes": 30}})),
        (409, _call("PATCH", f"{T}/settings", {"changes": {"provider": "sage_intacct"}})),
        (422, _call("PATCH", f"{T}/settings", {"changes": {"export_interval_minutes": 1}})),
        (404, _call("PATCH", f"{UNKNOWN}/settings", {"changes": {}})),
    ],
    "enable": [(200, _call("POST", f"{T}/enable")), (404, _call("POST", f"{UNKNOWN}/enable"))],
    "disable": [(200, _call("POST", f"{T}/disable")), (404, _call("POST", f"{UNKNOWN}/disable"))],
    "rotate_webhook_secret": [(404, _call("POST", f"{UNKNOWN}/webhook-secret"))],
    "connect_url": [(200, _call("GET", f"{T}/connect-url")), (404, _call("GET", f"{UNKNOWN}/connect-url"))],
    "connection": [(200, _call("GET", f"{T}/connection")), (404, _call("GET", f"{UNKNOWN}/connection"))],
    "connect_login": [(422, _call("POST", f"{T}/login-connection", LOGIN)),
                      (422, _call("POST", f"{T}/login-connection", {"company_id": "C"})),
                      (404, _call("POST", f"{UNKNOWN}/login-connection", LOGIN))],
    "connect_intacct": [(422, _call("POST", f"{T}/intacct-connection", LOGIN)),
                        (404, _call("POST", f"{UNKNOWN}/intacct-connection", LOGIN))],
    "disconnect": [(200, _call("DELETE", f"{T}/connection")), (404, _call("DELETE", f"{UNKNOWN}/connection"))],
    "sage_list": [(200, _call("GET", f"{T}/sage/tax-rates")),
                  (422, _call("GET", f"{T}/sage/invoices")),
                  (404, _call("GET", f"{UNKNOWN}/sage/tax-rates")),
                  (502, _sage_fails("GET", f"{T}/sage/ledger-accounts")),
                  (409, _disconnected("GET", f"{T}/sage/tax-rates"))],  # last: it disconnects
    "mappings": [(200, _call("GET", f"{T}/mappings")), (404, _call("GET", f"{UNKNOWN}/mappings"))],
    "set_mappings": [(200, _call("PUT", f"{T}/mappings", {"tax_mappings": {"S": "GB_STANDARD"}})),
                     (422, _call("PUT", f"{T}/mappings", {"tax_mappings": {"S": "NOT-IN-SAGE"}})),
                     (404, _call("PUT", f"{UNKNOWN}/mappings", {"tax_mappings": {}})),
                     ],
    "mapping_health": [(200, _call("GET", f"{T}/mappings/health")),
                       (404, _call("GET", f"{UNKNOWN}/mappings/health"))],
    "start_export": [(200, _call("POST", f"{T}/exports", {"dry_run": True})),
                     (202, _queued("POST", f"{T}/exports", {})),
                     (422, _call("POST", f"{T}/exports", {"kinds": ["nonsense"]})),
                     (404, _call("POST", f"{UNKNOWN}/exports", {})),
                     (409, _disconnected("POST", f"{T}/exports", {}))],
    "replay": [(200, _replay_failed),
               (202, _call("POST", f"{T}/replay", {"run": "queue"})),  # the skipped one of case 0
               (422, _call("POST", f"{T}/replay", {"states": ["nonsense"]})),
               (404, _call("POST", f"{UNKNOWN}/replay", {})),
               (409, _disconnected("POST", f"{T}/replay", {"run": "queue"}))],
    "runs": [(200, _call("GET", f"{T}/runs")), (422, _call("GET", f"{T}/runs", query={"limit": 500}))],
    "run": [(200, _one_run), (404, _call("GET", f"{T}/runs/no-such-run"))],
    "sync_log": [(200, _call("GET", f"{T}/log")), (422, _call("GET", f"{T}/log", query={"since": "yesterday"}))],
    "received_documents": [(200, _call("GET", f"{T}/documents", query={"host_id": "INV-1"})),
                           (422, _call("GET", f"{T}/documents")),
                           (404, _call("GET", f"{UNKNOWN}/documents", query={"host_id": "INV-1"}))],
    "deliveries": [(200, _call("GET", f"{T}/deliveries")),
                   (422, _call("GET", f"{T}/deliveries", query={"state": "lost"}))],
    "resend_failed_deliveries": [(202, _resend_all), (404, _call("POST", f"{UNKNOWN}/deliveries/resend"))],
    "resend_delivery": [(202, _resend_one), (409, _resend_delivered),
                        (404, _call("POST", f"{T}/deliveries/evt_nope/resend"))],
    "status": [(200, _call("GET", f"{T}/status")), (404, _call("GET", f"{UNKNOWN}/status"))],
    "reconciliation": [(200, _call("GET", f"{T}/reconciliation", query=WINDOW)),
                       (422, _call("GET", f"{T}/reconciliation", query={"from": "2025-03-01"})),
                       (404, _call("GET", f"{UNKNOWN}/reconciliation", query=WINDOW)),
                       (502, _sage_fails("GET", f"{T}/reconciliation", query=WINDOW)),
                       (409, _disconnected("GET", f"{T}/reconciliation", query=WINDOW))],
}

# Successes shown by tests that need a sandbox this file does not build.
SUCCESS_ELSEWHERE = {
    "connect_login": "test_intacct_connection.py::test_a_verified_intacct_login_connects_the_tenant",
    "connect_intacct": "test_intacct_connection.py::test_a_verified_intacct_login_connects_the_tenant",
    "rotate_webhook_secret": "test_tenants.py::test_rotate_the_webhook_secret_keeps_the_old_one_as_previous",
}


# Refusals shown by tests of their own (below), where the route needs another product's sandbox.
ERRORS_ELSEWHERE = {"connect_login": {502}, "connect_intacct": {502}}


def _probe_path(route: Any, tenant: str) -> str:
    values = {"tenant_id": tenant, "run_id": "no-such-run", "event_id": "evt_nope", "what": "tax-rates"}
    return re.sub(r"<(\w+)>", lambda m: values.get(m.group(1), "x"), route.path)


def _probes(route: Any) -> list[tuple[str, Callable[[AdminWorld], Answer]]]:
    """What any route must answer with a documented status: unsigned, an unknown tenant, a bad body."""
    method = route.method.upper()
    probes: list[tuple[str, Callable[[AdminWorld], Answer]]] = [
        ("unsigned", lambda w: w.invoke(http_event(method, _probe_path(route, TENANT), iam=None))),
    ]
    if "<tenant_id>" in route.path:
        probes.append(("unknown tenant", lambda w: w.call(method, _probe_path(route, "nobody"), {})))
    if method in ("POST", "PUT", "PATCH"):
        probes.append(("body not JSON", lambda w: w.invoke(http_event(method, _probe_path(route, TENANT),
                                                                      raw_body="{not json"))))
        probes.append(("body a list", lambda w: w.call(method, _probe_path(route, TENANT), [1, 2])))
    return probes


@pytest.fixture(scope="module")
def sandbox() -> SageAccountingSandbox:
    """One Sage business for the module (building it is most of a world's cost); faults are cleared."""
    return SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at(START))


@pytest.fixture
def tenant(dynamodb_client: Any, app_table: str, sandbox: SageAccountingSandbox) -> Any:
    with mock_aws():
        world = AdminWorld(dynamodb_client, app_table, sandbox=sandbox)
        world.create_tenant()
        world.connect()
        yield world
    sandbox.faults.clear()


@pytest.mark.parametrize("route", routes(), ids=route_id)
def test_every_status_a_route_answers_with_is_documented(tenant: AdminWorld, route: Any) -> None:
    allowed = documented(route)
    name = route.func.__name__
    seen: dict[str, int] = {}
    for label, probe in _probes(route):
        seen[label] = probe(tenant).status
    for n, (expected, case) in enumerate(CASES.get(name, [])):
        answer = case(tenant)
        assert answer.status == expected, f"{route_id(route)} case {n}: expected {expected}, got {answer.status}: " \
                                          f"{answer.text[:300]}"
        seen[f"case {n}"] = answer.status
    undocumented = {label: status for label, status in seen.items() if status not in allowed}
    assert not undocumented, (f"{route_id(route)} answered {undocumented} but its OpenAPI operation documents "
                              f"{sorted(allowed)}: add the codes to sagebridge.admin.contract.ROUTES['{name}'] and "
                              "regenerate docs/admin-openapi.json")


@pytest.mark.parametrize("route", routes(), ids=route_id)
def test_every_route_has_a_case_for_each_success_and_error_it_documents(route: Any) -> None:
    name = route.func.__name__
    shown = {status for status, _ in CASES.get(name, [])}
    codes = contract.contract_for(name, route.path)
    wanted = set(codes.ok) - ({*codes.ok} if name in SUCCESS_ELSEWHERE else set())
    assert wanted <= shown, (f"{route_id(route)} has no case for {sorted(wanted - shown)}: add one to CASES['{name}'] "
                             "in this file (see its docstring)")
    # Documented refusals without a case here are allowed only where the probes or another test show them.
    missing = set(codes.errors) - shown - {404, 422}
    assert missing <= ERRORS_ELSEWHERE.get(name, set()), (
        f"{route_id(route)} documents {sorted(missing)} with no case showing it: add one to CASES['{name}']")


def test_the_error_bodies_are_documented_as_sent(tenant: AdminWorld) -> None:
    """422 carries `problems`, 409 a `hint`: the document's ErrorBody describes both."""
    refused = tenant.call("POST", "/admin/tenants", {"tenant_id": "x", "settings": {"provider": "nope"}})
    assert refused.status == 422 and set(refused.json) == {"message", "problems"}
    assert set(refused.json["problems"][0]) == {"field", "message"}
    conflict = _disconnected("POST", f"{T}/exports", {})(tenant)
    assert conflict.status == 409 and set(conflict.json) == {"message", "hint"}
    spec = admin_module().app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    body = spec["components"]["schemas"]["ErrorBody"]["properties"]
    assert set(body) == {"message", "problems", "hint"}
    for answer in (refused, conflict):
        contract.ErrorBody.model_validate(answer.json)


def test_swagger_ui_is_served_behind_the_same_iam_check(world: AdminWorld) -> None:
    page = world.call("GET", contract.SWAGGER_PATH)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger" in page.text.lower() and "createTenant" in page.text and "webhooks" in page.text
    assert world.invoke(http_event("GET", contract.SWAGGER_PATH, iam=None)).status == 403


def test_the_document_is_valid_openapi_3_1_and_its_webhook_schemas_take_real_events() -> None:
    """The `webhooks` schemas point into the document itself: a real delivery and a real host event
    validate against them, and a broken one does not."""
    spec = json.loads((Path(__file__).resolve().parents[3] / "docs" / "admin-openapi.json").read_text())
    validate(spec)
    assert spec["openapi"].startswith("3.1")

    def validator(hook: str) -> Draft202012Validator:
        pointer = f"#/webhooks/{hook}/post/requestBody/content/application~1json/schema"
        return Draft202012Validator({**spec, "$ref": pointer})

    delivery = build_event(TENANT, part_paid()).model_dump(mode="json")
    validator("invoice.part_paid").validate(delivery)
    assert list(validator("invoice.part_paid").iter_errors({**delivery, "data": {"invoice": {}}}))
    validator("hostEvent").validate(example_event("invoice.upserted"))
    assert list(validator("hostEvent").iter_errors({**example_event("invoice.upserted"), "type": "invoice.deleted"}))


@pytest.mark.parametrize("route", ["login-connection", "intacct-connection"])
def test_a_login_sage_cannot_check_is_a_documented_502(intacct_tenant: AdminWorld, route: str) -> None:  # noqa: F811
    intacct_tenant.intacct_sandbox.faults.error(503, times=None)  # type: ignore[attr-defined]
    login = {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": DEFAULT_PASSWORD}
    answer = intacct_tenant.call("POST", f"/admin/tenants/zuper-co/{route}", login)
    assert answer.status == 502 and answer.json["message"].startswith("Sage answered"), answer.text
    [operation] = [r for r in routes() if r.path.endswith(route)]
    assert 502 in documented(operation)


def test_the_webhooks_schemas_are_those_of_docs_schemas() -> None:
    root = Path(__file__).resolve().parents[3]
    spec = json.loads((root / "docs" / "admin-openapi.json").read_text())
    pairs = {"hostEvent": "inbound/any.json",
             **{t: f"outbound/{t}.json" for t in spec["webhooks"] if t != "hostEvent"}}
    assert len(pairs) == len(list((root / "docs" / "schemas" / "outbound").glob("*.json")))  # every type, + any
    for hook, file in pairs.items():
        pointer = f"#/webhooks/{hook}/post/requestBody/content/application~1json/schema"
        embedded = json.loads(json.dumps(spec["webhooks"][hook]["post"]["requestBody"]["content"]["application/json"]
                                         ["schema"]).replace(f'"{pointer}/$defs/', '"#/$defs/'))
        published = json.loads((root / "docs" / "schemas" / file).read_text())
        drop = {"$schema", "$id", "title"}
        assert {k: v for k, v in embedded.items() if k not in drop} == \
            {k: v for k, v in published.items() if k not in drop}, hook
