"""Images on an engine without a registry: read an image's ID, save one to a file, load a file.

IDs are read under a timeout (engine.cli) because they are asked of every host at once. Saving uses
python-on-whales on the deployer's own engine. Loading streams the file into `docker --context X load`
ourselves: python-on-whales' load(path) reports no progress, and its streaming form drops stderr, so a
failed load would say nothing about why.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from python_on_whales import DockerClient, DockerException
from python_on_whales.exceptions import NoSuchImage

from pdcompose.engine import cli
from pdcompose.engine.errors import wrapped
from pdcompose.errors import DockerOperationError

CHUNK = 1 << 20
LOCAL = "local engine"


def image_id(host: str, context: str | None, ref: str, timeout: float = 10.0) -> str | None:
    """The ID behind `ref` on that engine (context None: the deployer's own), or None when absent."""
    result = cli.run(host, context, ["image", "inspect", "--format", "{{.Id}}", ref], timeout)
    if result.ok:
        return result.stdout.strip()
    if "no such image" in result.stderr.lower():
        return None
    raise result.error(host, f"cannot inspect {ref}")


def image_arch(host: str, context: str | None, ref: str, timeout: float = 10.0) -> str | None:
    """The architecture `ref` was built for on that engine, as Docker names it (`docker image inspect`
    .Architecture: amd64, arm64), or None when absent."""
    result = cli.run(host, context, ["image", "inspect", "--format", "{{.Architecture}}", ref], timeout)
    if result.ok:
        return result.stdout.strip() or None
    if "no such image" in result.stderr.lower():
        return None
    raise result.error(host, f"cannot inspect {ref}")


def local_image_arch(ref: str) -> str | None:
    """The architecture of `ref` on the deployer's own engine (the source of a push), or None when absent."""
    try:
        return DockerClient().image.inspect(ref).architecture or None
    except NoSuchImage:
        return None
    except DockerException as exc:
        raise wrapped(LOCAL, exc) from None


def engine_arch(host: str, context: str | None, timeout: float = 10.0) -> str | None:
    """The machine the engine runs on, as `docker info` reports it (uname spelling: x86_64, aarch64), or
    None when the engine does not say."""
    result = cli.run(host, context, ["info", "--format", "{{.Architecture}}"], timeout)
    if not result.ok:
        raise result.error(host, "`docker info` failed")
    return result.stdout.strip() or None


def save(ref: str, folder: Path, compress: bool = False) -> Path:
    """`docker save` of one image from the deployer's engine into folder; gzip level 1 if asked (a
    third of the size for a little CPU: worth it over a slow link)."""
    path = folder / (ref.replace("/", "_").replace(":", "_") + ".tar")
    try:
        DockerClient().image.save(ref, output=path)
    except DockerException as exc:
        raise wrapped(LOCAL, exc) from None
    if not compress:
        return path
    packed = path.with_suffix(".tar.gz")
    with path.open("rb") as src, gzip.open(packed, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    path.unlink()
    return packed


def load(host: str, context: str, path: Path, on_bytes: Callable[[int], None]) -> None:
    """Stream the file into the host's engine, calling on_bytes(n) as chunks go out."""
    with tempfile.TemporaryFile() as errors, path.open("rb") as src:
        proc = subprocess.Popen(cli.argv(context, ["image", "load"]), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=errors)
        assert proc.stdin is not None
        try:
            while chunk := src.read(CHUNK):
                proc.stdin.write(chunk)
                on_bytes(len(chunk))
        except BrokenPipeError:
            pass                       # the CLI gave up early; its exit status and stderr say why
        except BaseException:
            proc.kill()
            raise
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            lines = [ln for ln in errors.read().decode(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit status {code}"
            raise DockerOperationError(host, f"`docker --context {context} image load` of {path.name} failed: "
                                             f"{reason}", command=cli.argv(context, ["image", "load"]),
                                       return_code=code, stderr="\n".join(lines))
