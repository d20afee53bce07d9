"""Let Docker judge rendered files: `docker compose config` on each, before they are written.

This calls the CLI through subprocess rather than python-on-whales because the check needs a
per-call environment (placeholder values for secrets, so `${HF_TOKEN:?...}` interpolates without the
real token being present) and a timeout; python-on-whales offers neither.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from pdcompose.errors import RenderError

_SECRET_VARS = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*):\?|^\s+environment: "([A-Za-z_][A-Za-z0-9_]*)"$', re.M)


def compose_config_error(path: Path, timeout: float = 60) -> str | None:
    """None when `docker compose -f path config` accepts the file; else its last error line."""
    if shutil.which("docker") is None:
        raise RenderError("checking needs the docker CLI with the Compose v2 plugin (make setup installs it)")
    env = dict(os.environ)
    for match in _SECRET_VARS.finditer(path.read_text()):
        env.setdefault(match.group(1) or match.group(2), "placeholder-for-config-check")
    try:
        result = subprocess.run(["docker", "compose", "-f", str(path), "config", "--quiet"], env=env,
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"docker compose config did not answer in {timeout:.0f} s"
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def check_bundle(folder: Path) -> None:
    problems = []
    for path in sorted(folder.glob("*/compose.yaml")):
        error = compose_config_error(path)
        if error:
            problems.append(f"{path.parent.name}/compose.yaml: {error}")
    if problems:
        raise RenderError("docker compose config rejected the rendered files; nothing was written:\n  "
                          + "\n  ".join(problems))
