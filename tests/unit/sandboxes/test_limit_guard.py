"""The suite-wide guard: a test whose client makes a sandbox refuse a request for crossing a documented
limit fails, unless it says it provokes the refusal on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

# The suite's own guard, without the suite's socket and AWS fixtures (the outer test already has them).
_SUITE_CONFTEST = (Path(__file__).parents[2] / "conftest.py").read_text()
CONFTEST = ("import pytest\n\nfrom local.sandboxes import limits\n\n\n"
            + _SUITE_CONFTEST[_SUITE_CONFTEST.index("@pytest.fixture(autouse=True)\ndef _no_limit_crossed"):])

CROSSING = """
import httpx
import pytest

from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox


def _ask_for_201_per_page():
    sandbox = SageAccountingSandbox()
    tokens = sandbox.issue_tokens()
    with httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL,
                      headers={"Authorization": f"Bearer {tokens['access_token']}",
                               "X-Business": sandbox.lead_business_id}) as client:
        return client.get(f"{API_BASE_URL}/contacts", params={"items_per_page": 201}).status_code


def test_crosses_the_page_size_limit():
    assert _ask_for_201_per_page() == 422  # the client "handles" the refusal, yet the guard must fail it


@pytest.mark.limit_refusals_expected
def test_provokes_the_refusal_on_purpose():
    assert _ask_for_201_per_page() == 422
"""


def test_a_test_whose_client_crosses_a_documented_limit_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    limit_refusals_expected: on purpose\n")
    pytester.makepyfile(test_crossing=CROSSING)
    result = pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)  # the crossing test passes its body, fails at teardown
    result.stdout.fnmatch_lines(["*a client crossed a documented Sage limit*",
                                 "*sage_accounting: page_size limit: GET /contacts items_per_page=201*"])
