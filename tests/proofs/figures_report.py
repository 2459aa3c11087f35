"""A pytest plugin (registered in tests/conftest.py): the proofs' figures summary at the end of a run.

A proof's figures are recorded in the process that ran it, a pytest-xdist worker as often as
not: they ride on the test's report (`user_properties`) to the controller, which prints them.
The controller collects no tests, so it would never load a conftest.py in tests/proofs/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proofs.common import take_figures

_PROPERTY = "tillit-proof-figures"
_REPORTED: dict[str, dict[str, Any]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if call.when == "teardown":
        taken = take_figures()
        if taken:
            outcome.get_result().user_properties.append((_PROPERTY, json.dumps(taken)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == _PROPERTY:
            for section, values in json.loads(str(value)).items():
                _REPORTED.setdefault(section, {}).update(values)


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("TILLIT_FIGURES_OUT")
    if out and _REPORTED and not hasattr(session.config, "workerinput"):
        Path(out).write_text(json.dumps(_REPORTED, indent=2, sort_keys=True))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REPORTED:
        return
    terminalreporter.section("proof figures (how hard the proofs tried)")
    for section in sorted(_REPORTED):
        values = ", ".join(f"{k}={v}" for k, v in sorted(_REPORTED[section].items()))
        terminalreporter.write_line(f"{section}: {values}")
