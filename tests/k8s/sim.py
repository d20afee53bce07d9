"""What Kubernetes and LeaderWorkerSet do to a pod template before vLLM starts, for the equivalence tests:
LWS's environment variables, the kubelet's $(VAR) expansion of command, args and env (a port of
k8s.io/kubernetes third_party/forked/golang/expansion), and the worker wrapper run by a real /bin/sh with a
stand-in `vllm` that prints the argv it got. Plus the Compose side: the argv and environment Compose
passes to the same node's container (`$$` -> `$`, `${VAR:?...}` -> the secret)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

SECRET = "<secret {}>"


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion: `$$` -> `$`, `$(VAR)` -> its value when VAR is defined, else left as is."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def pod_env(container: dict[str, Any], lws: dict[str, str], pod_ip: str) -> dict[str, str]:
    """The declared environment as the kubelet resolves it (LWS's variables are defined first)."""
    env = dict(lws)
    declared: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            value = expand(var["value"], env)
        elif "secretKeyRef" in var["valueFrom"]:
            value = SECRET.format(var["valueFrom"]["secretKeyRef"]["key"])
        else:
            path = var["valueFrom"]["fieldRef"]["fieldPath"]
            assert path == "status.podIP", path
            value = pod_ip
        env[var["name"]] = declared[var["name"]] = value
    return declared


def pod_argv(container: dict[str, Any], env: dict[str, str], tmp: Path) -> list[str]:
    argv = [expand(a, env) for a in [*container["command"], *container.get("args", [])]]
    if argv[:2] != ["/bin/sh", "-c"]:
        return argv
    fake = tmp / "bin" / "vllm"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    assert argv[4] == "vllm", argv[:6]
    run_env = {**env, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    done = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=30, check=True)
    return ["vllm", *json.loads(done.stdout)]


def compose_unescape(value: object) -> str:
    text = str(value)
    match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?.*\}", text, re.S)
    if match:
        return SECRET.format(match.group(1))
    return text.replace("$$", "$")


def compose_argv_env(service: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    argv = [compose_unescape(a) for a in [*service["entrypoint"], *service["command"]]]
    env = {k: compose_unescape(v) for k, v in (service.get("environment") or {}).items()}
    return argv, env
