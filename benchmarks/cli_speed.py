"""Issue 2's figures: `pdcompose --help`, rendering the example, and rendering generated 64-, 256- and
1024-host topologies; issue 24's: exporting the same topologies to Kubernetes, and the export's peak
memory at 1024 hosts (whole processes, medians of several runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import PDCOMPOSE, REPO, Figure, median, peak_process, time_process

SIZES = (64, 256, 1024)


def generated_topology(hosts: int) -> str:
    """`hosts` GB200 hosts: 1 router host, the rest in 2-node instances, 2/3 prefill and 1/3 decode."""
    workers = hosts - 1
    lines = ["name: gen", "recipe: deepseek-r1-gb200", "image: vllm/vllm-openai:v0.13.0",
             "hf_cache: /mnt/hf-cache", "defaults: {interface: eth0}", "hosts:"]
    # 250 hosts per /24, numbered .1-.250: every address a valid IPv4 (no .256), none repeated
    lines += [f"  n{i}: {{address: 10.{i // 64000}.{i // 250 % 256}.{i % 250 + 1}}}" for i in range(workers)]
    lines.append("  lb: {address: 10.255.255.1, gpus: []}")
    pairs = [(f"n{i}", f"n{i + 1}") for i in range(0, workers - 1, 2)]
    cut = len(pairs) * 2 // 3
    lines.append("prefill:")
    lines += [f"  - nodes: [{a}, {b}]" for a, b in pairs[:cut]]
    lines.append("decode:")
    lines += [f"  - nodes: [{a}, {b}]" for a, b in pairs[cut:]]
    lines.append("router: {host: lb}")
    return "\n".join(lines) + "\n"


def run(runs: int = 7) -> list[Figure]:
    figures = []
    help_times = time_process([*PDCOMPOSE, "--help"], runs)
    figures.append(Figure("cli", "pdcompose --help", round(median(help_times), 3), "s", "< 0.3 s",
                          median(help_times) < 0.3, help_times))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        example = time_process([*PDCOMPOSE, "render", str(REPO / "examples/deepseek-r1-gb200.yaml"), "-o", str(out)],
                               runs)
        figures.append(Figure("cli", "render the guide example (7 hosts)", round(median(example), 3), "s", "< 1 s",
                              median(example) < 1, example))
        for verb in ("render", "export k8s"):
            figures += _by_size(verb, Path(tmp), runs)
        largest = [*PDCOMPOSE, "export", "k8s", str(Path(tmp) / f"gen-{SIZES[-1]}.yaml"), "-o", str(Path(tmp) / "peak")]
        figures.append(Figure("cli", f"export k8s {SIZES[-1]} hosts: peak memory", round(peak_process(largest), 1),
                              "MiB"))
    return figures


def _by_size(verb: str, tmp: Path, runs: int) -> list[Figure]:
    """`pdcompose <verb>` of each generated topology, and whether its cost per host stays flat."""
    figures, medians = [], []
    for size in SIZES:
        path = tmp / f"gen-{size}.yaml"
        path.write_text(generated_topology(size))
        times = time_process([*PDCOMPOSE, *verb.split(), str(path), "-o", str(tmp / f"{verb[:6]}-{size}")],
                             max(3, runs // 2))
        medians.append(median(times))
        target = "< 5 s" if size == 1024 else ""
        met = median(times) < 5 if size == 1024 else None
        figures.append(Figure("cli", f"{verb} {size} hosts", round(median(times), 3), "s", target, met, times))
    # Linear growth: the marginal cost of a host stays the same as clusters grow (start-up excluded).
    small = (medians[1] - medians[0]) / (SIZES[1] - SIZES[0])
    large = (medians[2] - medians[1]) / (SIZES[2] - SIZES[1])
    name = "marginal ms per host, 64-256 vs 256-1024" + ("" if verb == "render" else f" ({verb})")
    figures.append(Figure("cli", name, f"{small * 1e3:.2f} vs {large * 1e3:.2f}", "", "roughly equal (linear)",
                          large < 1.5 * small))
    return figures
