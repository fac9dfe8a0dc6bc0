"""Where the time goes: `.ci/run`, nbval, the browser test and `make course`, against the time budget.

Reads what the runs themselves recorded (no timing of its own, so it measures exactly what CI and a
learner run):
- `--ci-log`: the output of `.ci/run` (its "ci: make test took N s" / "make browser took N s" lines,
  the nbval table of `tests/nbval_timing.py` and the browser test's "NN_name.ipynb: N s" lines);
- `--nbval`: `test-artifacts/nbval_seconds.json` (seconds per notebook and per cell);
- `--course`: a `make course` run folder (`runs/<id>/timing.json`, written by `helpers.course`).
Prints a table and writes JSON (`--out`), with the commit, the machine and whether the caches were
cold, so a figure is never quoted without its conditions.

    python benchmarks/time_budget.py --label cold --ci-log /tmp/ci.log --nbval test-artifacts/nbval_seconds.json \
        --course runs/<id> --out benchmarks/results/time_budget_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

# The budget of the time-budget issue, in seconds, on the 2-core CI machine from a cold start.
TARGETS_S = {"ci_run": 25 * 60, "nbval": 8 * 60, "browser": 8 * 60, "course_cpu": 30 * 60}


def parse_ci_log(text: str) -> dict[str, Any]:
    """Seconds of `make test` and `make browser`, and the browser test's seconds per notebook."""
    out: dict[str, Any] = {}
    for step in ("test", "browser"):
        m = re.search(rf"ci: make {step} took (\d+) s", text)
        if m:
            out[f"make_{step}_s"] = int(m.group(1))
    browser = dict(re.findall(r"^(\d\d_[\w.-]+\.ipynb): (\d+) s$", text, flags=re.M))
    if browser:
        out["browser_notebooks_s"] = {k: int(v) for k, v in browser.items()}
    m = re.search(r"(\d+) passed(?:, (\d+) skipped)?.* in ([\d.]+)s", text)
    if m:
        out["first_pytest_summary"] = m.group(0)
    return out


def _slowest(cells: dict[str, list[float]], n: int = 8) -> list[dict[str, Any]]:
    flat = [(s, name, i) for name, secs in cells.items() for i, s in enumerate(secs)]
    return [{"notebook": name, "code_cell": i, "seconds": s} for s, name, i in sorted(flat, reverse=True)[:n]]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def budget(ci_log: Path | None, nbval: Path | None, course: Path | None, label: str) -> dict[str, Any]:
    """Everything known about the run(s), with each total checked against its target."""
    res: dict[str, Any] = {"label": label, "commit": _commit(), "machine": {
        "cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_at_report": os.getloadavg()}}
    checks = {}
    if ci_log:
        ci = parse_ci_log(ci_log.read_text(errors="replace"))
        res["ci"] = ci
        if "make_test_s" in ci and "make_browser_s" in ci:
            checks["ci_run"] = ci["make_test_s"] + ci["make_browser_s"]
        if "browser_notebooks_s" in ci:
            checks["browser"] = ci.get("make_browser_s", sum(ci["browser_notebooks_s"].values()))
    if nbval:
        data = json.loads(nbval.read_text())
        res["nbval"] = {"notebooks": data["notebooks"], "slowest_cells": _slowest(data["cells"])}
        checks["nbval"] = round(sum(data["notebooks"].values()), 1)
    if course:
        data = json.loads((course / "timing.json").read_text())
        res["course"] = {"run": course.name, "notebooks": data["notebooks"], "slowest_cells": _slowest(data["cells"])}
        checks["course_cpu"] = round(sum(data["notebooks"].values()), 1)
    res["against_targets"] = {k: {"seconds": v, "target_s": TARGETS_S[k], "within": v <= TARGETS_S[k]}
                              for k, v in checks.items()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ci-log", type=Path)
    ap.add_argument("--nbval", type=Path)
    ap.add_argument("--course", type=Path)
    ap.add_argument("--label", required=True, help="cold or warm (and anything else that matters: load)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    res = budget(args.ci_log, args.nbval, args.course, args.label)
    for part in ("nbval", "course"):
        if part in res:
            print(f"{part}:")
            for name, s in res[part]["notebooks"].items():
                print(f"  {s:8.1f} s  {name}")
    if "browser_notebooks_s" in res.get("ci", {}):
        print("browser:")
        for name, s in res["ci"]["browser_notebooks_s"].items():
            print(f"  {s:8.1f} s  {name}")
    for k, v in res["against_targets"].items():
        print(f"{k}: {v['seconds']:.0f} s (target {v['target_s']} s) {'within' if v['within'] else 'OVER'}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
