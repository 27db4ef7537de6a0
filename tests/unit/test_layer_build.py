"""The shared layer's build (layers/shared/Makefile, SAM's `makefile` build method) ships what Lambda
imports: bytecode from the runtime's own Python version, and botocore's data for every AWS service
the code creates a client for. `make check` runs the real build (scripts/check-template.sh)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import botocore
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader
from botocore.session import Session

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


def _prune_module():
    spec = importlib.util.spec_from_file_location("prune_botocore", LAYER / "prune_botocore.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_pruned_botocore_still_makes_every_kept_client_and_no_other(tmp_path: Path):
    """What the build leaves: each kept service's client resolves its regional endpoint and loads its
    model from the pruned data alone; a service that was pruned is unknown, not silently elsewhere."""
    kept = set(_make_var("BOTOCORE_SERVICES").split())
    source = Path(botocore.__file__).parent / "data"
    data = tmp_path / "data"
    data.mkdir()
    for entry in [*(source / name for name in (*kept, "ec2")), *source.glob("*.json")]:
        (shutil.copytree if entry.is_dir() else shutil.copy)(entry, data / entry.name)
    _prune_module().prune(data, kept)
    assert sorted(d.name for d in data.iterdir() if d.is_dir()) == sorted(kept)
    assert (data / "endpoints.json").stat().st_size < 100_000  # from about 1.2 MB

    session = Session()
    session.register_component("data_loader", Loader(extra_search_paths=[str(data)],
                                                      include_default_search_paths=False))
    for service in sorted(kept):
        client = session.create_client(service, region_name="eu-west-2", aws_access_key_id="k",
                                       aws_secret_access_key="s")
        assert client.meta.endpoint_url.endswith(".eu-west-2.amazonaws.com"), (service, client.meta.endpoint_url)
    with pytest.raises(UnknownServiceError):
        session.create_client("ec2", region_name="eu-west-2")
