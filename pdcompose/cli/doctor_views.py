"""Tables for doctor and `images status`, and the JSON they print under --json."""

from __future__ import annotations

from typing import Any

from pdcompose.plan.models import Host, Plan

STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}


def doctor_table(plan: Plan, hosts: list[Host], results: list[Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    title = f"doctor: {plan.cluster}" + ("  [rehearsal]" if plan.rehearsal else "")
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("host", no_wrap=True)
    table.add_column("check", max_width=26)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    where = {h.name: h for h in hosts}
    last = None
    for checks, r in _merged_skips(results):
        host = where[r.host]
        first = r.host != last
        if first and last is not None:
            table.add_section()
        label = f"{host.name}\n[dim]{host.address}\n{host.context}[/]" if first else ""
        detail = escape(r.detail) + (f"\n[yellow]fix:[/] {escape(r.fix)}" if r.fix and r.status != "pass" else "")
        table.add_row(label, checks, STYLE[r.status], f"[dim]{detail}[/]" if r.status == "skip" else detail)
        last = r.host
    return table


def _merged_skips(results: list[Any]) -> list[tuple[str, Any]]:
    """Consecutive skips of one host for the same reason share a row: `gpus, imex  skip  rehearsal: ...`."""
    rows: list[tuple[str, Any]] = []
    for r in results:
        if rows and r.status == "skip" and (prev := rows[-1][1]).status == "skip" and \
                (prev.host, prev.detail) == (r.host, r.detail):
            rows[-1] = (f"{rows[-1][0]}, {r.check}", prev)
        else:
            rows.append((r.check, r))
    return rows


def doctor_json(plan: Plan, results: list[Any], counts: dict[str, int]) -> dict[str, Any]:
    return {"status": "failed" if counts["fail"] else "ok", "cluster": plan.cluster, "rehearsal": plan.rehearsal,
            "summary": counts, "checks": [r.as_dict() for r in results]}


def short(image: str | None) -> str:
    return image.removeprefix("sha256:")[:12] if image else "-"


def image_rows(inv: Any) -> list[dict[str, Any]]:
    rows = []
    for r in inv.rows:
        local, pinned = inv.local.get(r.ref), inv.lock.get(r.ref)
        rows.append({"host": r.host, "image": r.ref, "id": r.id, "error": r.error, "local_id": local,
                     "lock_id": pinned, "matches_local": r.id is not None and r.id == local,
                     "matches_lock": None if pinned is None else r.id == pinned})
    return rows


def images_table(plan: Plan, rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"images: {plan.cluster}" + ("  [rehearsal]" if plan.rehearsal else ""), title_justify="left")
    for column in ("host", "image", "ID on host", "this machine", "lock"):
        table.add_column(column, no_wrap=column not in ("host", "image"), overflow="fold")
    for r in rows:
        if r["error"]:
            table.add_row(r["host"], r["image"], f"[red]unreachable[/] [dim]{escape(r['error'])}[/]", "", "")
            continue
        on_host = short(r["id"]) if r["id"] else "[red]absent[/]"
        local = _mark(r["matches_local"], short(r["local_id"])) if r["local_id"] else "[dim]not here[/]"
        lock = "[dim]not pinned[/]" if r["lock_id"] is None else _mark(r["matches_lock"], short(r["lock_id"]))
        table.add_row(r["host"], r["image"], on_host, local, lock)
    return table


def _mark(ok: bool, image: str) -> str:
    return f"[green]= {image}[/]" if ok else f"[yellow]≠ {image}[/]"
