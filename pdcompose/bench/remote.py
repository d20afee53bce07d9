"""`pdcompose bench` from inside the cluster: the load generator runs on the router's host, in a
short-lived `--network host` container of the pdcompose image, started through the host's Docker
context; the result comes back on its stdout and is saved here, fingerprinted like any other run.
For operators who reach the hosts only through their contexts (engine/access.py says which).

The pairing proof reads each mock worker's /mock/stats the same way (one request per host, from inside).
"""

from __future__ import annotations

from pydantic import ValidationError

from pdcompose import defaults
from pdcompose.bench.loadgen import Job
from pdcompose.bench.pairing import PairingError, stats_url
from pdcompose.bench.result import BenchResult
from pdcompose.bench.workload import BenchConfig
from pdcompose.engine.access import Access
from pdcompose.engine.fanout import parallel
from pdcompose.engine.helpers import run_python
from pdcompose.engine.images import image_id
from pdcompose.engine.inside import Request
from pdcompose.errors import DockerOperationError, PdcomposeError
from pdcompose.plan.models import Host, Plan
from pdcompose.wire.mock import MockStats

LABEL = "io.pdcompose.helper=bench"
STATS_TIMEOUT = 30.0


def loadgen_images(plan: Plan) -> dict[str, list[str]]:
    """The image the load generator needs on the router's host (`images push --loadgen` copies it)."""
    return {plan.router.host: [defaults.MOCK_VLLM_IMAGE]}


def run_on_host(host: Host, config: BenchConfig, fingerprint: str, labels: dict[str, str],
                image: str = defaults.MOCK_VLLM_IMAGE) -> BenchResult:
    """One benchmark run on `host` (the router's), its result brought back. No timeout: a run lasts as
    long as its requests (each bounded by config.timeout), like the image transfers of engine/cli.py."""
    if image_id(host.name, host.context, image) is None:
        raise DockerOperationError(host.name, f"{image}, the load generator's image, is not on this host: "
                                              "copy it with `pdcompose images push --loadgen`")
    job = Job(config=config, fingerprint=fingerprint, labels=labels)
    stdout = run_python(host, image, ["-m", "pdcompose.bench.loadgen"], label=LABEL,
                        stdin=job.model_dump_json().encode(), what="the load generator")
    try:
        return BenchResult.model_validate_json(stdout)
    except ValidationError:
        raise DockerOperationError(host.name, "the load generator printed no benchmark result") from None


def stats_through(plan: Plan, access: Access) -> dict[str, MockStats]:
    """Every mock worker's /mock/stats, one fetch per host (directly or through its context), keyed by URL."""
    hosts = [h for h in plan.hosts if any(c.role in ("prefill", "decode") for c in h.containers)]

    def one(host: Host) -> dict[str, MockStats]:
        workers = [c for c in host.containers if c.role in ("prefill", "decode")]
        answers = access.fetch(host, [Request(stats_url(c.url), timeout=STATS_TIMEOUT) for c in workers],
                               via=workers[0].service)
        out = {}
        for c, a in zip(workers, answers, strict=True):
            if a.status != 200:
                raise PairingError(f"{stats_url(c.url)}: cannot read mock stats ({a.error or a.status})")
            out[c.url] = MockStats.model_validate_json(a.body)
        return out

    try:
        found = parallel(one, hosts)
    except (PdcomposeError, ValidationError) as exc:
        raise PairingError(str(exc)) from None
    return {url: st for per_host in found.values() for url, st in per_host.items()}
