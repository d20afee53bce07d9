#!/usr/bin/env python3
"""Add (or refresh) vLLM versions in pdcompose's catalog, from the real releases on PyPI.

    python scripts/vllm_catalog.py 0.13.0 [0.32.0 ...]     # or: make catalog VLLM=0.13.0

For each version: build (or reuse) a venv with that vLLM (scripts/vllm_venv.py), run
scripts/vllm_introspect.py in it, and write pdcompose/catalog/data/vllm-<version>.json.
`--check` writes nothing and exits 1 when a shipped catalog differs from what the release says.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_venv  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "pdcompose" / "catalog" / "data"
INTROSPECT = Path(__file__).resolve().parent / "vllm_introspect.py"


def generate(version: str) -> str:
    venv = vllm_venv.build(version, vllm_venv.venv_dir(version))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "VLLM_LOGGING_LEVEL": "ERROR",
           "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "VLLM_TARGET_DEVICE": "cpu"}
    out = subprocess.run([str(venv / "bin" / "python"), str(INTROSPECT)], check=True, capture_output=True,
                         text=True, env=env)
    return out.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("versions", nargs="+")
    ap.add_argument("--check", action="store_true", help="compare with the shipped catalog, write nothing")
    args = ap.parse_args()
    status = 0
    for version in args.versions:
        text = generate(version)
        path = DATA / f"vllm-{version}.json"
        if args.check:
            shipped = path.read_text() if path.exists() else ""
            if shipped != text:
                status = 1
                sys.stdout.writelines(difflib.unified_diff(shipped.splitlines(True), text.splitlines(True),
                                                           str(path), f"vLLM {version} from PyPI"))
            else:
                print(f"{path.relative_to(REPO)}: matches vLLM {version}")
            continue
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path.relative_to(REPO)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
