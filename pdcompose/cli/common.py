"""Options every command shares, and the one place errors become exit codes."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast

import typer

from pdcompose.cli import output
from pdcompose.errors import DockerOperationError, Issue, PdcomposeError, TopologyError

if TYPE_CHECKING:
    from pdcompose.plan.models import Host, Plan
    from pdcompose.topology import Resolved

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_FILE = "pdcompose.yaml"
DEFAULT_OUT = "out"
REHEARSAL_OUT = "out-rehearsal"   # never the real bundle's folder: the two must not replace each other
VERBOSE = {"on": False}

TopologyArg = Annotated[Path | None, typer.Argument(
    show_default=False, help="Topology file (same as -f; default: ./pdcompose.yaml)")]
FileOpt = Annotated[Path | None, typer.Option("--file", "-f", show_default=False,
                                              help="Topology file (default: ./pdcompose.yaml)")]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", show_default=False, help=(
    "Rendered bundle directory (default: out, or out-rehearsal for a rehearsal)"))]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]
RehearsalOpt = Annotated[bool, typer.Option("--rehearsal", help=(
    "Rehearse on the local Docker engine: mock vLLM image, loopback addresses, no GPUs"))]
ForceOpt = Annotated[bool, typer.Option("--force", help=(
    "Replace an output folder another pdcompose command wrote (a Compose bundle, a rehearsal's, Kubernetes "
    "manifests)"))]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors")]
EngineOpt = Annotated[Literal["mock", "vllm"] | None, typer.Option("--engine", show_default=False, help=(
    "Rehearsal engine, overriding rehearsal.engine: mock (fast) or vllm (real vLLM on CPU; implies --rehearsal)"))]
AccessOpt = Annotated[str | None, typer.Option("--access", envvar="PDCOMPOSE_ACCESS", show_default=False, help=(
    "How to reach the API servers and the router: direct (HTTP from here), context (from inside each host, "
    "through its Docker context) or auto (default: direct where it works, decided once per host)"))]
ContextOpt = Annotated[list[str] | None, typer.Option(
    "--context", "-c", help="Only the host(s) reached through this Docker context (repeatable; a host name works too)")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help=(
    "Seconds each Docker call may take (a probe container gets 3x); an unreachable host fails after this"))]


def topology_path(positional: Path | None, option: Path | None) -> Path:
    if positional and option and positional != option:
        raise PdcomposeError(f"two topology files given ({positional} and -f {option}); pass one")
    return positional or option or Path(DEFAULT_FILE)


def handles_errors(fn: F) -> F:
    """Run a command: PdcomposeError -> `error: ...` and its exit code; Ctrl-C -> 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except TopologyError as exc:
            report_issues(exc.issues + exc.warnings, as_json)
            raise typer.Exit(exc.exit_code) from None
        except PdcomposeError as exc:
            _report_error(str(exc), as_json, exc.details() if isinstance(exc, DockerOperationError) else {})
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            # Library code wraps Docker's errors where it knows the host; this is the backstop for a
            # call that does not, so no Docker failure ever ends in a raw traceback. (Matched without
            # importing python-on-whales, which costs a command that never touches Docker 0.2 s.)
            pow_module = sys.modules.get("python_on_whales")
            if pow_module is None or not isinstance(exc, pow_module.DockerException):
                raise
            from pdcompose.engine.errors import one_line

            _report_error(one_line(exc), as_json)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            output.error_line("interrupted")
            # The interrupt can land anywhere (between creating a coroutine and running its event loop,
            # say); what had to be said is said. Exit now rather than let interpreter shutdown print
            # destructor noise about half-built asyncio objects.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)

    return cast(F, wrapper)     # functools.wraps keeps fn's signature; its declared type does not say so


def _report_error(message: str, as_json: bool, details: dict[str, object] | None = None) -> None:
    if VERBOSE["on"]:
        output.console(stderr=True).print(output.redact(traceback.format_exc()))
    if as_json:
        report_json_error(message, details=details)
    else:
        output.error_line(message)


def report_json_error(message: str, issues: list[Issue] | None = None,
                      details: dict[str, object] | None = None) -> None:
    """The one shape of an error under --json: status, a one-line error, and the located issues (if any);
    `details` adds what a failed Docker call said (command, return_code, stdout, stderr)."""
    output.print_json({"status": "error", "error": message, "issues": [i.as_dict() for i in issues or []],
                       **(details or {})})


def report_issues(issues: list[Issue], as_json: bool) -> None:
    if as_json:
        errors = [i for i in issues if i.severity == "error"]
        if not errors:
            output.print_json({"status": "ok", "issues": [i.as_dict() for i in issues]})
            return
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        report_json_error(errors[0].format().replace(": error: ", ": ", 1) + more, issues)
        return
    for issue in issues:
        if issue.severity == "warning":
            output.warn(issue.format().replace(": warning: ", ": ", 1))
        else:
            output.error_line(issue.format().replace(": error: ", ": ", 1))
    count = sum(i.severity == "error" for i in issues)
    if count:
        output.note(f"{count} error{'s' if count > 1 else ''}; nothing was written")


