"""The rehearsed cluster the apply tests change: prefill instances on p0.., decode instances on d0.., the
router on r; loopback addresses from 127.0.120.10 (this suite's range), every host its own address."""

from __future__ import annotations

from pathlib import Path

NIXL = "{kv_connector: NixlConnector, kv_role: kv_both}"


def topology(name: str, *, prefills: int = 2, decodes: int = 2, prefill_args: dict[int, str] | None = None,
             decode_args: dict[int, str] | None = None, image: str = "vllm/vllm-openai:v0.13.0",
             first: str = "127.0.120.10", prefill_env: dict[int, str] | None = None) -> str:
    """`prefill_args[i]` / `decode_args[i]`: a YAML flow mapping body added to that instance's `args`;
    `prefill_env[i]`: likewise for its `env`. Hosts stay declared whatever the counts, so a host that loses
    its instance keeps its address (and a removed instance's host is still known)."""
    prefill_args, decode_args, prefill_env = prefill_args or {}, decode_args or {}, prefill_env or {}
    hosts = [*(f"p{i}" for i in range(3)), *(f"d{i}" for i in range(2)), "r"]

    def inst(host: str, args: str | None, env: str | None) -> str:
        extra = (f", args: {{{args}}}" if args else "") + (f", env: {{{env}}}" if env else "")
        return f"{{nodes: [{host}]{extra}}}"

    prefill = ", ".join(inst(f"p{i}", prefill_args.get(i), prefill_env.get(i)) for i in range(prefills))
    decode = ", ".join(inst(f"d{i}", decode_args.get(i), None) for i in range(decodes))
    lines = [f"name: {name}", "model: apply/model", f"image: {image}",
             "args:", f"  kv-transfer-config: {NIXL}",
             # a loaded 2-core machine can take longer than the mock's default 1 s for a NIXL handshake, which
             # on vLLM 0.13 kills the decode engine (as it would for real): give the mock's side channel 5 s
             "env: {PDCOMPOSE_MOCK_KV_TIMEOUT: '5'}", "hosts:",
             *(f"  {h}: {{address: 10.0.0.{i}{'' if h == 'r' else ', gpus: [0]'}}}" for i, h in enumerate(hosts, 1)),
             f"prefill: [{prefill}]", f"decode: [{decode}]", "router: {host: r}",
             f"rehearsal: {{enabled: true, first_address: {first}, load_delay: 1, health_check_interval: 1, "
             "decode_ms_per_token: 20}"]
    return "\n".join(lines) + "\n"


def deploy_fresh(folder: Path) -> None:
    """Deploy folder/pdcompose.yaml after a `down` that clears a killed earlier run's containers."""
    from tests.helpers import run_cli

    run_cli("down", cwd=folder, timeout=300)
    deployed = run_cli("deploy", cwd=folder, timeout=300)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
