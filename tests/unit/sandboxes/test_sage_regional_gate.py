"""The regional Sage Accounting sandbox's gate as a client sees it over HTTP: the URL shape, the API key,
the Sage login (and its lockout), the company, the request limit with its one-hour block, verbs and
Content-Type (../shared/specs/sage-accounting-regional/README.md §2, §3, §7, §8)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.sandboxes.sage_regional import (
    API_BASE_URL,
    DEFAULT_API_KEY,
    LOGIN_BLOCK_MESSAGE,
    REQUEST_BLOCK_MESSAGE,
    SageRegionalSandbox,
    SandboxClock,
    VirtualSeconds,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def sandbox() -> SageRegionalSandbox:
    return SageRegionalSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))


@pytest.fixture
def http(sandbox: SageRegionalSandbox) -> Iterator[httpx.Client]:
    """No credentials: each test says what it sends."""
    with httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL) as client:
        yield client


def _call(http: httpx.Client, sandbox: SageRegionalSandbox, path: str, *, auth: tuple[str, str] | None = None,
          key: str | None = DEFAULT_API_KEY, company: int | None = -1, method: str = "GET",
          json: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    params: dict[str, str | int] = {}
    if key is not None:
        params["apikey"] = key
    if company is not None:
        params["companyid"] = sandbox.lead_company_id if company == -1 else company
    return http.request(method, path, params=params, auth=auth or sandbox.basic_auth(), json=json,
                        headers=JSON if headers is None else headers)


def test_company_get_lists_the_logins_companies_without_a_companyid(http, sandbox):
    answer = _call(http, sandbox, "/Company/Get", company=None)
    assert answer.status_code == 200
    body = answer.json()
    assert body["TotalResults"] == body["ReturnedResults"] == 2
    assert [c["Name"] for c in body["Results"]] == ["Demo Garage Pty Ltd", "Demo Bodyshop Pty Ltd"]
    assert all(isinstance(c["ID"], int) for c in body["Results"])
    assert answer.headers["content-type"].startswith("application/json")


def test_a_login_sees_only_its_own_companies(http, sandbox):
    sandbox.add_login("other@example.com", "pw-2")
    own = sandbox.add_company("Other Ltd", logins=["other@example.com"])
    listed = _call(http, sandbox, "/Company/Get", company=None, auth=("other@example.com", "pw-2")).json()
    assert [c["ID"] for c in listed["Results"]] == [own.company_id]
    # ...and the default login cannot open it: 404, as Sage answers an entity of another company.
    refused = _call(http, sandbox, "/Customer/Get", company=own.company_id)
    assert refused.status_code == 404
    assert "Company/Get" in refused.json()["Message"]


def test_service_method_and_query_names_are_case_insensitive_and_braces_optional(http, sandbox):
    bare_key = DEFAULT_API_KEY.strip("{}").upper()
    answer = http.get("/customer/GET", params={"APIKEY": bare_key, "CompanyId": sandbox.lead_company_id},
                      auth=sandbox.basic_auth(), headers=JSON)
    assert answer.status_code == 200
    assert answer.json()["TotalResults"] == 2


def test_a_wrong_or_missing_api_key_is_iis_html_401_with_x_apikey_invalid(http, sandbox):
    for key in ("{00000000-0000-0000-0000-000000000000}", None):
        answer = _call(http, sandbox, "/Customer/Get", key=key)
        assert answer.status_code == 401
        assert answer.headers["x-apikey"] == "Invalid"
        assert answer.headers["content-type"].startswith("text/html")


def test_a_wrong_login_is_401_json_with_www_authenticate_basic(http, sandbox):
    answer = _call(http, sandbox, "/Company/Get", company=None, auth=(sandbox.login.username, "wrong"))
    assert answer.status_code == 401
    assert answer.json() == {"Message": "Authorization has been denied for this request."}
    assert answer.headers["www-authenticate"] == "Basic"


def test_no_username_is_400_username_is_required(http, sandbox):
    answer = http.get("/Company/Get", params={"apikey": DEFAULT_API_KEY}, headers=JSON)
    assert answer.status_code == 400
    assert answer.text == "Username is Required."


@pytest.mark.limit_refusals_expected
def test_twenty_failed_logins_in_an_hour_block_the_username_for_24_hours(http, sandbox):
    wrong = (sandbox.login.username, "wrong")
    statuses = [_call(http, sandbox, "/Company/Get", company=None, auth=wrong).status_code for _ in range(20)]
    assert statuses == [401] * 20
    blocked = _call(http, sandbox, "/Company/Get", company=None, auth=wrong)
    assert blocked.status_code == 429
    assert blocked.json()["Message"] == LOGIN_BLOCK_MESSAGE
    # Even the right password is refused while the username is blocked...
    assert _call(http, sandbox, "/Company/Get", company=None).status_code == 429
    sandbox.clock.advance(hours=23, minutes=59)
    assert _call(http, sandbox, "/Company/Get", company=None).status_code == 429
    sandbox.clock.advance(minutes=2)  # ...until the 24 hours are over.
    assert _call(http, sandbox, "/Company/Get", company=None).status_code == 200
    assert sandbox.throttled["login"] == 3


def test_failed_logins_spread_over_more_than_an_hour_do_not_block(http, sandbox):
    wrong = (sandbox.login.username, "wrong")
    for _ in range(19):
        _call(http, sandbox, "/Company/Get", company=None, auth=wrong)
    sandbox.clock.advance(hours=1, seconds=1)
    for _ in range(19):
        assert _call(http, sandbox, "/Company/Get", company=None, auth=wrong).status_code == 401
    assert _call(http, sandbox, "/Company/Get", company=None).status_code == 200


def test_a_missing_companyid_is_400_and_an_unknown_one_404(http, sandbox):
    assert _call(http, sandbox, "/Customer/Get", company=None).status_code == 400
    assert _call(http, sandbox, "/Customer/Get", company=999_999).status_code == 404


@pytest.mark.limit_refusals_expected
def test_the_101st_request_in_a_minute_is_429_and_blocks_the_caller_for_an_hour(http, sandbox):
    for _ in range(100):
        assert _call(http, sandbox, "/TaxType/Get").status_code == 200
    refused = _call(http, sandbox, "/TaxType/Get")
    assert refused.status_code == 429
    assert refused.json()["Message"] == REQUEST_BLOCK_MESSAGE
    sandbox.clock.advance(minutes=59)  # the minute is long over, the hour is not
    assert _call(http, sandbox, "/TaxType/Get").status_code == 429
    assert sandbox.accountant().throttled() == 2


@pytest.mark.limit_refusals_expected
def test_the_block_lifts_an_hour_after_the_last_call_and_is_per_company(http, sandbox):
    for _ in range(101):
        _call(http, sandbox, "/TaxType/Get")
    other = list(sandbox.companies)[1]
    assert _call(http, sandbox, "/TaxType/Get", company=other).status_code == 200  # another company: not blocked
    sandbox.clock.advance(hours=1, seconds=1)
    assert _call(http, sandbox, "/TaxType/Get").status_code == 200


@pytest.mark.limit_refusals_expected
def test_calling_during_the_block_extends_it_unless_the_knob_says_otherwise(http):
    for extends, expected in ((True, 429), (False, 200)):
        sandbox = SageRegionalSandbox(clock=SandboxClock.frozen_at(), rate_limit_extends_block=extends)
        with httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL) as client:
            for _ in range(101):
                _call(client, sandbox, "/TaxType/Get")
            sandbox.clock.advance(minutes=30)
            assert _call(client, sandbox, "/TaxType/Get").status_code == 429
            sandbox.clock.advance(minutes=31)
            assert _call(client, sandbox, "/TaxType/Get").status_code == expected


def test_one_request_a_second_never_meets_the_limit(http, sandbox):
    for _ in range(130):
        assert _call(http, sandbox, "/TaxType/Get").status_code == 200
        sandbox.clock.advance(seconds=1)
    assert sandbox.throttled["rate"] == 0


def test_a_pacer_sharing_the_sandboxs_elapsed_seconds_is_never_refused():
    elapsed = VirtualSeconds()
    sandbox = SageRegionalSandbox(clock=SandboxClock.frozen_at(), rate_limit_seconds=elapsed)
    with httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL) as client:
        for _ in range(150):  # one request every 0.61 s: under 100 a minute
            assert _call(client, sandbox, "/TaxType/Get").status_code == 200
            elapsed.sleep(0.61)
    assert sandbox.throttled["rate"] == 0


@pytest.mark.limit_refusals_expected
def test_a_429_has_no_retry_after_and_the_exceeded_reason_header_only_by_knob():
    for knob in (False, True):
        sandbox = SageRegionalSandbox(clock=SandboxClock.frozen_at(), rate_limit_per_minute=1,
                                      exceeded_reason_header=knob)
        with httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL) as client:
            _call(client, sandbox, "/TaxType/Get")
            refused = _call(client, sandbox, "/TaxType/Get")
        assert refused.status_code == 429 and "retry-after" not in refused.headers
        assert refused.headers.get("x-requestlimit-exceededreason") == (REQUEST_BLOCK_MESSAGE if knob else None)


def test_a_company_whose_registration_expired_answers_402(http, sandbox):
    sandbox.accountant().let_registration_expire()
    answer = _call(http, sandbox, "/Customer/Get")
    assert answer.status_code == 402 and "expired" in answer.json()["Message"]
    assert _call(http, sandbox, "/Company/Get", company=None).status_code == 200  # the login still works
    sandbox.accountant().let_registration_expire(False)
    assert _call(http, sandbox, "/Customer/Get").status_code == 200


def test_an_unknown_service_method_or_verb_answers_as_asp_net_does(http, sandbox):
    missing = _call(http, sandbox, "/Nonsense/Get")
    assert missing.status_code == 404
    assert missing.json()["Message"].startswith("No HTTP resource was found that matches the request URI")
    no_delete = _call(http, sandbox, "/TaxInvoice/Delete/1", method="DELETE")
    assert no_delete.status_code == 404
    assert no_delete.json() == "No action was found on the controller 'TaxInvoice' that matches the name 'Delete'."
    wrong_verb = _call(http, sandbox, "/Customer/Save", method="GET")
    assert wrong_verb.status_code == 405
    assert wrong_verb.headers["allow"] == "POST"
    assert "does not support http method 'GET'" in wrong_verb.json()["Message"]


def test_a_request_without_content_type_json_is_415(http, sandbox):
    post = http.post("/Customer/Save", params={"apikey": DEFAULT_API_KEY, "companyid": sandbox.lead_company_id},
                     auth=sandbox.basic_auth(), content=b'{"Name": "X"}')
    assert post.status_code == 415
    assert _call(http, sandbox, "/Customer/Get", headers={}).status_code == 415
    relaxed = SageRegionalSandbox(require_content_type_on_get=False)
    with httpx.Client(transport=relaxed.sync_transport(), base_url=API_BASE_URL) as client:
        assert _call(client, relaxed, "/Customer/Get", headers={}).status_code == 200


def test_a_committed_save_whose_answer_is_lost_is_still_in_the_books(http, sandbox):
    sandbox.faults.drop_after_commit(path="/Customer/Save")
    with pytest.raises(httpx.ReadTimeout):
        _call(http, sandbox, "/Customer/Save", method="POST", json={"Name": "Lost Answer Ltd"})
    assert [c["Name"] for c in sandbox.accountant().list("Customer")][-1] == "Lost Answer Ltd"


@pytest.mark.limit_refusals_expected
def test_the_local_block_control_forces_the_hour_long_block_on_one_company_and_lifts_it(sandbox):
    """POST /_sandbox/block (the local stack's control): the company's next request is Sage's 429, another
    company is not blocked, GET says who is blocked, and "lift" ends it."""
    from local.sandboxes.control import SandboxControls
    from local.sandboxes.sage_accounting.app import SyncASGITransport

    served = SandboxControls(sandbox, sandbox.clock, sandbox=sandbox)
    with httpx.Client(transport=SyncASGITransport(served), base_url="http://sandbox") as control, \
            httpx.Client(transport=SyncASGITransport(served), base_url=API_BASE_URL) as http:
        lead, other = list(sandbox.companies)
        assert control.post("/_sandbox/block", json={"company_id": lead}).status_code == 200
        refused = _call(http, sandbox, "/TaxType/Get")
        assert refused.status_code == 429 and refused.json()["Message"] == REQUEST_BLOCK_MESSAGE
        assert _call(http, sandbox, "/TaxType/Get", company=other).status_code == 200
        [blocked] = control.get("/_sandbox/block").json()["blocked"]
        assert blocked["company_id"] == lead and blocked["seconds_left"] >= 3599
        assert "password" not in str(blocked) and DEFAULT_API_KEY not in str(blocked)

        assert control.post("/_sandbox/block", json={"company_id": lead, "lift": True}).json()["blocked"] == []
        assert _call(http, sandbox, "/TaxType/Get").status_code == 200
        wrong = control.post("/_sandbox/block", json={"company_id": "Demo"})
        assert wrong.status_code == 400 and "company_id" in wrong.json()["error"]
