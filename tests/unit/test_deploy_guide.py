"""docs/deploy.md stays true to the template and the CLI: every parameter it must explain is there,
every `sagebridge` command it gives exists, its cost arithmetic adds up, and the settings secret's
initial value (which CloudFormation would regenerate, wiping deployments' credentials, if it ever
changed) is the one deployed stacks were created with."""

from __future__ import annotations

import json
import re
import shlex
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import sagebridge_cli as cli
from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "deploy.md").read_text()


def test_the_settings_secret_initial_value_never_changes():
    generate = tpl.resources()["SettingsSecret"]["Properties"]["GenerateSecretString"]
    assert json.loads(generate["SecretStringTemplate"]) == {
        "sage_accounting_client_id": "REPLACE_ME", "sage_accounting_client_secret": "REPLACE_ME",
        "sage200_client_id": "REPLACE_ME", "sage200_client_secret": "REPLACE_ME",
        "intacct_sender_id": "REPLACE_ME", "intacct_sender_password": "REPLACE_ME",
        "sage_regional_api_key": "REPLACE_ME"}
    assert (generate["GenerateStringKey"], generate["PasswordLength"], generate["ExcludePunctuation"]) == (
        "state_signing_key", 64, True)


@pytest.mark.parametrize("parameter", sorted(tpl.load_template(tpl.TEMPLATE)["Parameters"]))
def test_every_parameter_is_explained(parameter: str):
    assert f"`{parameter}`" in GUIDE


def _commands() -> list[list[str]]:
    found = []
    for line in GUIDE.splitlines():
        match = re.search(r"\.venv/bin/sagebridge ([^#]+)", line)
        if match:
            words = [w for w in shlex.split(match.group(1)) if not w.startswith("-")]
            found.append(words)
    return found


def test_every_sagebridge_command_in_the_guide_exists():
    commands = _commands()
    assert len(commands) >= 6
    for words in commands:
        path: list[str] = []
        for word in words:  # the command path: words until one is not a subcommand
            result = CliRunner().invoke(cli.app, [*path, word, "--help"])
            if result.exit_code != 0:
                break
            path.append(word)
        assert path and path[0] in {"settings-secret", "doctor", "tenants", "connect-url", "status"}, words
        assert CliRunner().invoke(cli.app, [*path, "--help"]).exit_code == 0


def _cents(value: Decimal, places: str) -> str:
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def test_the_cost_arithmetic_adds_up():
    million = Decimal(1_000_000)
    gb_s, request, api = Decimal("0.0000133334"), Decimal("0.20") / million, Decimal("1.00") / million
    wru, rru, sqs = Decimal("0.625") / million, Decimal("0.125") / million, Decimal("0.40") / million
    trace, kms, log_gb = Decimal("5.00") / million, Decimal("0.03") / 10_000, Decimal("0.50")
    per_document = (api + 2 * request + Decimal("0.19") * gb_s + 12 * wru + 3 * rru + 3 * sqs
                    + Decimal("0.000002") * log_gb + 2 * trace)
    runs = 2880
    idle = runs * (request + Decimal("0.05") * gb_s + 3 * wru + 3 * rru + 3 * sqs + trace)
    poll = runs * (request + Decimal("1.2") * gb_s + 2 * wru + 2 * rru + 3 * sqs + trace)
    per_tenant = Decimal("0.40") + idle + poll + 2 * runs * Decimal("0.0000015") * log_gb + 2 * runs * 2 * kms
    assert f"**{_cents(per_document, '0.0000001')}**" in GUIDE
    assert f"**{_cents(per_tenant, '0.0001')}**" in GUIDE
    assert f"about ${_cents(per_tenant + 100 * per_document, '0.01')}" in GUIDE
    assert f"about ${_cents(per_tenant + 10_000 * per_document, '0.01')}" in GUIDE


def test_the_workers_memory_is_a_parameter_the_local_stack_resolves_and_the_guide_explains():
    """Review of issue 20: performance.md priced the workers at 256 MB while the template shipped 512 MB
    with no way to choose short of editing it."""
    specs = tpl.functions()
    default = tpl.load_template(tpl.TEMPLATE)["Parameters"]["WorkerMemorySize"]["Default"]
    assert specs["ExportWorkerFunction"].memory_size == specs["PaymentPollWorkerFunction"].memory_size == default
    assert specs["AdminApiFunction"].memory_size == 512  # where a person waits on a cold start
    assert "### Performance settings" in GUIDE and "`EXPORT_STOP_MARGIN_SECONDS`" in GUIDE and "`BatchSize`" in GUIDE
