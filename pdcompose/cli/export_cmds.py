"""`pdcompose export k8s`: the same plan as `render`, written as Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pdcompose.cli import output
from pdcompose.cli.common import FileOpt, ForceOpt, JsonOpt, TopologyArg, handles_errors, load_plan, topology_path

export_app = typer.Typer(no_args_is_help=True, help="Write the plan for another backend (Kubernetes).")
DEFAULT_K8S_OUT = "out-k8s"   # never `out`: the Compose bundle and the manifests must not replace each other


@export_app.command("k8s")
@handles_errors
def k8s(topology: TopologyArg = None, file: FileOpt = None,
        out: Annotated[Path, typer.Option("--output", "-o", help="Directory for the manifests")] = Path(
            DEFAULT_K8S_OUT),
        namespace: Annotated[str, typer.Option("--namespace", help="Namespace of every object")] = "default",
        prefix: Annotated[str | None, typer.Option("--prefix", show_default=False, help=(
            "Start of every object's name (default: the cluster's name)"))] = None,
        hf_cache_claim: Annotated[str, typer.Option("--hf-cache-claim", help=(
            "PersistentVolumeClaim holding the Hugging Face cache"))] = "hf-cache",
        secret: Annotated[str | None, typer.Option("--secret", show_default=False, help=(
            "Secret holding HF_TOKEN and every {from_env} value (default: <prefix>-secrets)"))] = None,
        rdma_resource: Annotated[str, typer.Option("--rdma-resource", help=(
            "Extended resource of the RDMA device plugin (InfiniBand profiles)"))] = "rdma/ib",
        force: ForceOpt = False, as_json: JsonOpt = False) -> None:
    """Kubernetes manifests (a LeaderWorkerSet per instance, the router with service discovery) + NOTES.md."""
    from pdcompose.export.k8s import KUBERNETES_VERSION, make_options, write

    the_plan, _ = load_plan(topology_path(topology, file), rehearsal=False, quiet=as_json)
    options = make_options(the_plan.cluster, namespace, prefix, hf_cache_claim, secret, rdma_resource)
    export, written = write(the_plan, out, options, force=force)
    if as_json:
        output.print_json({"status": "ok", "output": str(out), "files": written, "kubernetes": KUBERNETES_VERSION,
                           "fingerprint": the_plan.fingerprint, "not_carried_over": export.notes})
        return
    say = lambda text: output.console().print(text, markup=False)  # noqa: E731  (notes hold [brackets])
    say(f"wrote {out}/: {len(export.groups)} LeaderWorkerSets and the router for Kubernetes "
               f"{KUBERNETES_VERSION}, namespace {options.namespace} (`kubectl apply -k {out}`)")
    say(f"Not carried over, or carried over differently (also in {out / 'NOTES.md'}):")
    for note in export.notes:
        say(f"  - {note}")
