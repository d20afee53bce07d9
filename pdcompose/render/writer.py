"""Write a rendered bundle atomically: all files appear together, or the output stays as it was.

The bundle is written into a temporary sibling directory and swapped in with renames. An existing
output directory is only replaced when pdcompose wrote it (it holds our marker), so `-o ~` can never
delete a home directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pdcompose.errors import RenderError

MARKER = ".pdcompose-render"


def write_bundle(files: dict[str, bytes], out: Path, verify: Callable[[Path], None] | None = None) -> None:
    """`verify` sees the complete staged bundle before it replaces `out`; raising keeps `out` as it was."""
    out = out.absolute()
    _check_replaceable(out)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=parent))
    except OSError as exc:
        raise RenderError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        for rel, data in {**files, MARKER: b"written by pdcompose render; safe to delete with the bundle\n"}.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        staging.chmod(0o755)
        if verify:
            verify(staging)
        _swap(staging, out)
    except OSError as exc:
        raise RenderError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RenderError(f"{out} exists and is not a directory; choose another --output")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RenderError(f"{out} is not empty and was not written by pdcompose; choose another --output "
                          f"(pdcompose replaces the whole directory)")


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)  # put the previous bundle back before reporting
        raise
    shutil.rmtree(old, ignore_errors=True)
