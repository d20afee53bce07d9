"""The shipped catalog is what the real release says: regenerate vLLM 0.13.0's and compare byte for byte."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import REPO
from tests.vllm.conftest import SCRIPTS, vllm_env, vllm_python

pytestmark = pytest.mark.vllm


@pytest.mark.parametrize("version", ["0.13.0"])
def test_shipped_catalog_equals_a_fresh_one(version):
    out = subprocess.run([str(vllm_python(version)), str(SCRIPTS / "vllm_introspect.py")], capture_output=True,
                         text=True, env=vllm_env(), timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    shipped = (REPO / "pdcompose" / "catalog" / "data" / f"vllm-{version}.json").read_text()
    assert out.stdout == shipped, (f"pdcompose/catalog/data/vllm-{version}.json differs from vLLM {version}: "
                                   f"run `python scripts/vllm_catalog.py {version}` and review the diff")
