"""The proofs: fixtures, the full-run switch, and the figures summary at the end of the run."""

from __future__ import annotations

import pytest

from tests.proofs.common import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("proof figures (how hard the proofs tried)")
    for section in sorted(FIGURES):
        values = ", ".join(f"{k}={v}" for k, v in sorted(FIGURES[section].items()))
        terminalreporter.write_line(f"{section}: {values}")
