"""`pdcompose doctor`: is every host ready for its part of the plan? Checked through its Docker context."""

from pdcompose.doctor.model import CHECKS, FAST, CheckResult
from pdcompose.doctor.runner import fast_checks, require_fast_checks, run_doctor

__all__ = ["CHECKS", "FAST", "CheckResult", "fast_checks", "require_fast_checks", "run_doctor"]
