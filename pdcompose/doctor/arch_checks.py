"""arch: the host's CPU architecture, against its profile and against every image it will run.

The host's is its engine's `docker info` Architecture (uname spelling: x86_64, aarch64); images state
Docker's (amd64, arm64); both are normalised. A GB200 host is arm64: an amd64 image there dies with
`exec format error`. For an image the host lacks, the one `images push` would copy (this machine's) is
checked instead.
"""

from __future__ import annotations

from pdcompose import arch
from pdcompose.doctor.model import CheckResult, failed, passed, warned
from pdcompose.doctor.needs import Needs
from pdcompose.engine.images import LOCAL, engine_arch, image_arch
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host


def arch_check(host: Host, present: dict[str, str], n: Needs, timeout: float) -> CheckResult:
    """present: reference -> ID of the plan's images this host has (from the images check)."""
    info = f"`docker --context {host.context} info`"
    try:
        raw = engine_arch(host.name, host.context, timeout)
    except PdcomposeError as exc:
        return failed(host.name, "arch", str(exc).removeprefix(f"{host.name}: "), f"{info} shows why")
    there = arch.normalize(raw)
    if there is None:
        return warned(host.name, "arch", f"the engine reports an unknown architecture ({raw or 'none'}); images "
                                         "were not compared with it", f"{info} should report x86_64 or aarch64")
    problems, fixes = [], []
    if host.arch and host.arch != there:
        problems.append(f"profile {host.profile} says {arch.describe(host.arch)}")
        fixes.append(f"check that context '{host.context}' reaches {host.name} ({info}), or give {host.name} a "
                     f"profile for {there} (`profile:` on the host)")
    matching = []
    for ref in n.images:
        try:
            if ref in present:
                built, where = image_arch(host.name, host.context, ref, timeout), "here"
            else:
                built, where = image_arch(LOCAL, None, ref, timeout), "on this machine, which `images push` copies,"
        except PdcomposeError as exc:
            problems.append(f"the architecture of {ref} is unknown ({exc})")
            continue
        if built is None:
            continue
        if arch.normalize(built) != there:
            problems.append(f"{ref} {where} is built for {arch.describe(arch.normalize(built) or built)} "
                            "(it would fail with 'exec format error')")
            fixes.append(arch.build_fix(ref, there))
        else:
            matching.append(ref)
    if problems:
        return failed(host.name, "arch", f"host is {arch.describe(there)}, but " + "; ".join(problems),
                      "; ".join(dict.fromkeys(fixes)) or f"{info} shows why")
    said = f", as profile {host.profile} says" if host.arch else ""
    images = f"; {', '.join(matching)} match" if matching else ""
    return passed(host.name, "arch", f"{arch.describe(there)}{said}{images}")
