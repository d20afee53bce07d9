"""Write a rendered bundle atomically: all files appear together, or the output stays as it was.

The bundle is written into a temporary sibling directory and swapped in with renames. An existing
output directory is only replaced when pdcompose wrote it (it holds our marker), so `-o ~` can never
delete a home directory. The marker says which command wrote it (`render`, `render --rehearsal`,
`export k8s`): one command replaces another's output only when told to (`--force`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pdcompose.errors import RenderError
from pdcompose.files import WriteError, make_dir, reason

MARKER = ".pdcompose-render"       # the name kept from when render was the only writer
_WRITER = re.compile(r"written by pdcompose ([a-z0-9 -]+?)[;\n]")


def write_bundle(files: dict[str, bytes], out: Path, verify: Callable[[Path], None] | None = None, *,
                 writer: str = "render", force: bool = False) -> None:
    """`verify` sees the complete staged bundle before it replaces `out`; raising keeps `out` as it was.
    `writer` is the command, recorded in the marker; `force` lets it replace another command's output."""
    out = out.absolute()
    _check_replaceable(out, writer, force)
    parent = out.parent
    try:
        make_dir(parent)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=parent))
    except WriteError as exc:
        raise RenderError(str(exc)) from None
    except OSError as exc:
        raise RenderError(f"cannot write to {parent}: {reason(exc, parent)}") from None
    try:
        marker = f"written by pdcompose {writer}; safe to delete with the bundle\n".encode()
        for rel, data in {**files, MARKER: marker}.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        staging.chmod(0o755)
        if verify:
            verify(staging)
        _swap(staging, out)
    except OSError as exc:
        raise RenderError(f"cannot write {out}: {reason(exc, out)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(out: Path, writer: str, force: bool) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RenderError(f"{out} exists and is not a directory; choose another --output")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / MARKER).exists():      # never, even with --force: `-o ~` must not delete a home folder
        raise RenderError(f"{out} is not empty and was not written by pdcompose; choose another --output "
                          f"(pdcompose replaces the whole directory)")
    owner = written_by(out)
    if owner != writer and not force:
        raise RenderError(f"{out} holds the output of `pdcompose {owner}`, which `pdcompose {writer}` would "
                          "replace; choose another --output, or pass --force to replace it")


def written_by(out: Path) -> str:
    """The command that wrote a bundle, from its marker (`render` for a marker that does not say)."""
    try:
        match = _WRITER.search((out / MARKER).read_text(errors="replace"))
    except OSError:
        return "render"
    return match.group(1) if match else "render"


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
