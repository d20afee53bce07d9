"""The operator's own Hugging Face cache, the source of `models push`: which commit a revision names, and the
files of its snapshot with their blobs, sizes and sha256.

The layout is huggingface_hub's: hub/models--org--name/{refs/<branch>, snapshots/<commit>/<file> -> a
symlink to ../../blobs/<etag>, blobs/<etag>}. A large (LFS) file's etag is its sha256, so its hash is
known without reading it; a small file's etag is a git sha1, so its sha256 is computed (small files)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pdcompose.errors import PdcomposeError

SHA256 = re.compile(r"[0-9a-f]{64}")
COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class SourceFile:
    path: str          # relative to the snapshot
    blob: str          # the blob's name (etag)
    size: int
    sha256: str
    local: Path | None     # where its bytes are on this machine (None: on a source host)


@dataclass(frozen=True)
class Snapshot:
    repo: str
    commit: str
    refs: dict[str, str]          # branch/tag -> commit, those naming this commit
    files: list[SourceFile]

    @property
    def size(self) -> int:
        return sum(f.size for f in {f.blob: f for f in self.files}.values())


def repo_folder(repo: str) -> str:
    return "models--" + repo.replace("/", "--")


def default_hub_cache() -> Path:
    """Where huggingface_hub keeps its cache here: HF_HUB_CACHE, HF_HOME/hub, or ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def resolve(folder: Path, revision: str) -> str | None:
    if COMMIT.fullmatch(revision):
        return revision
    ref = folder / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def snapshot(hub: Path, repo: str, revision: str) -> Snapshot:
    folder = hub / repo_folder(repo)
    commit = resolve(folder, revision)
    root = folder / "snapshots" / (commit or "")
    if not commit or not root.is_dir():
        have = sorted(p.name for p in (folder / "snapshots").iterdir()) if (folder / "snapshots").is_dir() else []
        raise PdcomposeError(f"{repo} revision {revision} is not in this machine's cache {hub} (snapshots here: "
                             f"{', '.join(have) or 'none'}): download it here first (huggingface-cli download "
                             f"{repo} --revision {revision}), give --source-cache, or use `models pull`")
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        real = path.resolve()
        blob = real.name
        sha = blob if SHA256.fullmatch(blob) else file_sha256(real)
        files.append(SourceFile(str(path.relative_to(root)), blob, real.stat().st_size, sha, real))
    refs = {}
    for ref in (folder / "refs").rglob("*") if (folder / "refs").is_dir() else []:
        if ref.is_file() and ref.read_text().strip() == commit:
            refs[str(ref.relative_to(folder / "refs"))] = commit
    return Snapshot(repo, commit, refs, files)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
