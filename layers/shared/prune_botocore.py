"""Build step of the shared layer (layers/shared/Makefile; not shipped): keep botocore's data only for
the AWS services the layer creates clients for. `python prune_botocore.py DATA_DIR SERVICE...` removes
every other service's directory and drops the other services from endpoints.json (1.2 MB, parsed by
every new botocore session), keeping each partition's own metadata (regions, DNS suffixes)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def prune(data: Path, keep: set[str]) -> None:
    missing = keep - {d.name for d in data.iterdir() if d.is_dir()}
    if missing:
        raise SystemExit(f"botocore has no data for {sorted(missing)}")
    for directory in data.iterdir():
        if directory.is_dir() and directory.name not in keep:
            shutil.rmtree(directory)
    endpoints = data / "endpoints.json"
    document = json.loads(endpoints.read_text())
    for partition in document["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in keep}
    endpoints.write_text(json.dumps(document, separators=(",", ":")))


if __name__ == "__main__":
    prune(Path(sys.argv[1]), set(sys.argv[2:]))
