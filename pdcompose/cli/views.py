"""Plans shown to people: the placement table and the guide-style command listing."""

from __future__ import annotations

import shlex
from typing import Any

from pdcompose.plan.models import Container, Host, Plan, SecretRef


def placement_table(plan: Plan) -> Any:
    from rich.table import Table

    title = f"{plan.cluster}: {plan.model}" + ("  \\[rehearsal]" if plan.rehearsal else "")
    table = Table(title=title, title_justify="left")
    for column in ("host", "container", "GPUs", "DP ranks", "ports"):
        table.add_column(column, no_wrap=True)
    for host in plan.hosts:
        for c in host.containers:
            table.add_row(f"{host.name}\n[dim]{host.address}[/]", c.service, ",".join(c.gpus) or "-",
                          _ranks(c), _ports(c))
    return table


def ports_table(plan: Plan) -> Any:
    """Every port each host opens, on which address, and who needs to reach it (plan/ports.py)."""
    from rich.table import Table

    from pdcompose.plan.ports import openings

    table = Table(title=f"{plan.cluster}: ports each host opens", title_justify="left")
    for column in ("host", "bound on", "port", "container", "for", "reached by"):
        table.add_column(column, no_wrap=column != "reached by")
    for o in openings(plan):
        where = "[bold]every interface[/]" if o.address in ("0.0.0.0", "::") else o.address
        table.add_row(o.host, where, o.span, o.service, o.purpose + (" (entry)" if o.entry else ""),
                      ", ".join(o.reached_by))
    return table


SHORT = {"API": "api", "NIXL side channel": "nixl", "DP RPC": "rpc", "router": "http", "router metrics": "metrics"}


def _ranks(c: Container) -> str:
    if c.dp is None:
        return "-"
    ranks = c.dp.ranks
    return f"{ranks.start}-{ranks.stop - 1} of {c.dp.size}" if c.dp.local > 1 else f"{ranks.start} of {c.dp.size}"


def _ports(c: Container) -> str:
    parts = []
    for use in c.ports:
        span = f"{use.port}-{use.port + use.count - 1}" if use.count > 1 else str(use.port)
        parts.append(f"{SHORT.get(use.purpose, use.purpose)} {span}")
    return "\n".join(parts)


def command_listing(plan: Plan, with_env: bool = False) -> str:
    """Each container's command as the guide writes it: one flag (and its values) per line."""
    blocks = []
    for host in plan.hosts:
        for c in host.containers:
            if c.role != "watchdog":        # pdcompose's own supervisor, not a command of the guide's
                blocks.append(_block(host, c, with_env))
    return "\n\n".join(blocks) + "\n"


def _block(host: Host, c: Container, with_env: bool) -> str:
    gpus = f", GPUs {','.join(c.gpus)}" if c.gpus else ""
    lines = [f"# {c.service} on {host.name} ({host.address}){gpus}"]
    if with_env:
        lines += [f"export {k}={_env_text(v)}" for k, v in c.env.items()]
    lines += _wrapped([*c.entrypoint, *c.command])
    return "\n".join(lines)


def _env_text(value: str | SecretRef) -> str:
    return f'"${value.from_env}"' if isinstance(value, SecretRef) else shlex.quote(value)


def _wrapped(argv: list[str]) -> list[str]:
    lines: list[list[str]] = [[]]
    for i, token in enumerate(argv):
        if token.startswith("--") and i > 0:
            lines.append([])
        lines[-1].append(shlex.quote(token))
    text = [" ".join(parts) for parts in lines]
    return [line + " \\" if i < len(text) - 1 else line for i, line in enumerate(text)] if len(text) > 1 \
        else text


def status_table(plan: Plan, report: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"{plan.cluster}" + ("  \\[rehearsal]" if plan.rehearsal else ""), title_justify="left")
    for column in ("host", "container", "state", "/health", "router", "definition"):
        table.add_column(column, no_wrap=True)
    for r in report.rows:
        if r.state is None:
            # "docker unreachable": the host's engine could not be asked (its endpoint may still answer)
            state = "[red]docker unreachable[/]" if r.state_error else "[red]missing[/]"
        else:
            colour = "green" if r.state.status == "running" and r.state.health != "unhealthy" else "red"
            state = f"[{colour}]{r.state.describe()}[/]"
        endpoint = f"[green]{r.endpoint}[/]" if r.endpoint in ("200", "-") else f"[red]{r.endpoint}[/]"
        view = r.router_view if r.router_view in ("healthy", "-") else f"[red]{r.router_view}[/]"
        running = (r.state.definition or "unlabelled") if r.state else "-"
        definition = f"[yellow]{running} (topology: {r.expected})[/]" if r.drift else running
        table.add_row(r.host, r.service, state, endpoint, view, definition)
    return table
