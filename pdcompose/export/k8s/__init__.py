"""Plan -> Kubernetes manifests (LeaderWorkerSet per instance, the router with service discovery), a
sibling transformer of `render`: derive (Plan -> neutral model) -> pods/router (model -> objects) ->
manifests (objects -> files), written atomically like a Compose bundle."""

from __future__ import annotations

from pathlib import Path

from pdcompose.errors import RenderError
from pdcompose.export import ExportError
from pdcompose.export.k8s.derive import derive
from pdcompose.export.k8s.manifests import files, objects
from pdcompose.export.k8s.model import Export
from pdcompose.export.k8s.options import KUBERNETES_VERSION, ExportOptions, make_options
from pdcompose.plan.models import Plan
from pdcompose.render.writer import write_bundle


def export_files(plan: Plan, options: ExportOptions) -> tuple[Export, dict[str, bytes]]:
    export = derive(plan, options)
    return export, files(export)


def write(plan: Plan, out: Path, options: ExportOptions, force: bool = False) -> tuple[Export, list[str]]:
    """Write the manifests into `out` atomically (all files or none; an existing `out` is replaced only
    when pdcompose wrote it)."""
    export, written = export_files(plan, options)
    try:
        write_bundle(written, out, writer="export k8s", force=force)
    except RenderError as exc:
        raise ExportError(str(exc).replace("--output", "-o/--output")) from None
    return export, sorted(written)


__all__ = ["KUBERNETES_VERSION", "ExportOptions", "export_files", "make_options", "objects", "write"]
