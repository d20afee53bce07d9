"""Lab hosts that start with an image already in their store, at no cost in disk or time.

The real-engine image is 13 GB: `images push` to three lab hosts would save it, stream it over SSH and
unpack it three times (39 GB, many minutes), which teaches nothing `images push` of the mock image does not.
Seeding instead hardlinks the image's layer folders from this machine's own Docker store into a host's
store before that host's daemon starts, and writes the few metadata files Docker needs to know it has
the image. Sound because image layers are read-only to Docker: containers write to a layer of their own
(overlay copy-up makes a new file; it never writes the lower one), and a layer removed from one store
keeps its files alive in the other through the links.

This reads Docker's on-disk layout (image/<driver>/{imagedb,layerdb,repositories.json} and
<driver>/<cache-id>/ with its short-link in <driver>/l/), stable since Docker 1.10 and the same for
overlay2 and fuse-overlayfs. It is for the lab only: the stores must be on one filesystem and use the same
storage driver, and it is checked, not assumed: each seeded host must then report the image's own ID.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pdcompose.engine.cli import run
from pdcompose.lab.model import LabError

DRIVER = "fuse-overlayfs"          # the lab's daemons' storage driver (daemons.dockerd_argv)


@dataclass(frozen=True)
class Source:
    root: Path                     # this machine's Docker root (DockerRootDir)
    ref: str
    image_id: str                  # sha256:...
    chain: tuple[str, ...]         # layer chain IDs, base first

    @property
    def meta(self) -> Path:
        return self.root / "image" / DRIVER


def source(ref: str) -> Source:
    """Where `ref` lives in this machine's store, refused when seeding cannot work."""
    info = run("local", None, ["info", "--format", "{{.DockerRootDir}} {{.Driver}}"], timeout=30)
    if not info.ok:
        raise LabError(f"cannot seed {ref}: this machine's Docker does not answer ({info.last_error()})")
    root, driver = info.stdout.split()
    if driver != DRIVER:
        raise LabError(f"cannot seed {ref}: this machine's Docker stores images with {driver}, the lab's "
                       f"daemons with {DRIVER}; push it instead (pdcompose images push)")
    found = run("local", None, ["image", "inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}", ref], timeout=30)
    if not found.ok:
        raise LabError(f"cannot seed {ref}: not in this machine's store ({found.last_error()}); build it first")
    image_id, layers = found.stdout.strip().split(" ", 1)
    return Source(Path(root), ref, image_id, tuple(chain_ids(json.loads(layers))))


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Docker's layer chain IDs: the first layer's diff ID, then sha256 of "<parent chain> <diff ID>"."""
    out: list[str] = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def seed(data_root: Path, images: list[Source]) -> None:
    """Put `images` into a stopped daemon's store at `data_root` (made if missing)."""
    if images:
        data_root.mkdir(parents=True, exist_ok=True)
    for img in images:
        if os.stat(img.root).st_dev != os.stat(data_root).st_dev:
            raise LabError(f"cannot seed {img.ref}: {data_root} is not on the filesystem of {img.root}")
        _hardlink([pair for chain in img.chain if (pair := _layer(img, data_root, chain.removeprefix("sha256:")))])
        _copy(img.meta / "imagedb/content/sha256" / img.image_id.removeprefix("sha256:"),
              data_root / "image" / DRIVER / "imagedb/content/sha256")
        _tag(img, data_root / "image" / DRIVER / "repositories.json")


def _layer(img: Source, data_root: Path, chain: str) -> tuple[Path, Path] | None:
    """Metadata and short-link of one layer; returns the (source, target) folder pair to hardlink."""
    meta = data_root / "image" / DRIVER / "layerdb/sha256" / chain
    if meta.exists():
        return None
    cache_id = (img.meta / "layerdb/sha256" / chain / "cache-id").read_text().strip()
    layers = data_root / DRIVER
    (layers / "l").mkdir(parents=True, exist_ok=True)
    link = (img.root / DRIVER / cache_id / "link").read_text().strip()
    (layers / "l" / link).symlink_to(f"../{cache_id}/diff")
    shutil.copytree(img.meta / "layerdb/sha256" / chain, meta)
    return img.root / DRIVER / cache_id, layers / cache_id


def _hardlink(pairs: list[tuple[Path, Path]]) -> None:
    """cp -al each source folder to its target: the whole tree as hardlinks, owners, modes, xattrs and
    device nodes kept (shutil.copytree(copy_function=os.link) loses folder metadata, cannot link special
    files). Docker's root is often a bind mount of itself, and Linux refuses a hardlink across two mounts
    even of one filesystem: so the links are made through one bind of / in a mount namespace of their own
    (nothing is left mounted, whatever happens)."""
    if not pairs:
        return
    if _mount_root("/") != "/":
        raise LabError("cannot seed: / is not its filesystem's root here; push the image instead")
    view = Path(tempfile.mkdtemp(prefix="pdlab-seed-", dir="/run"))
    script = 'set -e; v=$1; shift; mount --bind / "$v"; while [ $# -gt 0 ]; do cp -al "$v$1" "$v$2"; shift 2; done'
    try:
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                               str(view), *(str(p) for pair in pairs for p in pair)],
                              capture_output=True, text=True, timeout=1800)
    finally:
        view.rmdir()
    if done.returncode != 0:
        raise LabError(f"cannot seed: hardlinking the image's layers failed: {done.stderr.strip()[-500:]}")


def _mount_root(path: str) -> str | None:
    """The folder of its filesystem that the (topmost) mount at `path` shows: mountinfo's 4th field."""
    roots = [f[3] for f in map(str.split, Path("/proc/self/mountinfo").read_text().splitlines()) if f[4] == path]
    return roots[-1] if roots else None


def _copy(file: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(file, folder / file.name)


def _tag(img: Source, repositories: Path) -> None:
    """The tag as this machine's store writes it (its own key, whatever normalisation that took)."""
    mine = json.loads((img.meta / "repositories.json").read_text()).get("Repositories", {})
    entries = [(repo, tag) for repo, tags in mine.items() for tag, target in tags.items()
               if target == img.image_id and (tag == img.ref or tag.endswith("/" + img.ref))]
    if not entries:
        raise LabError(f"cannot seed {img.ref}: this machine's store does not list that tag")
    known = json.loads(repositories.read_text()) if repositories.exists() else {"Repositories": {}}
    for repo, tag in entries:
        known.setdefault("Repositories", {}).setdefault(repo, {})[tag] = img.image_id
    repositories.write_text(json.dumps(known))
