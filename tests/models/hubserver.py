"""A local server speaking the part of the Hugging Face Hub's HTTP API that huggingface_hub's
snapshot_download uses (what `models pull` runs on each host, HF_ENDPOINT pointing here):

  GET  /api/models/<repo>/revision/<rev>      the repo's info: its commit ("sha") and files ("siblings")
  HEAD /<repo>/resolve/<rev>/<file>           X-Repo-Commit, ETag (X-Linked-Etag for LFS), Content-Length
  GET  /<repo>/resolve/<rev>/<file>           the bytes; `Range: bytes=N-` answered with 206 (a resume)

Every request must carry `Authorization: Bearer <token>` (401 otherwise, like a gated repo), so a pull that
reaches the files proves the token arrived. `stall_after` makes the first GET of one file send that many
bytes and then hang, as a dropped link does, so that a pull can be interrupted mid-file and resumed."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.models.hub import LFS_FROM, commit_of, etag


@dataclass
class Hub:
    repo: str
    files: dict[str, bytes]
    token: str
    refs: dict[str, str] = field(default_factory=dict)
    stall_after: dict[str, int] = field(default_factory=dict)    # file -> bytes sent before hanging (once)
    log: list[tuple[str, str, str, str]] = field(default_factory=list)   # (method, path, auth ok, range)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def commit(self) -> str:
        return commit_of(self.files)

    def resolve(self, rev: str) -> str | None:
        return self.commit if rev in (self.commit, *self.refs) else None


def serve(hub: Hub, address: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def _authorized(self) -> bool:
            ok = self.headers.get("Authorization") == f"Bearer {hub.token}"
            hub.log.append((self.command, self.path, "auth" if ok else "no-auth", self.headers.get("Range", "")))
            if not ok:
                self._send(401, b'{"error": "Invalid credentials"}', {"Content-Type": "application/json",
                                                                       "X-Error-Code": "GatedRepo"})
            return ok

        def _send(self, code: int, body: bytes, headers: dict[str, str], head: bool = False) -> None:
            self.send_response(code)
            for k, v in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(k, v)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._route(head=False)

        def do_HEAD(self) -> None:
            self._route(head=True)

        def _route(self, head: bool) -> None:
            if not self._authorized():
                return
            path = self.path.split("?", 1)[0]
            info = re.fullmatch(rf"/api/models/{re.escape(hub.repo)}/revision/([^/]+)", path)
            if info:
                return self._info(info.group(1))
            file = re.fullmatch(rf"/{re.escape(hub.repo)}/resolve/([^/]+)/(.+)", path)
            if file and hub.resolve(file.group(1)) and file.group(2) in hub.files:
                return self._file(file.group(2), head)
            self._send(404, b'{"error": "not found"}', {"Content-Type": "application/json",
                                                       "X-Error-Code": "EntryNotFound"})

        def _info(self, rev: str) -> None:
            commit = hub.resolve(rev)
            if commit is None:
                return self._send(404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
            siblings = [{"rfilename": n, "size": len(d), "blobId": etag(d),
                         **({"lfs": {"sha256": etag(d), "size": len(d), "pointerSize": 134}}
                            if len(d) >= LFS_FROM else {})} for n, d in sorted(hub.files.items())]
            body = json.dumps({"id": hub.repo, "modelId": hub.repo, "sha": commit, "private": False,
                               "siblings": siblings, "tags": []}).encode()
            self._send(200, body, {"Content-Type": "application/json"})

        def _file(self, name: str, head: bool) -> None:
            data = hub.files[name]
            tag = etag(data)
            headers = {"X-Repo-Commit": hub.commit, "ETag": f'"{tag}"', "Accept-Ranges": "bytes"}
            if len(data) >= LFS_FROM:
                headers |= {"X-Linked-Etag": f'"{tag}"', "X-Linked-Size": str(len(data))}
            start = 0
            if not head and (m := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))):
                start = int(m.group(1))
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            if head:
                return self._send(200, data, headers, head=True)
            stall = hub.stall_after.pop(name, None)
            if stall is None:
                return self._send(206 if start else 200, data[start:], headers)
            self.send_response(200)
            for k, v in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[:stall])
            self.wfile.flush()
            hub.release.wait(60)                 # hang like a dead link until the test lets go
            self.close_connection = True

    server = ThreadingHTTPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
