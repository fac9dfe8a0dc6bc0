"""A pytest plugin for the nbval run: seconds per notebook, printed in the log and saved as JSON.

Loaded by ``make notebooks`` (``-p nbval_timing`` with ``tests/`` on ``PYTHONPATH``), so every CI
run shows which notebook got slower. The JSON goes to ``test-artifacts/nbval_seconds.json``:
``{"notebooks": {file name: seconds}, "cells": {file name: [seconds per cell, in order]}}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

_CELLS: dict[str, list[float]] = defaultdict(list)


def pytest_runtest_logreport(report: Any) -> None:
    """Add each cell's setup + call + teardown time to its notebook."""
    path = report.nodeid.split("::", 1)[0]
    if not path.endswith(".ipynb"):
        return
    name = Path(path).name
    if report.when == "call":
        _CELLS[name].append(round(report.duration, 2))
    elif _CELLS[name]:
        _CELLS[name][-1] = round(_CELLS[name][-1] + report.duration, 2)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A table of seconds per notebook at the end of the run, and the JSON beside the screenshots."""
    if not _CELLS:
        return
    totals = {name: round(sum(cells), 1) for name, cells in sorted(_CELLS.items())}
    terminalreporter.section("seconds per notebook (nbval, this machine)")
    for name, seconds in totals.items():
        slowest = max(_CELLS[name])
        terminalreporter.write_line(f"{seconds:8.1f} s  {name}  ({len(_CELLS[name])} cells, slowest {slowest:.1f} s)")
    terminalreporter.write_line(f"{sum(totals.values()):8.1f} s  total")
    out = Path("test-artifacts") / "nbval_seconds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"notebooks": totals, "cells": dict(_CELLS)}, indent=1) + "\n", encoding="utf-8")
