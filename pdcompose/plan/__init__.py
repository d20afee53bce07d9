"""Plan: pure derivation from a resolved topology. Ranks, addresses, ports, argv and env live here."""

from pdcompose.plan.builder import build_plan, fingerprint
from pdcompose.plan.models import Container, Host, Plan

__all__ = ["Container", "Host", "Plan", "build_plan", "fingerprint"]
