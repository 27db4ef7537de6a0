"""The operators' API under /admin (IAM-signed in AWS): tenants, connections, mappings, exports,
runs, the sync log, replay, status (JSON and a page) and reconciliation. Thin: routing and HTTP
shape only; the logic is sagebridge.admin (service, status, status page)."""

from __future__ import annotations

import html
import json
import sys
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.admin import contract
from sagebridge.admin.deliveries import DeliveriesPage, DeliveriesResent
from sagebridge.admin.mappings import MappingHealth, SageAccountRef
from sagebridge.admin.models import (
    ConnectLink,
    Disconnected,
    ExportStart,
    ExportStarted,
    LogPage,
    MappingsChange,
    MappingsSaved,
    MappingsView,
    ReceivedDocuments,
    ReplayRequest,
    RunsPage,
    RunView,
    SageLogin,
    SettingsChange,
    SettingsInvalid,
    SettingsReplace,
    TenantCreate,
    TenantDeleted,
    TenantsPage,
    TenantView,
)
from sagebridge.admin.portal_links import PortalLink, PortalLinkRequest, PortalSessionsRevoked
from sagebridge.admin.service import Admin
from sagebridge.admin.settings_changes import SettingsHistoryPage
from sagebridge.admin.status import ConnectionView, TenantStatus
from sagebridge.connectors.base import LoginRefused, NotConnected, SageError
from sagebridge.domain.errors import ConfigurationError, ConflictError, NotFoundError
from sagebridge.domain.kinds import DateBasis
from sagebridge.observability import HTTP_REQUEST_ID, logger, metrics, tracer
from sagebridge.settings import get_settings
from sagebridge.store import Outcome
from sagebridge.store.records import DeliveryState
from sagebridge.sync.reconcile import ReconciliationReport
from sagebridge.sync.scheduling import LeaseHeld

API_VERSION = "1.0.0"
app = APIGatewayHttpResolver(enable_validation=True)
Tenant = Annotated[str, "tenant id"]


@lru_cache(maxsize=1)
def dependencies() -> Admin:
    """Built on first use, once per container; tests patch it."""
    return composition.admin(get_settings())


def _error(status: int, message: str, **extra: Any) -> Response:
    return Response(status, content_types.APPLICATION_JSON, {"message": message, **extra})


def _iam(event: dict[str, Any]) -> dict[str, Any] | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return authorizer.get("iam") or None


FORBIDDEN = {"statusCode": 403, "headers": {"Content-Type": content_types.APPLICATION_JSON},
             "body": json.dumps({"message": "Forbidden: the admin API needs IAM (SigV4) authorisation"})}


def caller() -> str:
    iam = _iam(app.current_event.raw_event) or {}
    return str(iam.get("userArn") or iam.get("callerId") or "unknown")


def actor() -> str:
    """Who a settings change is recorded as made by (the settings history)."""
    return f"admin-api:{caller()}"


def api_base_url() -> str:
    """PUBLIC_API_URL when a custom domain fronts the API, else this request's own API URL."""
    configured = dependencies().products.settings.public_api_url
    if configured:
        return configured.rstrip("/")
    context = app.current_event.raw_event.get("requestContext") or {}
    stage = context.get("stage") or "$default"
    return f"https://{context.get('domainName', 'localhost')}{'' if stage == '$default' else f'/{stage}'}"


# ------------------------------------------------------------------------------------ errors


@app.exception_handler(SettingsInvalid)
def _settings_invalid(exc: SettingsInvalid) -> Response:
    return _error(422, exc.title, problems=[p.model_dump() for p in exc.problems])


