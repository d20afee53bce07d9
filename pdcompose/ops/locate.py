"""Where a topology is running: on its real hosts, or as a rehearsal on the local engine.

`deploy --rehearsal` leaves its Docker contexts (`rehearsal-<cluster>-<host>`) and its Compose projects
on the local engine; a day-2 command typed without --rehearsal would otherwise probe the real hosts
and report every container unreachable. These checks are cheap when no rehearsal runs (one local
`docker context ls`), and every Docker call is under a timeout, so a dead real host costs seconds.
"""

from __future__ import annotations

from pdcompose.engine.cli import run
from pdcompose.engine.containers import PROJECT_LABEL
from pdcompose.engine.fanout import parallel
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host, Plan
from pdcompose.plan.rehearsal import rehearsal_context

TIMEOUT = 5.0


def rehearsal_running(plan: Plan) -> bool:
    """A rehearsal of this plan's cluster runs on the local engine: its contexts exist, and a container of
    one of its Compose projects is running there."""
    try:
        names = run("local", None, ["context", "ls", "--format", "{{.Name}}"], TIMEOUT)
        contexts = {rehearsal_context(plan.cluster, h.name) for h in plan.hosts}
        if not names.ok or not contexts & set(names.stdout.split()):
            return False
        projects = run("local", None, ["ps", "--format", f'{{{{.Label "{PROJECT_LABEL}"}}}}'], TIMEOUT)
    except PdcomposeError:                      # no docker CLI, or the local engine does not answer
        return False
    return projects.ok and bool({h.project for h in plan.hosts} & set(projects.stdout.split()))


def real_hosts_empty(plan: Plan) -> bool:
    """No host of the plan has a container of its project, or can be asked (no context, unreachable)."""
    def has_containers(host: Host) -> bool:
        result = run(host.name, host.context, ["ps", "-a", "-q", "--filter", f"label={PROJECT_LABEL}={host.project}"],
                     TIMEOUT)
        return result.ok and bool(result.stdout.strip())

    found = parallel(has_containers, plan.hosts, raise_first=False)
    return not any(v is True for v in found.values())
