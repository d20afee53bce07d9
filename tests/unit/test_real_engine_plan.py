"""`rehearsal.engine: vllm`: the same plan as the mock rehearsal, with only the CPU substitutions and the
model changed, each one stated in the plan."""

from __future__ import annotations

import json
from pathlib import Path

from pdcompose import defaults
from pdcompose.plan import build_plan
from pdcompose.plan.models import Container, Plan
from pdcompose.plan.rehearsal import CPU_ENV
from pdcompose.topology import load
from tests.helpers import EXAMPLE, REPO, run_cli

REAL = REPO / "examples" / "rehearsal-real.yaml"
MOCK_ENV = {"PDCOMPOSE_MOCK_LOAD_DELAY", "PDCOMPOSE_MOCK_PREFILL_MS_PER_1K", "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN",
            "PDCOMPOSE_MOCK_VLLM_VERSION"}


def plan_of(text: str, tmp_path: Path) -> Plan:
    path = tmp_path / "pdcompose.yaml"
    path.write_text(text)
    return build_plan(load(path))[0]


def workers(plan: Plan) -> dict[str, Container]:
    return {c.service: c for _, c in plan.workers()}


def test_real_engine_changes_only_image_model_cpu_flags_and_env(tmp_path: Path) -> None:
    text = REAL.read_text()
    real = plan_of(text, tmp_path)
    mock = plan_of(text.replace("engine: vllm", "engine: mock"), tmp_path)
    assert real.substitutions and not mock.substitutions
    assert "substitutions" not in mock.model_dump(mode="json")        # other plans (and fingerprints) unchanged
    assert real.served_model_name == mock.served_model_name == "tiny-llama"
    added = ["--dtype", "float32", "--enforce-eager", "--served-model-name", "tiny-llama"]
    for name, c in workers(real).items():
        m = workers(mock)[name]
        assert c.image == defaults.VLLM_CPU_IMAGE and m.image == defaults.MOCK_VLLM_IMAGE
        assert c.command[0] == defaults.VLLM_CPU_MODEL and m.command[0] == "tiny-llama"
        # Same flags in the same order, plus the CPU ones (max-model-len is already 2048 here).
        rest = c.command[1:]
        for token in added:
            rest.remove(token)
        kv = rest.index("--kv-transfer-config") + 1
        assert json.loads(rest[kv]) == {**json.loads(m.command[1:][kv]), "kv_buffer_device": "cpu"}
        rest[kv] = m.command[1:][kv]
        assert rest == m.command[1:]
        assert (c.ports, c.dp, c.healthcheck, c.restart, c.url) == (m.ports, m.dp, m.healthcheck, m.restart, m.url)
        env = {k: v for k, v in m.env.items() if k not in MOCK_ENV}
        assert c.env == env | {k: v for k, (v, _) in CPU_ENV.items()}
        assert not c.gpu_driver and not c.devices and not c.volumes


def test_max_model_len_fits_the_tiny_model(tmp_path: Path) -> None:
    real = plan_of(REAL.read_text().replace("max-model-len: 2048", "max-model-len: 131072"), tmp_path)
    for c in workers(real).values():
        i = c.command.index("--max-model-len")
        assert c.command[i + 1] == str(defaults.VLLM_CPU_MAX_MODEL_LEN)
    kept = plan_of(REAL.read_text().replace("max-model-len: 2048", "max-model-len: 1024"), tmp_path)
    assert all(c.command[c.command.index("--max-model-len") + 1] == "1024" for c in workers(kept).values())


def test_engine_on_the_command_line_overrides_the_topology(tmp_path: Path) -> None:
    (tmp_path / "pdcompose.yaml").write_text(REAL.read_text().replace("engine: vllm", "engine: mock"))
    mock = json.loads(run_cli("plan", "--json", cwd=tmp_path).stdout)
    real = json.loads(run_cli("plan", "--json", "--engine", "vllm", cwd=tmp_path).stdout)
    assert "substitutions" not in mock and real["substitutions"]
    shown = run_cli("plan", "--engine", "vllm", cwd=tmp_path)
    assert shown.returncode == 0 and "real-engine rehearsal substitutions:" in shown.stdout
    bad = run_cli("plan", "--engine", "gpu", cwd=tmp_path)
    assert bad.returncode == 2 and "'gpu' is not one of 'mock', 'vllm'" in bad.stdout + bad.stderr  # a usage error


def test_settings_the_cpu_build_cannot_run_are_errors_before_anything_starts():
    """The guide's recipe (fp8 KV cache, expert parallel, all-to-all backend) cannot run on vLLM's CPU build:
    `validate --engine vllm` says so, naming each setting, instead of a rehearsal that dies minutes in."""
    result = run_cli("validate", "--engine", "vllm", EXAMPLE)
    assert result.returncode == 2, result.stdout + result.stderr
    for flag in ("--kv-cache-dtype fp8", "--enable-expert-parallel", "--all2all-backend allgather_reducescatter"):
        assert any(flag in line and "cannot run in a real-engine rehearsal" in line and "recipe deepseek-r1-gb200"
                   in line for line in result.stderr.splitlines()), result.stderr
    assert run_cli("validate", "--engine", "mock", EXAMPLE).returncode == 0
