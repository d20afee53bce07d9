"""The model-cache agent: run by `python3 -c` in a short-lived container on a host, its HF cache mounted at the
same path (stdlib only; pdcompose is not installed there). Three jobs, one per first argument:

  inventory CACHE REPO REVISION   one JSON line: the repo's refs, the revision's snapshot and its files, the
                                  blobs and partial blobs (`.incomplete`) with sizes, the free space, and the
                                  cache's identity (a marker file, so hosts sharing one filesystem are seen)
  receive CACHE REPO              frames on stdin (a JSON header line, then the bytes): blobs are appended
                                  to `<blob>.incomplete` from the offset the sender resumes at, checked
                                  (size, sha256 of the whole file) and only then renamed into place; a JSON
                                  line per blob on stdout
  pull CACHE REPO REVISION        huggingface_hub downloads the revision (the vLLM image has it); the token
                                  arrives on stdin and lives only in a file on a tmpfs; progress as JSON lines

The layout is the hub's own (huggingface_hub's cache): hub/models--org--name/{blobs,snapshots/<commit>,refs}.
"""

import contextlib
import hashlib
import json
import os
import re
import sys
import threading
import uuid

MARKER = ".pdcompose-cache-id"
COMMIT = re.compile(r"[0-9a-f]{40}")
CHUNK = 1 << 20


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def repo_dir(cache, repo):
    return os.path.join(cache, "hub", "models--" + repo.replace("/", "--"))


def cache_id(cache):
    """The cache's identity: a random id in a marker file, written once. A filesystem shared by several hosts
    shows all of them the same id (device numbers differ from host to host on NFS/Lustre)."""
    path = os.path.join(cache, MARKER)
    try:
        with open(path) as f:
            found = f.read().strip()
        if found:
            return found
    except FileNotFoundError:
        pass
    new = uuid.uuid4().hex
    tmp = f"{path}.{new}"
    with open(tmp, "w") as f:
        f.write(new + "\n")
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)           # first writer wins, even when two hosts race on a shared cache
    os.unlink(tmp)
    with open(path) as f:
        return f.read().strip()


def resolve(folder, revision):
    """The commit a revision names here: itself when it is a commit hash, else what refs/<revision> holds."""
    if COMMIT.fullmatch(revision):
        return revision
    try:
        with open(os.path.join(folder, "refs", revision)) as f:
            return f.read().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def snapshot_files(folder, commit):
    """relative path -> [blob name, size or None when the blob is missing]."""
    root = os.path.join(folder, "snapshots", commit)
    out = {}
    for here, _, names in os.walk(root):
        for name in names:
            path = os.path.join(here, name)
            rel = os.path.relpath(path, root)
            blob = os.path.basename(os.readlink(path)) if os.path.islink(path) else None
            out[rel] = [blob, os.path.getsize(path) if os.path.exists(path) else None]
    return out


def inventory(cache, repo, revision):
    if not os.path.isdir(cache):
        return say({"error": f"no directory {cache} on this host"})
    folder = repo_dir(cache, repo)
    st = os.statvfs(cache)
    refs, blobs, partial, snapshots = {}, {}, {}, []
    if os.path.isdir(folder):
        for here, _, names in os.walk(os.path.join(folder, "refs")):
            for name in names:
                with open(os.path.join(here, name)) as f:
                    refs[os.path.relpath(os.path.join(here, name), os.path.join(folder, "refs"))] = f.read().strip()
        blob_dir = os.path.join(folder, "blobs")
        for name in os.listdir(blob_dir) if os.path.isdir(blob_dir) else []:
            size = os.path.getsize(os.path.join(blob_dir, name))
            (partial if name.endswith(".incomplete") else blobs)[name.removesuffix(".incomplete")] = size
        snap_dir = os.path.join(folder, "snapshots")
        snapshots = sorted(os.listdir(snap_dir)) if os.path.isdir(snap_dir) else []
    commit = resolve(folder, revision)
    files = snapshot_files(folder, commit) if commit and commit in snapshots else {}
    say({"cache_id": cache_id(cache), "device": os.stat(cache).st_dev, "free": st.f_bavail * st.f_frsize,
         "refs": refs, "snapshots": snapshots, "commit": commit, "files": files, "blobs": blobs,
         "partial": partial})


