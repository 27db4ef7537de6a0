"""The shared layer's build (layers/shared/Makefile, SAM's `makefile` build method) ships what Lambda
imports: bytecode from the runtime's own Python version, and botocore's data for every AWS service
the code creates a client for. `make check` runs the real build (scripts/check-template.sh)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from local import template as tpl

ROOT = tpl.ROOT
LAYER = ROOT / "layers" / "shared"
MAKEFILE = LAYER / "Makefile"


def _make_var(name: str) -> str:
    match = re.search(rf"^{name} \?= (.+)$", MAKEFILE.read_text(), re.M)
    assert match, f"{name} is not set in {MAKEFILE}"
    return match.group(1).strip()


def test_the_bytecode_is_compiled_by_the_runtime_s_python_version():
    """A .pyc of another Python version is ignored at import: the Makefile's version is the runtime's."""
    template = tpl.load_template()
    runtime = template["Globals"]["Function"]["Runtime"]
    layer = template["Resources"]["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert runtime == f"python{_make_var('PYTHON_VERSION')}"
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    assert _make_var("PLATFORM").endswith("aarch64")  # Architectures: [arm64]
    assert "--invalidation-mode unchecked-hash" in MAKEFILE.read_text()


CLIENT_CALL = re.compile(r"""(?:client|new_client|create_client)\(\s*["']([a-z0-9-]+)["']""")


def _services_named(*packages: Path) -> set[str]:
    return {name for package in packages for source in package.rglob("*.py")
            for name in CLIENT_CALL.findall(source.read_text(errors="replace"))}


def test_every_aws_service_the_code_calls_keeps_its_botocore_data():
    """Pruning botocore's data to BOTOCORE_SERVICES must not drop a service a client is made for."""
    kept = set(_make_var("BOTOCORE_SERVICES").split())
    used = _services_named(LAYER / "sagebridge")
    assert {"dynamodb", "sqs"} <= used  # the scan finds what it looks for
    assert used <= kept, f"botocore data pruned for services the code uses: {sorted(used - kept)}"


def test_the_tracer_s_own_clients_keep_their_botocore_data():
    """Every function runs the Powertools Tracer (Tracing: Active), whose X-Ray SDK creates an X-Ray
    client when it loads: a layer without that service's data fails every cold start."""
    import aws_lambda_powertools.tracing
    import aws_xray_sdk

    kept = set(_make_var("BOTOCORE_SERVICES").split())
    used = _services_named(Path(aws_xray_sdk.__file__).parent, Path(aws_lambda_powertools.tracing.__file__).parent)
    assert "xray" in used
    assert used <= kept, f"botocore data pruned for services the tracer uses: {sorted(used - kept)}"


def test_the_build_stops_when_the_interpreter_is_another_python_version(tmp_path: Path):
    """Bytecode from Python 3.11 is useless on a 3.12 runtime: the build refuses instead of shipping it."""
    done = subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "build-SharedLayer", f"ARTIFACTS_DIR={tmp_path}",
         "PYTHON_VERSION=3.99", "PYTHON=python3"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode != 0
    assert "the runtime is 3.99: its bytecode would be ignored" in done.stderr
    assert not (tmp_path / "python").exists()
