"""doctor's `firewall` check (only for a plan with `firewall: {enabled: true}`): the host's live nftables
table against the plan's rules, by meaning (plan/firewall.drift). A missing table is a warning, not a
failure: the firewall is optional and applied only by `pdcompose firewall apply`."""

from __future__ import annotations

from pdcompose.doctor.model import CheckResult, passed, skipped, warned
from pdcompose.errors import PdcomposeError
from pdcompose.plan.firewall import drift, table_name
from pdcompose.plan.models import Host, Plan

CHECK = "firewall"


def firewall_check(plan: Plan, host: Host) -> CheckResult:
    from pdcompose.engine import firewall

    if host.address.startswith("127."):
        return skipped(host.name, CHECK, "a loopback rehearsal's hosts are this machine: no firewall there")
    try:
        problems = drift(plan, host, firewall.live(host, table_name(plan)))
    except PdcomposeError as exc:
        return warned(host.name, CHECK, f"cannot read the rules: {str(exc).removeprefix(f'{host.name}: ')}",
                      "images/build.sh firewall, and load pdcompose/firewall on the host")
    if problems:
        return warned(host.name, CHECK, "; ".join(problems), "pdcompose firewall apply")
    return passed(host.name, CHECK, f"table inet {table_name(plan)} as planned")
