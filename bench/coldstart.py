"""Figure 6: cold start, as import time. Each function's `app` module is imported in a fresh
interpreter under `python -X importtime`, and its cumulative import time is divided by that of a
bare Powertools handler (Logger, Metrics, Tracer and a handler, nothing else) measured the same
way in the same run. Best of `repeat` fresh processes each; the layer is on the path as in Lambda."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Figure

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
BARE = '''from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics(namespace="Bench")
tracer = Tracer()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return {}
'''
# What Lambda's environment gives every function (template.yaml Globals), so imports see the same.
ENV = {
    "POWERTOOLS_SERVICE_NAME": "sagebridge", "POWERTOOLS_METRICS_NAMESPACE": "SageBridge",
    "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "eu-west-2",
}


def import_us(module: str, path: Path) -> int:
    """Cumulative microseconds to import `module` from `path` in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | ENV
    env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT / "layers" / "shared")])
    # rich and click are dev tools in this venv, not in the layer (layers/shared/requirements.txt);
    # httpx imports its CLI when they are present, so they are hidden to import what Lambda imports.
    code = f"import sys; sys.modules.update(rich=None, click=None); import {module}"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=path, env=env,
                         capture_output=True, text=True, check=True)
    for line in out.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"{module} not in -X importtime output: {out.stderr[-500:]}")


def functions() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))


def run(repeat: int = 3, only: tuple[str, ...] = ()) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare_handler.py").write_text(BARE)
        bare = min(import_us("bare_handler", Path(tmp)) for _ in range(repeat))
    figures = []
    for name in only or functions():
        took = min(import_us("app", FUNCTIONS / name) for _ in range(repeat))
        figures.append(Figure(f"cold start {name}", took / bare, "<= 1.5",
                              f"{took / 1000:.0f} ms vs bare Powertools {bare / 1000:.0f} ms"))
    return figures