@app.exception_handler(RequestValidationError)
def _request_invalid(exc: RequestValidationError) -> Response:
    problems = [{"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                 "message": str(e.get("msg", e["type"])).removeprefix("Value error, ")} for e in exc.errors()]
    return _error(422, "the request is not valid", problems=problems)


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response:
    return _error(404, str(exc))


@app.exception_handler(NotConnected)
def _not_connected(exc: NotConnected) -> Response:
    return _error(409, exc.message, hint="connect the tenant: hand them a connect link (GET .../connect-url), or for "
                  "a product that takes a login, POST .../login-connection")


@app.exception_handler([ConflictError, LeaseHeld])
def _conflict(exc: Exception) -> Response:
    return _error(409, str(exc))


@app.exception_handler(LoginRefused)
def _login_refused(exc: LoginRefused) -> Response:
    # The person's input, not an upstream failure: 422 with what to check (nothing was saved).
    return _error(422, exc.message, hint="check the login details (and any authorisation the message names), "
                                         "then connect again; nothing was saved")


@app.exception_handler(SageError)
def _sage(exc: SageError) -> Response:
    return _error(502, f"Sage answered: {exc.message}")


@app.exception_handler([ConfigurationError, ValueError])
def _unprocessable(exc: Exception) -> Response:
    return _error(422, str(exc))


# ------------------------------------------------------------------------------------ tenants


@app.get("/admin/openapi.json", include_in_schema=False)
def openapi():  # no return annotation: Powertools cannot describe a plain Response
    return Response(200, content_types.APPLICATION_JSON, openapi_json())


@app.get("/admin/tenants", summary="List tenants", tags=["tenants"])
def list_tenants(limit: Annotated[int, Query(ge=1, le=100)] = 100,
                 next_token: Annotated[str | None, Query()] = None) -> TenantsPage:
    return dependencies().list_tenants(limit=limit, next_token=next_token)


@app.post("/admin/tenants", summary="Create a tenant (returns its webhook secret once)", tags=["tenants"])
def create_tenant(body: TenantCreate) -> Response[TenantView]:
    return Response(201, content_types.APPLICATION_JSON, dependencies().create_tenant(body, actor=actor()))


@app.get("/admin/tenants/<tenant_id>", summary="Read a tenant and its settings", tags=["tenants"])
def get_tenant(tenant_id: str) -> TenantView:
    return dependencies().tenant(tenant_id)


@app.delete("/admin/tenants/<tenant_id>", summary="Delete a tenant with all its data", tags=["tenants"])
def delete_tenant(tenant_id: str) -> TenantDeleted:
    return dependencies().delete_tenant(tenant_id)


@app.put("/admin/tenants/<tenant_id>/settings", summary="Replace the settings", tags=["tenants"])
def replace_settings(tenant_id: str, body: SettingsReplace) -> TenantView:
    return dependencies().replace_settings(tenant_id, body, actor=actor())


@app.patch("/admin/tenants/<tenant_id>/settings", summary="Change some settings", tags=["tenants"])
def change_settings(tenant_id: str, body: SettingsChange) -> TenantView:
    return dependencies().change_settings(tenant_id, body, actor=actor())


@app.get("/admin/tenants/<tenant_id>/settings/history", summary="Settings versions, newest first: who changed "
         "which setting from what to what, and when", tags=["tenants"])
def settings_history(tenant_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 50,
                     next_token: Annotated[str | None, Query()] = None) -> SettingsHistoryPage:
    return dependencies().settings_history(tenant_id, limit=limit, next_token=next_token)


@app.post("/admin/tenants/<tenant_id>/enable", summary="Enable exports", tags=["tenants"])
def enable(tenant_id: str) -> TenantView:
    return dependencies().set_enabled(tenant_id, True)


@app.post("/admin/tenants/<tenant_id>/disable", summary="Disable exports", tags=["tenants"])
def disable(tenant_id: str) -> TenantView:
    return dependencies().set_enabled(tenant_id, False)


@app.post("/admin/tenants/<tenant_id>/webhook-secret", summary="Rotate the webhook secret", tags=["tenants"])
def rotate_webhook_secret(tenant_id: str) -> TenantView:
    return dependencies().rotate_webhook_secret(tenant_id)


# -------------------------------------------------------------------------------- connections


@app.get("/admin/tenants/<tenant_id>/connect-url", summary="A signed, single-use connect link for the tenant",
         tags=["connection"])
def connect_url(tenant_id: str, allow_business_change: Annotated[bool, Query()] = False) -> ConnectLink:
    return dependencies().connect_link(tenant_id, api_base_url(), allow_business_change=allow_business_change)


@app.get("/admin/tenants/<tenant_id>/connection", summary="Connection status", tags=["connection"])
def connection(tenant_id: str) -> ConnectionView:
    return dependencies().connection(tenant_id)


@app.post("/admin/tenants/<tenant_id>/login-connection",
          summary="Connect a product that takes a login (Sage Intacct); the login is verified with Sage first",
          tags=["connection"])
def connect_login(tenant_id: str, body: SageLogin) -> ConnectionView:
    return dependencies().connect_login(tenant_id, body)


@app.post("/admin/tenants/<tenant_id>/intacct-connection", summary="The same as login-connection (its first name)",
          tags=["connection"])
def connect_intacct(tenant_id: str, body: SageLogin) -> ConnectionView:
    return dependencies().connect_login(tenant_id, body)


@app.delete("/admin/tenants/<tenant_id>/connection", summary="Disconnect Sage", tags=["connection"])
def disconnect(tenant_id: str) -> Disconnected:
    return dependencies().disconnect(tenant_id)


# ----------------------------------------------------------------------------------- mappings


@app.get("/admin/tenants/<tenant_id>/sage/<what>", summary="Sage tax rates, ledger accounts or bank accounts",
         tags=["mappings"])
def sage_list(tenant_id: str, what: Literal["tax-rates", "ledger-accounts", "bank-accounts"]) -> list[SageAccountRef]:
    return dependencies().sage_list(tenant_id, what.replace("-", "_"))  # type: ignore[arg-type]


@app.get("/admin/tenants/<tenant_id>/mappings", summary="Host code -> Sage id mappings", tags=["mappings"])
def mappings(tenant_id: str) -> MappingsView:
    return dependencies().mappings(tenant_id)


@app.put("/admin/tenants/<tenant_id>/mappings", summary="Set mappings (checked against Sage)", tags=["mappings"])
def set_mappings(tenant_id: str, body: MappingsChange) -> MappingsSaved:
    return dependencies().set_mappings(tenant_id, body, actor=actor())


@app.get("/admin/tenants/<tenant_id>/mappings/health", summary="Mappings pointing at gone or inactive Sage records",
         tags=["mappings"])
def mapping_health(tenant_id: str) -> MappingHealth:
    return dependencies().mapping_health(tenant_id)


# ------------------------------------------------------------------------------------ exports


def _started(result: ExportStarted) -> Response[ExportStarted]:
    return Response(202 if result.mode == "queued" else 200, content_types.APPLICATION_JSON, result)


@app.post("/admin/tenants/<tenant_id>/exports", summary="Export now or dry run", tags=["exports"])
def start_export(tenant_id: str, body: ExportStart) -> Response[ExportStarted]:
    return _started(dependencies().start_export(tenant_id, body, caller=caller()))


@app.post("/admin/tenants/<tenant_id>/replay", summary="Replay failed or skipped documents", tags=["exports"])
def replay(tenant_id: str, body: ReplayRequest) -> Response[ExportStarted]:
    return _started(dependencies().replay(tenant_id, body, caller=caller()))


@app.get("/admin/tenants/<tenant_id>/runs", summary="Run history, newest first", tags=["exports"])
def runs(tenant_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 20,
         next_token: Annotated[str | None, Query()] = None,
         requested_by: Annotated[str | None, Query()] = None) -> RunsPage:
    return dependencies().runs(tenant_id, limit=limit, next_token=next_token, requested_by=requested_by)


@app.get("/admin/tenants/<tenant_id>/runs/<run_id>", summary="One run", tags=["exports"])
def run(tenant_id: str, run_id: str) -> RunView:
    return dependencies().run(tenant_id, run_id)


@app.get("/admin/tenants/<tenant_id>/log", summary="The sync log, filtered", tags=["exports"])
def sync_log(
    tenant_id: str,
    run: Annotated[str | None, Query()] = None,
    kind: Annotated[str | None, Query()] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    host_id: Annotated[str | None, Query()] = None,
    since: Annotated[date | None, Query(description="from this day (UTC)")] = None,
    until: Annotated[date | None, Query(description="to this day (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query()] = None,
) -> LogPage:
    return dependencies().log(tenant_id, run=run, kind=kind, outcome=outcome, host_id=host_id, since=since,
                              until=until, limit=limit, next_token=next_token)


@app.get("/admin/tenants/<tenant_id>/documents", summary="What the host app sent with this host id (any kind), "
         "as received", tags=["exports"])
def received_documents(tenant_id: str, host_id: Annotated[str, Query(min_length=1)]) -> ReceivedDocuments:
    return dependencies().received(tenant_id, host_id)


# --------------------------------------------------------------------------------- deliveries


@app.get("/admin/tenants/<tenant_id>/deliveries", summary="Events sent to the host app, newest first, with the "
         "host's last answer", tags=["deliveries"])
def deliveries(
    tenant_id: str,
    state: Annotated[DeliveryState | None, Query(description="queued, delivered or failed")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query()] = None,
) -> DeliveriesPage:
    return dependencies().deliveries(tenant_id, state=state, limit=limit, next_token=next_token)


@app.post("/admin/tenants/<tenant_id>/deliveries/resend", summary="Send every failed delivery again",
          tags=["deliveries"])
def resend_failed_deliveries(tenant_id: str) -> Response[DeliveriesResent]:
    return Response(202, content_types.APPLICATION_JSON, dependencies().resend_failed_deliveries(tenant_id))


@app.post("/admin/tenants/<tenant_id>/deliveries/<event_id>/resend", summary="Send one failed delivery again",
          tags=["deliveries"])
def resend_delivery(tenant_id: str, event_id: str) -> Response[DeliveriesResent]:
    return Response(202, content_types.APPLICATION_JSON, dependencies().resend_delivery(tenant_id, event_id))


# ------------------------------------------------------------------------------ tenant portal


@app.post("/admin/tenants/<tenant_id>/portal-links", summary="A signed, expiring link that opens the tenant portal "
          "for this tenant only (viewer or admin)", tags=["portal"])
def portal_link(tenant_id: str, body: PortalLinkRequest) -> Response[PortalLink]:
    return Response(201, content_types.APPLICATION_JSON, dependencies().portal_link(tenant_id, body, api_base_url()))


@app.post("/admin/tenants/<tenant_id>/portal-sessions/revoke", summary="End every portal session and unopened "
          "portal link of this tenant", tags=["portal"])
def revoke_portal_sessions(tenant_id: str) -> PortalSessionsRevoked:
    return dependencies().revoke_portal_sessions(tenant_id)


# --------------------------------------------------------------------------- status, reconcile


@app.get("/admin/tenants/<tenant_id>/status", summary="Tenant status at a glance", tags=["status"])
def status(tenant_id: str) -> TenantStatus:
    return dependencies().status(tenant_id)


@app.get("/admin/tenants/<tenant_id>/status.html", summary="Tenant status page for support staff",
         tags=["status"], include_in_schema=False)
def status_page(tenant_id: str):  # HTML: no return annotation, no schema
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    try:
        page = dependencies().status_page(tenant_id, api_base_url())
    except NotFoundError as exc:  # a page asked for in a browser answers with a page, not JSON
        text = html.escape(str(exc))
        return Response(404, "text/html; charset=utf-8", "<!doctype html><html lang=en><meta charset=utf-8>"
                        f"<title>Not found</title><h1>Not found</h1><p>{text}</p></html>", headers=headers)
    return Response(200, "text/html; charset=utf-8", page, headers=headers)


@app.get("/admin/tenants/<tenant_id>/reconciliation", summary="Host documents against Sage for a period",
         tags=["status"])
def reconciliation(
    tenant_id: str,
    window_from: Annotated[date, Query(alias="from")],
    window_to: Annotated[date, Query(alias="to")],
    kinds: Annotated[list[str] | None, Query(alias="kind")] = None,
    basis: Annotated[DateBasis | None, Query()] = None,
) -> ReconciliationReport:
    return dependencies().reconcile(tenant_id, window_from=window_from, window_to=window_to, kinds=kinds,
                                    date_basis=basis)


# ------------------------------------------------------------------------------------ handler


# Operation ids, status codes, SigV4, the host contract's webhooks, Swagger UI at /admin/docs (after the last route).
contract.configure(app, title="Sage Bridge admin API", version=API_VERSION,
                   description="Operators' API: every route needs an IAM (SigV4, service execute-api) signature.")


def openapi_json() -> str:
    """The OpenAPI document of these routes (docs/admin-openapi.json holds a copy; a test keeps it fresh)."""
    return contract.openapi_json(app)


@logger.inject_lambda_context(clear_state=True, correlation_id_path=HTTP_REQUEST_ID)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # API Gateway already refuses unsigned calls; refuse again, before any routing or parsing, in
    # case a route is ever deployed without the IAM authoriser (defence in depth).
    if not _iam(event):
        logger.warning("admin_refused", extra={"path": event.get("rawPath")})
        return FORBIDDEN
    return app.resolve(event, context)


if __name__ == "__main__":  # python functions/admin_api/app.py > docs/admin-openapi.json
    sys.stdout.write(json.dumps(json.loads(openapi_json()), indent=2, sort_keys=True) + "\n")
