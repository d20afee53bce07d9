"""`pdcompose lab`: real Docker hosts on this machine, reached over SSH, and the faults to try on them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from pdcompose.cli import output
from pdcompose.cli.common import JsonOpt, handles_errors

lab_app = typer.Typer(no_args_is_help=True, help=(
    "A lab of real Docker hosts on this machine (like kind for Kubernetes): each its own network namespace, "
    "address, Docker daemon and SSH server, reached through an ssh:// Docker context. Needs root."))

NameOpt = Annotated[str, typer.Option("--name", "-n", help="the lab's name (several labs can be up at once)")]
HostArg = Annotated[str, typer.Argument(help="a lab host: n0, its context or its address")]


def _say(message: str) -> None:
    output.say(message)


@lab_app.command("up")
@handles_errors
def up(count: Annotated[int, typer.Argument(help="how many hosts")],
       name: NameOpt = "lab",
       subnet: Annotated[str, typer.Option(help="the lab's own network (made on this machine)")] = "198.19.0.0/24",
       operator: Annotated[bool, typer.Option(help=(
           "also make an operator namespace that reaches the hosts only over SSH (pdcompose lab exec)"))] = True,
       seed: Annotated[list[str] | None, typer.Option("--seed", help=(
           "an image of this machine's store every host starts with, hardlinked (no copy, no time): for "
           "large images such as the real engine's; repeat for more. Default: every store starts empty"))] = None,
       ) -> None:
    """Start COUNT hosts, each with its own Docker daemon and sshd, and a Docker context per host."""
    from pdcompose.lab import run
    from pdcompose.lab.topology import skeleton

    lab = run.up(name, count, subnet, operator, _say, tuple(seed or ()))
    _say(f"lab '{lab.name}' is up; contexts {lab.hosts[0].context} .. {lab.hosts[-1].context}")
    print(skeleton(lab), end="")


@lab_app.command("down")
@handles_errors
def down(name: NameOpt = "lab") -> None:
    """Remove everything the lab made (daemons, namespaces, bridge, mounts, keys, contexts, SSH config),
    also after a crash or Ctrl-C."""
    from pdcompose.lab import run

    run.preflight()
    run.down(name, _say)


@lab_app.command("status")
@handles_errors
def status(name: NameOpt = "lab", as_json: JsonOpt = False) -> None:
    """The lab's hosts: address, context, whether the daemon and SSH answer, memory, containers."""
    from pdcompose.lab.inspect import host_states
    from pdcompose.lab.model import require_lab

    lab = require_lab(name)
    states = host_states(lab)
    if as_json:
        output.print_json({"lab": lab.name, "subnet": lab.subnet, "ssh_delay_ms": lab.ssh_delay_ms,
                           "hosts": states})
        return
    for s in states:
        print(f"{s['name']:<5} {s['address']:<15} {s['context']:<18} daemon {s['daemon']:<5} "
              f"ssh {s['ssh']:<5} link {s['link']:<5} {s['containers']} containers, {s['memory_mb']} MB")
    if lab.ssh_delay_ms:
        print(f"every SSH link delayed by {lab.ssh_delay_ms} ms each way")


@lab_app.command("topology")
@handles_errors
def topology(name: NameOpt = "lab",
             source: Annotated[Path | None, typer.Option("--for", help="a topology to move onto the lab")] = None,
             out: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
             ) -> None:
    """The lab's hosts as a topology skeleton, or a topology moved onto the lab's hosts (--for)."""
    from pdcompose.lab.model import require_lab
    from pdcompose.lab.topology import moved, skeleton, write

    lab = require_lab(name)
    text = moved(lab, source) if source else skeleton(lab)
    if out is None:
        print(text, end="")
        return
    write(out, text)
    _say(f"wrote {out}")


@lab_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@handles_errors
def exec_(ctx: typer.Context, name: NameOpt = "lab") -> None:
    """Run a command on the lab's operator machine, which reaches the hosts only over SSH:
    `pdcompose lab exec -- pdcompose deploy -f lab.yaml`."""
    from pdcompose.lab.model import LabError, require_lab
    from pdcompose.lab.system import in_netns

    lab = require_lab(name)
    if not lab.operator:
        raise LabError(f"lab '{name}' was made with --no-operator")
    if not ctx.args:
        raise LabError("nothing to run: pdcompose lab exec -- COMMAND ...")
    raise typer.Exit(subprocess.run(in_netns(lab.operator_netns, list(ctx.args)), env=os.environ).returncode)


fault_app = typer.Typer(no_args_is_help=True, help="Faults to try on a lab's hosts (each undone by `lab fault heal`).")
lab_app.add_typer(fault_app, name="fault")


@fault_app.command("lose")
@handles_errors
def lose(host: HostArg, name: NameOpt = "lab") -> None:
    """The host is lost: everything on it killed at once and its link down, as when it loses power."""
    from pdcompose.lab import faults

    _say(faults.lose(name, host))


@fault_app.command("partition")
@handles_errors
def partition(host: HostArg, others: Annotated[list[str], typer.Argument(help="the hosts it can no longer reach")],
              name: NameOpt = "lab") -> None:
    """Drop every packet between HOST and OTHERS (both ways); SSH from the operator still works."""
    from pdcompose.lab import faults

    _say(faults.partition(name, host, others))


@fault_app.command("stop-daemon")
@handles_errors
def stop_daemon(host: HostArg, name: NameOpt = "lab") -> None:
    """Stop the host's Docker daemon (SSH still answers; `docker` there cannot connect)."""
    from pdcompose.lab import faults

    _say(faults.stop_daemon(name, host))


@fault_app.command("refuse-key")
@handles_errors
def refuse_key(host: HostArg, name: NameOpt = "lab") -> None:
    """The host's sshd refuses the lab's key from now on."""
    from pdcompose.lab import faults

    _say(faults.refuse_key(name, host))


@fault_app.command("delay")
@handles_errors
def delay(ms: Annotated[int, typer.Argument(help="one-way delay in each direction, ms (0: none)")],
          name: NameOpt = "lab") -> None:
    """Delay every SSH link to the lab's hosts by MS each way (a relay in the SSH client's ProxyCommand)."""
    from pdcompose.lab import faults

    _say(faults.delay(name, ms))


@fault_app.command("heal")
@handles_errors
def heal(host: Annotated[str | None, typer.Argument(help="one host (default: all)")] = None,
         name: NameOpt = "lab") -> None:
    """Undo the faults: restart what was stopped or lost (its containers come back by their restart policy),
    lift partitions, accept the key again."""
    from pdcompose.lab import faults

    _say(faults.heal(name, host))
