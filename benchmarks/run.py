"""`make bench`: every benchmark figure the issues ask for, printed and written to bench-results/ with the
commit, date and machine that produced them (benchmarks/provenance.py); a full run also becomes the
README's figures table (benchmarks/readme.py).

Whole-process timings, medians of several runs; Docker benchmarks run rehearsed stacks on the local
engine (real vllm-router, mock vLLM workers); `timeouts` gives the give-up paths and the pacing as ratios
to their expected time (the tests bound them against hangs only).
Usage: python benchmarks/run.py [cli] [router] [deploy] [load] [access] [timeouts] [lab-ssh] [lab-scale]
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cli_speed, lab, provenance, readme, stack, timeouts  # noqa: E402
from benchmarks.common import REPO, Figure  # noqa: E402

SECTIONS = {"cli": cli_speed.run, "router": stack.router_throughput, "deploy": stack.deploy_vs_serial,
            "load": stack.load_held, "access": stack.gate_by_access, "timeouts": timeouts.run,
            "lab-ssh": lab.ssh_costs, "lab-scale": lab.scale}


def main(argv: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    chosen = argv or list(SECTIONS)
    origin = provenance.collect()      # before the run: the commit and machine that produce the figures
    figures: list[Figure] = []
    console = Console()
    for name in chosen:
        console.print(f"[bold]running {name} benchmarks...[/]")
        figures += SECTIONS[name]()
    for section in dict.fromkeys(f.section for f in figures):
        table = Table(title=section, title_justify="left")
        for column in ("figure", "value", "target", "met"):
            table.add_column(column)
        for f in (f for f in figures if f.section == section):
            met = "" if f.met is None else ("[green]yes[/]" if f.met else "[red]NO[/]")
            table.add_row(f.name, f"{f.value} {f.unit}".strip(), f.target, met)
        console.print(table)
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    record = {"provenance": origin, "figures": [asdict(f) for f in figures]}
    (out / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"written to {out / 'summary.json'}")
    if chosen == list(SECTIONS):       # a partial run must not replace the figures the README quotes
        readme.publish(out / "summary.json")
        console.print(f"README.md's figures and {readme.FIGURES.relative_to(REPO)} are this run's: review the diff")
    return 1 if any(f.met is False for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
