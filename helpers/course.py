"""``make course``: run every notebook in order, headless, and write the run's summary.

Introduced in ``README.md`` (the main command). Each notebook runs in a fresh kernel with the
same ``COURSE_PROFILE`` and ``COURSE_RUN_ID``, so they share one ``runs/<run-id>/`` folder.
Executed copies (with outputs) go to ``executed/<run-id>/``; the notebooks in ``notebooks/``
stay clean. Notebooks added later join automatically: every ``NN_*.ipynb`` runs in order.
Seconds per notebook go into ``summary.json``; seconds per cell (from the execution times nbclient
records in each executed copy) into ``runs/<run-id>/timing.json``, the shape of nbval's
``test-artifacts/nbval_seconds.json`` (``benchmarks/time_budget.py`` reads both).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from helpers.core.config import load_profile
from helpers.core.errors import USER_ERRORS
from helpers.core.paths import course_home
from helpers.core.runs import new_run, write_json
from helpers.data.task_spec import load_task, task_dir
from helpers.evaluation.summary import write_summary

CELL_TIMEOUT_S = 3 * 3600
TIMING_FILE = "timing.json"  # in the run folder: {"notebooks": {name: s}, "cells": {name: [s, ...]}}


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The course notebooks in order: every ``NN_*.ipynb`` in ``notebooks/`` (README)."""
    folder = folder or course_home() / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(path: Path, out_path: Path, timeout: int = CELL_TIMEOUT_S) -> float:
    """Run one notebook in a fresh kernel, save the executed copy, return seconds (README).

    On a failing cell the partly executed copy is still saved, then the error is re-raised.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(out_path))
    return time.perf_counter() - start


def cell_seconds(nb: Any) -> list[float]:
    """Seconds of each executed code cell, in order, from nbclient's execution timestamps (README).

    A cell without timestamps (not reached, e.g. after a failing cell) is left out.
    """
    from datetime import datetime

    out = []
    for cell in nb.cells:
        times = cell.get("metadata", {}).get("execution", {})
        start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
        if cell.get("cell_type") == "code" and start and end:
            delta = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
            out.append(round(delta.total_seconds(), 2))
    return out


def write_timing(run: Path, executed: Path, seconds: dict[str, float]) -> Path:
    """``timing.json`` of a course run: seconds per notebook and per cell of its executed copies (README)."""
    import nbformat

    cells = {name: cell_seconds(nbformat.read(str(executed / name), as_version=4))
             for name in seconds if (executed / name).exists()}
    path = Path(run) / TIMING_FILE
    write_json(path, {"notebooks": seconds, "cells": cells})
    return path


def run_course(profile_name: str | None = None, out: Path | None = None, only: list[str] | None = None,
               task: str | Path | None = None) -> Path:
    """Execute the notebooks in order on ``task`` (the task in force if None), write ``summary.json`` (README).

    Returns the run folder. The task's folder goes to every notebook's kernel as ``COURSE_TASK``
    (an absolute path), so all of them read the same data.
    """
    profile = load_profile(profile_name)
    folder = task_dir(task)
    load_task(folder)  # a folder without a usable task.json stops here, before any notebook runs
    os.environ["COURSE_TASK"] = str(folder)
    run = new_run(profile.name, folder)
    os.environ["COURSE_PROFILE"] = profile.name
    os.environ["COURSE_RUN_ID"] = run.name
    out = out or course_home() / "executed" / run.name
    seconds: dict[str, float] = {}
    paths = [p for p in notebook_paths() if not only or p.name in only]
    print(f"course: profile {profile.name}, task {folder}, run {run}, {len(paths)} notebooks", flush=True)
    for i, nb in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {nb.name} ...", flush=True)
        try:
            seconds[nb.name] = round(execute_notebook(nb, out / nb.name), 1)
        except Exception as exc:  # noqa: BLE001 - report which notebook failed, keep the partial copy
            write_summary(run, seconds)
            write_timing(run, out, seconds)
            raise RuntimeError(
                f"{nb.name} failed ({type(exc).__name__}); the executed copy with the error is "
                f"{out / nb.name}"
            ) from exc
        print(f"[{i}/{len(paths)}] {nb.name} done in {seconds[nb.name]:.0f} s", flush=True)
    path = write_summary(run, seconds)
    write_timing(run, out, seconds)
    md = path.with_name("summary.md")
    print(md.read_text(encoding="utf-8") if md.exists() else path.read_text(encoding="utf-8"))
    print(f"course: summary written to {path}")
    return run


def cli_course(args: argparse.Namespace) -> int:
    """``python -m helpers course [--profile P] [--out DIR] [--only NB ...]`` (README)."""
    try:
        run_course(args.profile, Path(args.out) if args.out else None, args.only, getattr(args, "task", None))
    except USER_ERRORS as exc:  # an unknown task folder, a bad task.json: one sentence
        print(f"course: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a notebook failed: say which, point at the executed copy
        print(f"course: {exc}", file=sys.stderr)
        return 1
    return 0