def digest(cache, repo, commit):
    """sha256 of the snapshot's files whose blob is not named by it (small, non-LFS files): one JSON line."""
    folder = repo_dir(cache, repo)
    out = {}
    for blob, _ in snapshot_files(folder, commit).values():
        if blob and not re.fullmatch(r"[0-9a-f]{64}", blob):
            h = hashlib.sha256()
            with open(os.path.join(folder, "blobs", blob), "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            out[blob] = h.hexdigest()
    say(out)


def send(cache, repo):
    """The source side of a host-to-host push: stdin's first line lists [blob, offset] pairs; their bytes
    from those offsets follow on stdout, back to back (pdcompose frames them for the receiver)."""
    folder = repo_dir(cache, repo)
    out = sys.stdout.buffer
    for blob, offset in json.loads(sys.stdin.readline()):
        with open(os.path.join(folder, "blobs", blob), "rb") as f:
            f.seek(offset)
            while chunk := f.read(CHUNK):
                out.write(chunk)
    out.flush()


def read_exact(stream, n, sink):
    while n:
        chunk = stream.read(min(CHUNK, n))
        if not chunk:
            raise EOFError("the sender stopped")
        sink(chunk)
        n -= len(chunk)


def receive_blob(folder, head, stream):
    blobs = os.path.join(folder, "blobs")
    os.makedirs(blobs, exist_ok=True)
    final, part = os.path.join(blobs, head["blob"]), os.path.join(blobs, head["blob"] + ".incomplete")
    digest = hashlib.sha256()
    with open(part, "ab+") as f:
        f.seek(0)
        have = 0
        while have < head["offset"]:             # the prefix already here counts toward the hash
            chunk = f.read(min(CHUNK, head["offset"] - have))
            if not chunk:
                raise ValueError(f"{head['blob']}.incomplete is shorter than the sender's offset")
            digest.update(chunk)
            have += len(chunk)
        f.truncate(head["offset"])
        f.seek(head["offset"])

        def sink(chunk):
            f.write(chunk)
            digest.update(chunk)

        read_exact(stream, head["size"] - head["offset"], sink)
        f.flush()
        os.fsync(f.fileno())
    size = os.path.getsize(part)
    if size != head["size"] or digest.hexdigest() != head["sha256"]:
        os.unlink(part)                           # a wrong copy is not resumed from
        say({"blob": head["blob"], "ok": False, "size": size, "sha256": digest.hexdigest()})
        return False
    os.replace(part, final)
    say({"blob": head["blob"], "ok": True, "size": size, "sha256": digest.hexdigest()})
    return True


def place(folder, rel, target):
    """A snapshot entry or a ref, written atomically (a symlink to its blob, or a file)."""
    path = os.path.join(folder, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".pdcompose-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    if target.startswith("blob:"):
        blob = os.path.join(folder, "blobs", target[5:])
        os.symlink(os.path.relpath(blob, os.path.dirname(path)), tmp)
    else:
        with open(tmp, "w") as f:
            f.write(target)
    os.replace(tmp, path)


def receive(cache, repo):
    folder = repo_dir(cache, repo)
    stream = sys.stdin.buffer
    failed = False
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("the sender stopped")
        head = json.loads(line)
        if head["kind"] == "end":
            break
        if head["kind"] == "blob":
            failed |= not receive_blob(folder, head, stream)
        elif head["kind"] in ("link", "ref"):
            place(folder, head["path"], head["target"])
    say({"done": True})
    return 1 if failed else 0


def pull(cache, repo, revision):
    """Download with huggingface_hub into the mounted cache. The token comes as stdin's first line and is
    written to /run/secrets (a tmpfs of this container): it is in no argument, variable or output. Then
    stdin stays open: its end means pdcompose went away (Ctrl-C), and the download stops, leaving its
    `.incomplete` files for the next pull to resume."""
    token = sys.stdin.readline().strip()
    if token:
        path = os.path.join(os.environ.get("PDCOMPOSE_SECRET_DIR", "/run/secrets"), "hf_token")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(token)
        os.environ["HF_TOKEN_PATH"] = path
    del token
    threading.Thread(target=_exit_at_eof, daemon=True).start()
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        from huggingface_hub import HfApi, snapshot_download  # type: ignore[import-not-found]
    except ImportError:
        return say({"error": "this image has no huggingface_hub (the vLLM image has it; the mock's does not)"})
    info = HfApi().model_info(repo, revision=revision, files_metadata=True)
    siblings = info.siblings or []
    total = sum(s.size or 0 for s in siblings)
    names = {s.lfs.sha256 if s.lfs else s.blob_id for s in siblings} - {None}
    folder = repo_dir(cache, repo)
    say({"commit": info.sha, "total": total, "files": len(siblings), "bytes": on_disk(folder, names)})
    stop = threading.Event()

    def report():
        while not stop.wait(0.5):
            say({"bytes": on_disk(folder, names)})

    threading.Thread(target=report, daemon=True).start()
    try:
        snapshot_download(repo, revision=info.sha, cache_dir=os.path.join(cache, "hub"))
    finally:
        stop.set()
    if revision != info.sha and not COMMIT.fullmatch(revision):
        place(folder, os.path.join("refs", revision), info.sha)
    say({"bytes": on_disk(folder, names), "done": True, "commit": info.sha})
    os._exit(0)          # not a normal exit: the thread blocked on stdin would abort the interpreter's shutdown


def _exit_at_eof():
    sys.stdin.buffer.read()
    os._exit(130)


def on_disk(folder, names):
    """Bytes of these blobs in the cache, whole or in part (`.incomplete`): the revision's progress."""
    total = 0
    for name in names:
        for path in (os.path.join(folder, "blobs", name), os.path.join(folder, "blobs", name + ".incomplete")):
            if os.path.isfile(path):
                total += os.path.getsize(path)
                break
    return total


def main(argv):
    job = argv[0]
    if job == "inventory":
        return inventory(*argv[1:4])
    if job == "receive":
        return receive(*argv[1:3])
    if job == "pull":
        return pull(*argv[1:4])
    if job == "digest":
        return digest(*argv[1:4])
    if job == "send":
        return send(*argv[1:3])
    raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
