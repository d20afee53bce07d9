"""The real vLLM, as a judge: a cached venv per version (scripts/vllm_venv.py), built from PyPI on first use.

`make test` builds the venvs of the versions the shipped bundles pin before pytest starts (`make vllm`);
a test run that finds one missing builds it (about 6.5 GB and a few minutes each). These tests are never
skipped: under CI=true a venv that cannot be built fails the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPTS = REPO / "scripts"


def _venv_module():
    spec = importlib.util.spec_from_file_location("vllm_venv", SCRIPTS / "vllm_venv.py")
    assert spec is not None and spec.loader is not None, "scripts/vllm_venv.py is missing"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def suite_versions() -> list[str]:
    """The releases whose venvs `make test` builds (`make vllm`): the Makefile's VLLM_VERSIONS, one list."""
    found = re.search(r"^VLLM_VERSIONS \?= *(.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert found, "Makefile: no `VLLM_VERSIONS ?= ...` line"
    return found.group(1).split()


def cached_versions() -> list[str]:
    """Shipped catalog releases whose venv is already built here (by `make catalog`, say)."""
    venv = _venv_module()
    data = REPO / "pdcompose" / "catalog" / "data"
    shipped = sorted(p.stem.removeprefix("vllm-") for p in data.glob("vllm-*.json"))
    return [v for v in shipped if (venv.venv_dir(v) / venv.STAMP).exists()]


def vllm_python(version: str) -> Path:
    venv = _venv_module()
    return venv.build(version, venv.venv_dir(version)) / "bin" / "python"


def vllm_env() -> dict[str, str]:
    # Offline, quiet, and nothing written outside a temporary folder.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
            "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "VLLM_LOGGING_LEVEL": "ERROR",
            "VLLM_TARGET_DEVICE": "cpu"}


def parse_with_vllm(version: str, jobs: list[dict]) -> dict[str, dict]:
    """Parse each job's argv with vLLM `version`'s own `vllm serve` parser (scripts/vllm_parse.py)."""
    out = subprocess.run([str(vllm_python(version)), str(SCRIPTS / "vllm_parse.py")], input=json.dumps(jobs),
                         capture_output=True, text=True, env=vllm_env(), timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return {r["id"]: r for r in json.loads(out.stdout)}


@pytest.fixture(scope="session")
def parse():
    return parse_with_vllm
