"""The shipped catalog is what the real release says: regenerate the catalog of every release whose venv the
suite has (the Makefile's VLLM_VERSIONS, which `make test` builds, and any other shipped release already
built here) and compare byte for byte."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import REPO
from tests.vllm.conftest import SCRIPTS, cached_versions, suite_versions, vllm_env, vllm_python

pytestmark = pytest.mark.vllm
DATA = REPO / "pdcompose" / "catalog" / "data"


def test_every_release_the_suite_builds_ships_a_catalog():
    assert suite_versions(), "the Makefile names no vLLM release"
    missing = [v for v in suite_versions() if not (DATA / f"vllm-{v}.json").exists()]
    assert not missing, f"no pdcompose/catalog/data/vllm-<version>.json for {missing}: run scripts/vllm_catalog.py"


@pytest.mark.parametrize("version", sorted(set(suite_versions()) | set(cached_versions())))
def test_shipped_catalog_equals_a_fresh_one(version):
    out = subprocess.run([str(vllm_python(version)), str(SCRIPTS / "vllm_introspect.py")], capture_output=True,
                         text=True, env=vllm_env(), timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    shipped = (DATA / f"vllm-{version}.json").read_text()
    assert out.stdout == shipped, (f"pdcompose/catalog/data/vllm-{version}.json differs from vLLM {version}: "
                                   f"run `python scripts/vllm_catalog.py {version}` and review the diff")
