"""Figures a test run proves (cases tried, mutations run, faults survived), printed at the end of the
run by tests/conftest.py. A test adds its line only after its assertions held."""

LINES: list[str] = []
