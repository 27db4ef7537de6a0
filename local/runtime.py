"""What `sam local invoke` does inside its container, done in this process: resolve a function's
environment from template.yaml against the running local stack, put the layer and the function's
code on the import path, import the handler and call it with a Lambda-like context."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from local import template as tpl
from local import timeshift

# Tests run their own stack beside a developer's by pointing this somewhere else.
STATE_DIR = Path(os.environ.get("SAGEBRIDGE_LOCAL_STATE", tpl.ROOT / ".local-stack"))
OUTPUTS = STATE_DIR / "outputs.json"


PSEUDO_PARAMETERS = {
    "AWS::Region": "eu-west-2",
    "AWS::AccountId": "000000000000",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "sagebridge-local",
    "AWS::NoValue": "",
}


class LocalStackNotRunning(RuntimeError):
    """No outputs file, or its endpoints do not answer; the message says how to start the stack."""


def read_outputs(path: Path = OUTPUTS) -> dict[str, Any]:
    if not path.exists():
        raise LocalStackNotRunning(
            f"the local stack is not running ({path} is missing): "
            "start it in another terminal with `make stack` (or `.venv/bin/python -m local.stack`)"
        )
    outputs = json.loads(path.read_text())
    pid = outputs.get("pid")
    if pid and not alive(int(pid)):
        raise LocalStackNotRunning(
            f"the local stack that wrote {path} (pid {pid}) has stopped: "
            "start it again with `make stack`"
        )
    return outputs


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve(value: Any, names: dict[str, str], parameters: dict[str, str]) -> Any:
    """Resolve the intrinsics SAM templates use in environment variables against local names."""
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        ref = value["Ref"]
        if ref in names:
            return names[ref]
        if ref in parameters:
            return parameters[ref]
        if ref in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[ref]
        raise KeyError(f"!Ref {ref}: not a resource of the local stack nor a parameter")
    if "Fn::GetAtt" in value:
        logical_id, attr = value["Fn::GetAtt"]
        key = f"{logical_id}.{attr}"
        if key not in names:
            raise KeyError(f"!GetAtt {key}: the local stack does not provide it")
        return names[key]
    if "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]

        def sub(match: re.Match[str]) -> str:
            token = match.group(1)
            if "." in token:
                return str(resolve({"Fn::GetAtt": token.split(".", 1)}, names, parameters))
            return str(resolve({"Ref": token}, names, parameters))

        return re.sub(r"\$\{([^}!]+)\}", sub, text)
    if "Fn::If" in value:
        # Conditions in environments only pick optional extras here; the local stack takes the else.
        return resolve(value["Fn::If"][2], names, parameters)
    raise ValueError(f"unsupported intrinsic in an environment variable: {value}")


def parameter_defaults(path: Path = tpl.TEMPLATE) -> dict[str, str]:
    params = tpl.load_template(path).get("Parameters") or {}
    return {name: str(p.get("Default", "")) for name, p in params.items()}


def function_environment(spec: tpl.FunctionSpec, outputs: dict[str, Any]) -> dict[str, str]:
    """The function's environment as Lambda would give it, with local endpoints added."""
    names = outputs.get("resources", {})
    parameters = {**parameter_defaults(), **outputs.get("parameters", {})}
    env = {k: str(resolve(v, names, parameters)) for k, v in spec.environment.items()}
    env.update(outputs.get("environment", {}))
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", spec.logical_id)
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(spec.memory_size))
    return env


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object Powertools reads."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-2:000000000000:function:{self.function_name}"
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_import_lock = threading.Lock()
_env_lock = threading.RLock()
_handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}


def _add_to_path(*dirs: Path) -> None:
    for d in reversed(dirs):
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))


def load_handler(spec: tpl.FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    """Import the function's handler module from its CodeUri under a name of its own (every
    function's module is called `app`, so they cannot share one name in one process)."""
    with _import_lock:
        if spec.logical_id in _handlers:
            return _handlers[spec.logical_id]
        layer_dirs = tpl.layer_dirs()
        refs = [ref.get("Ref") for ref in spec.layers if isinstance(ref, dict)]
        _add_to_path(*[layer_dirs[r] for r in refs if r in layer_dirs])
        module_file = spec.code_uri / (spec.module_name.replace(".", "/") + ".py")
        if not module_file.exists():
            raise FileNotFoundError(f"{spec.logical_id}: handler module {module_file} not found")
        module_name = f"_local_{spec.logical_id}_{spec.module_name.replace('.', '_')}"
        module_spec = importlib.util.spec_from_file_location(module_name, module_file)
        assert module_spec and module_spec.loader
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
        handler = getattr(module, spec.function_name, None)
        if handler is None:
            raise AttributeError(f"{spec.logical_id}: {module_file} has no function {spec.function_name}")
        _handlers[spec.logical_id] = handler
        return handler


def cold_start() -> None:
    """Forget every handler imported so far and the settings read by them, as a fresh Lambda
    container would: the next invocation imports again and reads the (new) environment."""
    with _import_lock:
        for logical_id in list(_handlers):
            sys.modules.pop(_handlers[logical_id].__module__, None)
        _handlers.clear()
    settings = sys.modules.get("sagebridge.settings")
    if settings is not None:
        settings.get_settings.cache_clear()
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        # boto3's default session keeps the credentials and endpoints it first saw; a new container
        # starts without one (Powertools' own clients come from it).
        boto3.DEFAULT_SESSION = None


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set the function's environment for the duration of one invocation."""
    with _env_lock:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def invoke(logical_id: str, event: dict[str, Any], outputs: dict[str, Any] | None = None) -> Any:
    """Invoke one function of template.yaml with `event`, as `sam local invoke` would."""
    specs = tpl.functions()
    if logical_id not in specs:
        raise KeyError(f"{logical_id} is not a function of template.yaml; there are: {', '.join(sorted(specs))}")
    spec = specs[logical_id]
    outputs = read_outputs() if outputs is None else outputs
    env = function_environment(spec, outputs)
    with environment(env):
        handler = load_handler(spec)
        if timeshift.moved():
            timeshift.load_products()  # imported on first use otherwise, too late to be patched
            timeshift.patch_loaded_modules()  # the stack's clock was moved: Sage Bridge lives at its time
        context = LambdaContext(spec.logical_id, spec.memory_size, spec.timeout)
        try:
            return handler(event, context)
        finally:
            _drop_unpublished_metrics()


def _drop_unpublished_metrics() -> None:
    # With metrics disabled (the quiet demo) Powertools keeps each invocation's values, and prints
    # them all at once when one metric reaches 100 values; a Lambda container would have dropped them.
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    from sagebridge.observability import metrics

    if is_metrics_disabled():
        metrics.clear_metrics()
