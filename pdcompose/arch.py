"""CPU architectures, in Docker's names (amd64, arm64, ...).

Hosts and images state their architecture in two spellings: Docker's (`docker image inspect`
.Architecture, `docker version` .Server.Arch, `--platform linux/arm64`) and the kernel's (`uname -m`,
`docker info` .Architecture: x86_64, aarch64). Everything in pdcompose compares and stores Docker's;
users may write either. GB200 hosts (Grace CPUs) are arm64; H100/H200 HGX hosts are amd64.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

# Every accepted spelling -> Docker's name.
SPELLINGS = {
    "amd64": "amd64", "x86_64": "amd64", "x86-64": "amd64", "x64": "amd64",
    "arm64": "arm64", "aarch64": "arm64", "arm64v8": "arm64", "armv8": "arm64",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
    "arm": "arm", "armhf": "arm", "armv7l": "arm", "armv7": "arm",
    "386": "386", "i386": "386", "i686": "386",
}
KERNEL = {"amd64": "x86_64", "arm64": "aarch64", "arm": "armv7l", "386": "i686"}   # uname -m, where it differs



def normalize(value: str | None) -> str | None:
    """Docker's name for an architecture in either spelling; None for None, '' or an unknown name.

    A `linux/arm64` platform string and a `/v8` variant suffix are accepted too."""
    if not value:
        return None
    text = value.strip().lower()
    if text.startswith("linux/"):
        text = text.removeprefix("linux/")
    text = text.split("/", 1)[0]
    return SPELLINGS.get(text)


def describe(arch: str | None) -> str:
    """'arm64 (aarch64)' for reading next to `uname -m` output; 'unknown' for None."""
    if arch is None:
        return "unknown"
    kernel = KERNEL.get(arch)
    return f"{arch} ({kernel})" if kernel else arch


def same(a: str | None, b: str | None) -> bool | None:
    """Whether two architectures (either spelling) are the same; None when either is unknown."""
    na, nb = normalize(a), normalize(b)
    if na is None or nb is None:
        return None
    return na == nb


def build_fix(ref: str, arch: str) -> str:
    """How to get `ref` for `arch` onto this machine's engine (the source of `images push`)."""
    target = _own_target(ref)
    if target:
        return (f"build it for {arch} in a checkout of pdcompose's source (the installed package has no image "
                f"recipes): `ARCH={arch} images/build.sh {target}` (on an {describe(arch)} machine, or here with "
                f"qemu-user-static for {arch}), then `pdcompose images push` again from that machine")
    return (f"get its {arch} variant on this machine: `docker pull --platform linux/{arch} {ref}` (or build it "
            f"with `docker build --platform linux/{arch}`), then `pdcompose images push` again")


def _own_target(ref: str) -> str | None:
    """The images/build.sh target that builds one of pdcompose's own images, else None."""
    from pdcompose import defaults

    own = {defaults.ROUTER_IMAGE: "router", defaults.MOCK_VLLM_IMAGE: "mock", defaults.BASE_IMAGE: "base"}
    return own.get(ref)


def _check(value: Any) -> str:
    arch = normalize(value) if isinstance(value, str) else None
    if arch is None:
        raise ValueError(f"{value!r} is not a CPU architecture: use Docker's name, amd64 (x86_64) or arm64 "
                         "(aarch64; GB200 Grace hosts)")
    return arch


Arch = Annotated[str, PlainValidator(_check), WithJsonSchema({
    "type": "string", "enum": sorted(SPELLINGS),
    "description": "CPU architecture (Docker's name amd64/arm64, or uname's x86_64/aarch64)"})]