def load_plan(path: Path, rehearsal: bool, strict: bool = False, quiet: bool = False,
              engine: str | None = None) -> tuple[Plan, list[Issue]]:
    """Topology file -> (plan, warnings); warnings printed on stderr unless quiet. `engine` (mock|vllm)
    overrides the topology's rehearsal engine and implies a rehearsal."""
    from pdcompose import topology

    resolved = topology.load(path)
    if engine is not None:
        resolved = with_engine(resolved, engine)
        rehearsal = True
    plan, warnings = _plan_of(resolved, rehearsal)
    if strict and warnings:
        raise TopologyError([Issue(w.code, w.path, w.message, "error", w.file, w.line, w.column) for w in warnings])
    if not quiet:
        for w in warnings:
            output.warn(w.format().replace(": warning: ", ": ", 1))
    return plan, warnings


def with_engine(resolved: Resolved, engine: str) -> Resolved:
    import dataclasses

    if engine not in ("mock", "vllm"):
        raise PdcomposeError(f"--engine {engine}: the rehearsal engines are mock and vllm")
    t = resolved.topology
    rehearsal = t.rehearsal.model_copy(update={"engine": engine})
    return dataclasses.replace(resolved, topology=t.model_copy(update={"rehearsal": rehearsal}))


def _plan_of(resolved: Resolved, rehearsal: bool) -> tuple[Plan, list[Issue]]:
    from pdcompose.plan import build_plan

    plan, warnings = build_plan(resolved, rehearsal=rehearsal or None)
    output.register_secret_env(*(s.from_env for s in plan.secrets))
    return plan, warnings


def bundle_dir(out: Path | None, rehearsal: bool) -> Path:
    return out if out is not None else Path(REHEARSAL_OUT if rehearsal else DEFAULT_OUT)


def deployed_plan(path: Path, out: Path | None, rehearsal: bool) -> Plan:
    """The plan day-2 commands act on: the rendered plan.json (what was deployed), else the topology's.
    Reads only (a rehearsal's Docker contexts are the caller's to create: `ensure_rehearsal_contexts`).
    Warns when the topology has changed since the render. The topology is loaded once: it says whether
    this is a rehearsal (`rehearsal: {enabled: true}`), and it is what the render is compared with."""
    from pdcompose import topology

    resolved = None
    if path.is_file():
        with contextlib.suppress(PdcomposeError):     # reported below, where it matters
            resolved = topology.load(path)
    rehearsal = rehearsal or bool(resolved and resolved.topology.rehearsal.enabled)
    plan = _bundle_plan(path, out, rehearsal, resolved)
    if not plan.rehearsal and out is None:
        plan = _or_running_rehearsal(plan, path, resolved)
    return plan


def _bundle_plan(path: Path, out: Path | None, rehearsal: bool, resolved: Resolved | None) -> Plan:
    plan_file = bundle_dir(out, rehearsal) / "plan.json"
    if plan_file.is_file():
        plan = _read_plan(plan_file)
        _warn_if_changed(plan, plan_file, path, resolved, rehearsal)
        return plan
    if resolved is not None:
        return _plan_of(resolved, rehearsal)[0]
    return load_plan(path, rehearsal, quiet=True)[0]    # raises the topology's own error


def _or_running_rehearsal(plan: Plan, path: Path, resolved: Resolved | None) -> Plan:
    """The real plan, unless its hosts have nothing and a rehearsal of it runs on the local engine: then
    that rehearsal, said in one line. (Without --rehearsal, a user who just rehearsed would otherwise see
    every real container "unreachable".)"""
    from pdcompose.ops.locate import real_hosts_empty, rehearsal_running

    if not rehearsal_running(plan):
        return plan
    if not real_hosts_empty(plan):
        output.warn(f"a rehearsal of {plan.cluster} is also running on the local engine: add --rehearsal to act on it")
        return plan
    output.note(f"the real hosts of {plan.cluster} have nothing deployed; acting on the rehearsal running on the "
                "local engine (--rehearsal)")
    return _bundle_plan(path, None, True, resolved)


def _read_plan(plan_file: Path) -> Plan:
    from pdcompose.plan.models import Plan

    try:
        plan = Plan.model_validate_json(plan_file.read_bytes())
    except ValueError as exc:
        raise PdcomposeError(f"{plan_file} is not a pdcompose plan ({exc.__class__.__name__}); re-render") from None
    output.register_secret_env(*(s.from_env for s in plan.secrets))
    return plan


def _warn_if_changed(plan: Plan, plan_file: Path, path: Path, resolved: Resolved | None, rehearsal: bool) -> None:
    if not path.is_file():
        return
    fresh = None
    if resolved is not None:
        with contextlib.suppress(PdcomposeError):
            fresh = _plan_of(resolved, plan.rehearsal or rehearsal)[0]
    if fresh is None:
        output.warn(f"{path} does not validate; acting on the last render in {plan_file}")
    elif fresh.fingerprint != plan.fingerprint:
        output.warn(f"{path} changed since {plan_file} was rendered: acting on what was rendered "
                    "(deploy again to apply the change)")


def plan_and_hosts(topology: Path | None, file: Path | None, context: list[str] | None, rehearsal: bool,
                   quiet: bool) -> tuple[Path, Plan, list[Host]]:
    """The topology's path, its plan, and the hosts `--context` selects (a rehearsal's contexts made, as
    deploy would make them; `down` removes them): for the commands that look at hosts without deploying."""
    from pdcompose.deploy.selection import select_hosts
    from pdcompose.engine.contexts import ensure_rehearsal_contexts

    path = topology_path(topology, file)
    plan, _ = load_plan(path, rehearsal, quiet=quiet)
    if plan.rehearsal:
        ensure_rehearsal_contexts(plan)
    return path, plan, select_hosts(plan, tuple(context or ()))
