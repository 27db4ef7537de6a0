"""What the admin API's OpenAPI document says besides the routes' own types: each route's operation
id and the status codes it answers with (the bodies as the handler sends them), the SigV4 security
scheme, and the host contract (the inbound webhook and the outbound deliveries) in OpenAPI 3.1's
`webhooks` section, from the same pydantic models docs/schemas is generated from.

`document_routes(app)` is called once, after the routes are declared. A route missing from
`ROUTES` gets a camelCase operation id from its function name and the default codes (200, plus 404
and 422 for a tenant's route); tests/integration/admin/test_openapi_status_codes.py drives every
route through the handler and fails on a status its document does not list.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from sagebridge.admin.models import Problem


class ErrorBody(BaseModel):
    """Every refusal of the admin API: a sentence, and for a refused request or settings, every bad field."""

    message: str
    problems: list[Problem] | None = Field(default=None, description="each bad field (422 only)")
    hint: str | None = Field(default=None, description="what to do next, where the handler knows it")


@dataclass(frozen=True)
class RouteContract:
    operation_id: str
    ok: tuple[int, ...] = (200,)
    errors: tuple[int, ...] = (404, 422)


def _r(operation_id: str, *errors: int, ok: tuple[int, ...] = (200,)) -> RouteContract:
    return RouteContract(operation_id, ok, tuple(sorted(errors)))


# By the route's function name in functions/admin_api/app.py. 422 is on every route that takes a
# body, a query or a constrained path parameter; 409 where a tenant's state (not connected, a run
# already going, a different product) refuses the request; 502 where Sage's refusal reaches the
# caller (an export run records Sage's failures in the run instead: 200).
ROUTES: dict[str, RouteContract] = {
    "list_tenants": _r("listTenants", 422),
    "create_tenant": _r("createTenant", 409, 422, ok=(201,)),
    "get_tenant": _r("getTenant", 404),
    "delete_tenant": _r("deleteTenant", 404),
    "replace_settings": _r("replaceSettings", 404, 409, 422),
    "change_settings": _r("changeSettings", 404, 409, 422),
    "settings_history": _r("listSettingsHistory", 404, 422),
    "portal_link": _r("createPortalLink", 404, 422, ok=(201,)),
    "revoke_portal_sessions": _r("revokePortalSessions", 404),
    "enable": _r("enableTenant", 404),
    "disable": _r("disableTenant", 404),
    "rotate_webhook_secret": _r("rotateWebhookSecret", 404, 422),
    "connect_url": _r("getConnectUrl", 404, 422),
    "connection": _r("getConnection", 404),
    "connect_login": _r("connectWithLogin", 404, 422, 502),
    "connect_intacct": _r("connectIntacct", 404, 422, 502),
    "disconnect": _r("disconnect", 404),
    "sage_list": _r("listSageRecords", 404, 409, 422, 502),
    "mappings": _r("getMappings", 404),
    "set_mappings": _r("setMappings", 404, 422),
    "mapping_health": _r("getMappingHealth", 404),
    "start_export": _r("startExport", 404, 409, 422, ok=(200, 202)),
    "replay": _r("replay", 404, 409, 422, ok=(200, 202)),
    "runs": _r("listRuns", 404, 422),
    "run": _r("getRun", 404),
    "sync_log": _r("getSyncLog", 404, 422),
    "received_documents": _r("getReceivedDocuments", 404, 422),
    "deliveries": _r("listDeliveries", 404, 422),
    "resend_failed_deliveries": _r("resendFailedDeliveries", 404, ok=(202,)),
    "resend_delivery": _r("resendDelivery", 404, 409, ok=(202,)),
    "status": _r("getStatus", 404),
    "reconciliation": _r("getReconciliation", 404, 409, 422, 502),
}

_MEANING = {
    200: "Done",
    201: "Created",
    202: "Accepted: queued, the work happens after this reply",
    403: "No IAM (SigV4) signature, or the caller's IAM policy does not allow execute-api:Invoke",
    404: "No such tenant (or run, delivery)",
    409: "The tenant's state refuses it now (not connected, a run already going, connected to another product, "
         "not a failed delivery); `message` says which, `hint` what to do",
    422: "The request or the settings are not valid: `problems` names every bad field",
    502: "Sage refused or failed the call this route makes; `message` quotes Sage",
}

SIGV4 = "sigv4"
SECURITY_SCHEMES: dict[str, Any] = {
    SIGV4: {
        # OpenAPI has no AWS Signature Version 4 scheme: an apiKey on Authorization is the closest shape,
        # with the vendor extension API Gateway itself uses for it.
        "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4",
        "description": "AWS Signature Version 4 for service `execute-api` in the stack's region (API Gateway's "
                       "IAM authoriser): sign every request with credentials allowed execute-api:Invoke on "
                       "this API (`aws-sigv4-proxy`, `awscurl`, botocore's SigV4Auth, the sagebridge CLI). "
                       "Unsigned or wrongly signed requests get 403 before they reach the function.",
    },
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def contract_for(func_name: str, path: str) -> RouteContract:
    known = ROUTES.get(func_name)
    if known is not None:
        return known
    return RouteContract(camel(func_name), (200,), (404, 422) if "<tenant_id>" in path else (422,))


def _responses(contract: RouteContract) -> dict[int, Any]:
    error = {"application/json": {"model": ErrorBody}}
    # A success without "content": Powertools describes it with the route's return type.
    out: dict[int, Any] = {code: {"description": _MEANING[code]} for code in contract.ok}
    # 422 on every route: Powertools' validation documents it for each, and a tenant id the store
    # cannot take (or settings it cannot read) is a 422 too; with the body as the handler sends it.
    for code in sorted({403, 422, *contract.errors}):
        out[code] = {"description": _MEANING[code], "content": copy.deepcopy(error)}
    return out


def document_routes(app: Any) -> None:
    """Set each route's operation id and responses (before the first request builds its schema)."""
    for route in [*app._static_routes, *app._dynamic_routes]:
        if not route.include_in_schema:
            continue
        contract = contract_for(route.func.__name__, route.path)
        route.operation_id = contract.operation_id
        route.responses = _responses(contract)
        route._dependant = None  # rebuilt with ErrorBody as a response model


