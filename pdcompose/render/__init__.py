"""Plan -> files: one Compose file per host through the Jinja2 templates, plus plan.json."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pdcompose import __version__
from pdcompose.errors import RenderError
from pdcompose.plan.definition import definitions
from pdcompose.plan.firewall import rulesets
from pdcompose.plan.models import Plan
from pdcompose.render.quoting import q, seconds
from pdcompose.render.writer import write_bundle

TEMPLATE = "compose.yaml.j2"


def default_templates() -> Path:
    """Inside an installed wheel the templates are package data; in a checkout they sit at the top."""
    packaged = Path(str(resources.files("pdcompose"))) / "compose_templates"
    if (packaged / TEMPLATE).is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "compose_templates"


def render_files(plan: Plan, templates: Path | None = None) -> dict[str, bytes]:
    import jinja2

    folder = templates or default_templates()
    if not (folder / TEMPLATE).is_file():
        raise RenderError(f"{folder} has no {TEMPLATE} (start from a copy of {default_templates()}, the templates "
                          "this installation renders with)")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(q=q, seconds=seconds)
    try:
        template = env.get_template(TEMPLATE)
        files = {f"{host.name}/compose.yaml": template.render(plan=plan, host=host, version=__version__,
                                                                      definitions=definitions(host)).encode()
                 for host in plan.hosts}
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {folder / TEMPLATE}: {exc}") from None
    for host in plan.hosts:  # monitoring's files, also readable beside the Compose file (promtool checks them)
        for cfg in host.configs:
            files[f"{host.name}/{cfg.service}/{cfg.target.removeprefix('/etc/pdcompose/')}"] = cfg.content.encode()
    files.update(_grafana(plan))
    files.update({f"{name}/firewall.nft": text.encode() for name, text in rulesets(plan).items()})
    files["plan.json"] = (plan.model_dump_json(indent=2) + "\n").encode()
    return files


def _grafana(plan: Plan) -> dict[str, bytes]:
    """With monitoring: a Grafana dashboard for its Prometheus and the provisioning files to load it, beside
    the monitoring host's Compose file (for a Grafana the user runs; pdcompose does not start one)."""
    from pdcompose.render.grafana import dashboard_json, provisioning

    for host, c in plan.containers("monitoring"):
        folder = f"{host.name}/grafana"
        out = {f"{folder}/dashboards/pdcompose-{plan.cluster}.json": dashboard_json(plan).encode()}
        out.update({f"{folder}/provisioning/{name}": text.encode() for name, text in provisioning(plan, c.url).items()})
        return out
    return {}


def render(plan: Plan, out: Path, templates: Path | None = None,
           verify: Callable[[Path], None] | None = None, force: bool = False) -> list[str]:
    files = render_files(plan, templates)
    write_bundle(files, out, verify, writer="render --rehearsal" if plan.rehearsal else "render", force=force)
    return sorted(files)


__all__ = ["default_templates", "render", "render_files"]
