"""HTTP requests made from inside a host, through its Docker context: for operators whose machine has no
route to the cluster's private addresses, only SSH to each host's Docker engine.

One call sends all of a host's requests in ONE round trip: `docker exec` in one of the host's containers
(every container pdcompose deploys uses host networking, so the host's addresses are its own) runs a
stdlib-only Python script that makes the requests and prints their answers as JSON. When that container
is not running, the same script runs in a short-lived `--network host` helper container of the same image
(already on the host: deploy put it there). A command that asks a host again and again (the health gate,
`top`) keeps one `docker exec -i` open per host and sends each round down it (engine/sessions.py): one
round trip over the host's SSH connection instead of a new exec each time. Every image pdcompose deploys
has python3 (vLLM, the router, the mock); none is assumed to have curl. The docker CLI runs under
engine/cli.run's timeout, as python-on-whales has none.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from pdcompose import defaults
from pdcompose.engine import sessions
from pdcompose.engine.cli import run
from pdcompose.engine.helpers import helper_args
from pdcompose.errors import DockerOperationError
from pdcompose.plan.models import Host

REFUSED = "connection refused"
NO_ROUTE = "cannot connect"

# Run by python3 in a container on the host. urllib ignores the container's proxy variables (the request
# is for the host itself); every request gets an answer, a status or an error, in the order asked.
_ASK = r"""
import base64, json, socket, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def ask(r):
    data = None if r["json"] is None else json.dumps(r["json"]).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if r.get("auth"):   # the cluster's API key, from this container's secret file (never in argv)
        try:
            with open("/run/secrets/api_key") as f:
                headers["Authorization"] = "Bearer " + f.read().rstrip("\n")
        except OSError:
            pass
    req = urllib.request.Request(r["url"], data=data, method=r["method"], headers=headers)
    try:
        with opener.open(req, timeout=r["timeout"]) as resp:
            return [resp.status, base64.b64encode(resp.read()).decode(), None]
    except urllib.error.HTTPError as e:
        return [e.code, base64.b64encode(e.read()).decode(), None]
    except Exception as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return [None, "", "timeout"]
        return [None, "", "refused" if isinstance(reason, ConnectionRefusedError) else "connect"]
"""
# One round of requests, from argv.
SCRIPT = _ASK + 'print(json.dumps([ask(r) for r in json.loads(sys.argv[1])]))\n'
# A session: one round per line of stdin, its answers as one line of stdout, until stdin closes.
LOOP = _ASK + ("for line in sys.stdin:\n"
               "    sys.stdout.write(json.dumps([ask(r) for r in json.loads(line)]) + '\\n')\n"
               "    sys.stdout.flush()\n")


@dataclass(frozen=True)
class Request:
    url: str
    method: str = "GET"
    json: dict[str, Any] | None = field(default=None, hash=False)
    timeout: float = 3.0
    auth: str | None = None          # the variable holding the cluster's API key (plan/auth.py): sent as a
                                     # Bearer token; from inside a host, read from the container's secret file


@dataclass(frozen=True)
class Answer:
    status: int | None               # None: no HTTP answer (error says why)
    body: bytes = b""
    error: str | None = None         # "connection refused", "cannot connect", "no answer within 3 s"

    @property
    def answered(self) -> bool:
        return self.status is not None


def timeout_error(seconds: float) -> str:
    return f"no answer within {seconds:g} s"


def container_name(host: Host, service: str) -> str:
    """Compose v2's name for a service's (only) container: <project>-<service>-1."""
    return f"{host.project}-{service}-1"


def fetch(host: Host, requests: list[Request], via: str) -> list[Answer]:
    """The answers to requests made on the host, from inside container `via` (a service of the host) or,
    when it is not running, from a helper container of its image. Raises DockerOperationError when the
    host's engine cannot run either."""
    if not requests:
        return []
    payload = json.dumps([{"url": r.url, "method": r.method, "json": r.json, "timeout": r.timeout,
                           "auth": bool(r.auth)} for r in requests])
    limit = sum(r.timeout for r in requests) + 15       # the requests, plus docker exec (and ssh) overhead
    answered = sessions.ask(host.context, container_name(host, via), LOOP, payload, limit)
    if answered is not None:
        return parse(answered, requests, host.name)
    result = run(host.name, host.context, ["exec", container_name(host, via), "python3", "-c", SCRIPT, payload],
                 limit)
    if not result.ok and (_not_running(result.stderr) or _no_python(result.stderr)):
        # Not running: the same image, which the host has. No python3 in it (an image of the user's own):
        # the pdcompose image, which `bench` through the context needs on that host too.
        image = (defaults.MOCK_VLLM_IMAGE if _no_python(result.stderr)
                 else next(c.image for c in host.containers if c.service == via))
        result = run(host.name, host.context, helper_args(image, "io.pdcompose.helper=http", ["-c", SCRIPT, payload]),
                     limit + 30)
    if not result.ok:
        raise DockerOperationError(host.name, f"requests from inside the host through Docker context "
                                              f"'{host.context}' failed: {result.last_error()}")
    return parse(result.stdout, requests, host.name)


def parse(stdout: str, requests: list[Request], host: str = "-") -> list[Answer]:
    """The script's JSON line -> one Answer per request (the same error words the direct probes use)."""
    try:
        rows = json.loads(stdout.strip().splitlines()[-1])
        answers = [_answer(row, r) for row, r in zip(rows, requests, strict=True)]
    except (ValueError, IndexError, TypeError):
        raise DockerOperationError(host, f"the in-host request script printed no answers: {stdout[-200:]!r}") from None
    return answers


def _answer(row: list[Any], request: Request) -> Answer:
    status, body, error = row
    if error is None:
        return Answer(int(status), base64.b64decode(body))
    words = {"refused": REFUSED, "connect": NO_ROUTE, "timeout": timeout_error(request.timeout)}
    return Answer(None, b"", words[error])


def _no_python(stderr: str) -> bool:
    return "executable file not found" in stderr


def _not_running(stderr: str) -> bool:
    return "No such container" in stderr or "is not running" in stderr or "is restarting" in stderr