def documented_statuses(app: Any) -> dict[tuple[str, str], set[int]]:
    """(METHOD, OpenAPI path) -> the status codes its operation documents."""
    spec = json.loads(app.get_openapi_json_schema())
    return {(method.upper(), path): {int(code) for code in operation["responses"]}
            for path, item in spec["paths"].items() for method, operation in item.items()}


# ------------------------------------------------------------------------------ webhooks section


def _inline(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    """The schema to embed at JSON pointer `pointer` of the document: its `#/$defs/...` references
    rewritten to absolute pointers (no $id, so every OpenAPI tool resolves them from the root)."""
    out = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    text = json.dumps(out).replace('"#/$defs/', f'"#{pointer}/$defs/')
    return json.loads(text)


_SAGE_BRIDGE_SIGNATURE = {
    "name": "Sage-Bridge-Signature", "in": "header", "required": False,
    "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>` (docs/host-integration.md, "
                   "section 1); one `v1` per secret during a rotation. Sent on deliveries when the tenant's "
                   "`host_signature_scheme` is `sagebridge` (the default).",
    "schema": {"type": "string", "pattern": "^t=\\d+(,v1=[0-9a-f]{64})+$"},
}
_STANDARD_WEBHOOKS = [
    {"name": "webhook-id", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "Standard Webhooks: the event id (the same as the body's `id` and `Idempotency-Key`). Sent instead "
                    "of Sage-Bridge-Signature when the tenant's `host_signature_scheme` is `standard-webhooks`."},
    {"name": "webhook-timestamp", "in": "header", "required": False, "schema": {"type": "string", "pattern": "^\\d+$"},
     "description": "Standard Webhooks: unix seconds when it was signed"},
    {"name": "webhook-signature", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "Standard Webhooks: `v1,<base64 HMAC-SHA256(key, \"<webhook-id>.<webhook-timestamp>.<raw "
                    "body>\")>`; the key is the tenant's webhook secret as UTF-8 bytes, so a Standard Webhooks "
                    "library takes `whsec_` + base64 of it"},
]
_DELIVERY_HEADERS = [
    {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "the event id: seen before, answer 2xx and ignore it"},
    {"name": "Sage-Bridge-Event-Type", "in": "header", "required": True, "schema": {"type": "string"}},
    _SAGE_BRIDGE_SIGNATURE, *_STANDARD_WEBHOOKS,
]
# Status ranges ("2XX") are what OpenAPI would say, but Powertools' model takes numbers only: one
# code stands for its range, and the description says so.
_DELIVERY_REPLIES = {
    200: {"description": "Any 2xx: delivered; recorded, never sent again"},
    400: {"description": "Any 4xx other than 408 and 429: refused for good; recorded failed, operators told, sent "
                         "again only when an operator resends it"},
    408: {"description": "Retried later (exponential backoff from 60 s, at most 1 h, with jitter)"},
    429: {"description": "Retried later; Retry-After (seconds) honoured"},
    500: {"description": "Any 5xx (and a timeout after 10 s, a connection error): retried later, Retry-After "
                         "honoured, until the queue's MaxReceiveCount, then dead-lettered"},
}
_WEBHOOK_REPLY = {"type": "object", "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
                  "additionalProperties": True}
_INBOUND_REPLIES = {
    202: {"description": "Stored (or stale, or a duplicate of an event id with the same body): "
                           "`{event_id, type, result, kind, host_id, export_queued, duplicate}`"},
    400: {"description": "`invalid_json`: not JSON or not UTF-8. Do not retry as is."},
    401: {"description": "`invalid_signature`: missing, malformed, older than 5 minutes or not matching. "
                           "Retry with a fresh signature once the secret and clock are right."},
    404: {"description": "`unknown_tenant`: no such tenant, or it is disabled. Do not retry."},
    409: {"description": "`event_id_conflict` (the id came before with another body: never retry) or "
                           "`in_progress` (+ Retry-After: retry later)"},
    413: {"description": "`payload_too_large`: over 256 KB. Do not retry."},
    415: {"description": "`unsupported_media_type`: Content-Type is not application/json. Do not retry as is."},
    422: {"description": "`invalid_event`: `problems` lists every bad field by dotted path. Do not retry as is."},
    503: {"description": "`try_again` (+ Retry-After): nothing stored; retry with the same id and body."},
}


def _body_pointer(name: str) -> str:
    return f"/webhooks/{name}/post/requestBody/content/application~1json/schema"


def webhooks_section() -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: `hostEvent` is what the host app sends to POST /webhooks/{tenant_id}
    (served by the webhooks function, not this API); one entry per event type Sage Bridge delivers
    to the tenant's host_callback_url. Schemas as in docs/schemas (the same models make both)."""
    from sagebridge.host.inbound import InboundEvent
    from sagebridge.host.outbound import EVENT_MODELS as OUTBOUND_MODELS

    inbound = TypeAdapter(InboundEvent).json_schema(mode="validation")
    hooks: dict[str, Any] = {
        "hostEvent": {"post": {
            "operationId": "receiveHostEvent", "tags": ["host contract"],
            "summary": "The host app sends a change: POST https://<api>/webhooks/{tenant_id} (the webhooks function)",
            "description": "Signed with the tenant's webhook secret (Sage-Bridge-Signature). Checked in this order: "
                           "size, tenant, signature, Content-Type, JSON, the event. docs/host-integration.md, "
                           "section 2; schema: docs/schemas/inbound/any.json.",
            "parameters": [{**_SAGE_BRIDGE_SIGNATURE, "required": True,
                            "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`"}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _inline(inbound, _body_pointer("hostEvent"))}}},
            "responses": {code: {**reply, "content": {"application/json": {"schema": copy.deepcopy(_WEBHOOK_REPLY)}}}
                          for code, reply in _INBOUND_REPLIES.items()},
        }},
    }
    for event_type, model in sorted(OUTBOUND_MODELS.items()):
        schema = model.model_json_schema(mode="serialization")
        hooks[event_type] = {"post": {
            "operationId": "deliver" + "".join(p.capitalize() for p in event_type.replace(".", "_").split("_")),
            "tags": ["host contract"],
            "summary": f"Sage Bridge sends `{event_type}` to the tenant's host_callback_url",
            "description": f"Schema: docs/schemas/outbound/{event_type}.json. Verify the signature on the raw body "
                           "before parsing it (clients/python, docs/host-integration.md section 3).",
            "parameters": copy.deepcopy(_DELIVERY_HEADERS),
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _inline(schema, _body_pointer(event_type.replace("/", "~1")))}}},
            "responses": copy.deepcopy(_DELIVERY_REPLIES),
        }}
    return hooks


SWAGGER_PATH = "/admin/docs"


def configure(app: Any, *, title: str, version: str, description: str) -> None:
    """Operation ids, status codes, the SigV4 scheme and the webhooks section for the OpenAPI document
    and the Swagger UI (served at SWAGGER_PATH, under /admin/ so behind the same IAM authoriser)."""
    document_routes(app)
    app.configure_openapi(title=title, version=version, description=description,
                          security_schemes=SECURITY_SCHEMES, security=[{SIGV4: []}],
                          openapi_extensions={"webhooks": webhooks_section()})
    app.enable_swagger(path=SWAGGER_PATH, title=title, version=version, description=description,
                       security_schemes=SECURITY_SCHEMES, security=[{SIGV4: []}])


def openapi_json(app: Any) -> str:
    """The document as served and kept in docs/: Powertools' own, with the webhooks section as
    generated (Powertools' model drops `"default": null` from schemas; the Swagger UI page shows its
    version, which validates the same)."""
    spec = json.loads(app.get_openapi_json_schema())
    spec["webhooks"] = webhooks_section()
    return json.dumps(spec)
