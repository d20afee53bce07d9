"""Every file pdcompose writes goes through here: written atomically (a temporary sibling renamed into
place, so a reader never sees half a file and a failure leaves the old one), and every way it can fail
(a missing or read-only folder, a path through a file, a directory in the way) is one clean
`WriteError` that names the path and the reason, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from pdcompose.errors import PdcomposeError


class WriteError(PdcomposeError):
    """A file or folder could not be written; whatever was there is left as it was."""


def write_file(path: Path, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write `data` to `path` atomically, creating missing parent folders (as `render -o a/b` does)."""
    make_dir(path.parent, for_file=path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a directory; give a file name")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {reason(exc, path.parent)}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(raw)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise WriteError(f"cannot write {path}: {reason(exc, path)}") from None
    return path


def make_dir(path: Path, for_file: Path | None = None) -> Path:
    """`mkdir -p` with errors that say which part of the path is in the way."""
    what = f"write {for_file}" if for_file else f"create the folder {path}"
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise WriteError(f"cannot {what}: {blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot {what}: {reason(exc, path)}") from None
    return path


def reason(exc: OSError, path: Path) -> str:
    """An OSError in a user's words."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({_nearest_existing(path)} is not writable for you)"
    if exc.errno == errno.EROFS:
        return f"{_nearest_existing(path)} is on a read-only file system"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    return exc.strerror or str(exc)


def _nearest_existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), path)
