"""From findings to a cleaned copy: one decision per check, applied, logged and written anew.

Introduced in ``01_data_quality.ipynb``. A decision is ``{"check", "rows", "action":
"keep"|"drop"|"fix", "fixes": {line: output}}``; :func:`write_cleaned` writes the surviving rows,
the decision log and a summary to ``runs/<run-id>/quality/``. The source file is never written.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.core.errors import DataError
from helpers.core.runs import write_json, write_jsonl
from helpers.data.quality.checks import run_checks
from helpers.data.quality.findings import QualityReport

DEFAULT_ACTIONS = {
    "malformed_row": "drop", "missing_field": "drop", "empty_output": "drop",
    "exact_duplicate": "drop", "near_duplicate": "drop", "conflicting_label": "drop",
    "inconsistent_format": "fix", "invalid_json_output": "drop", "train_eval_leak": "drop",
    "pii": "drop", "too_long": "drop", "distribution_shift": "keep",
}
ACTIONS = ("keep", "drop", "fix")


def default_decisions(report: QualityReport) -> list[dict[str, Any]]:
    """One decision per finding: drop what cannot be trusted, fix formats, keep drift (01_data_quality).

    Each decision is ``{"check", "rows", "action": "keep"|"drop"|"fix", "fixes": {line: output}}``;
    a fix is a corrected output string, or ``{"input": ..., "output": ...}``.
    """
    out = []
    for f in report.findings:
        action = DEFAULT_ACTIONS.get(f.check, "keep")
        fixes = dict(f.extra.get("fixes", {})) if action == "fix" else {}
        out.append({"check": f.check, "rows": list(f.rows), "action": action, "fixes": fixes})
    return out


def _row_actions(decisions: Sequence[dict[str, Any]]) -> dict[int, tuple[str, str, Any]]:
    """line -> (action, check, fix); drop beats fix beats keep when checks disagree."""
    rank = {"keep": 0, "fix": 1, "drop": 2}
    out: dict[int, tuple[str, str, Any]] = {}
    for d in decisions:
        action = d.get("action", "keep")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} for {d.get('check')}: use keep, drop or fix")
        fixes = {int(k): v for k, v in (d.get("fixes") or {}).items()}
        for line in d.get("rows", []):
            a = action
            if a == "fix" and line not in fixes:
                a = "keep"  # nothing to apply
            prev = out.get(line)
            if prev is None or rank[a] > rank[prev[0]]:
                out[line] = (a, d["check"], fixes.get(line))
    return out


def apply_decisions(rows: Sequence[dict[str, Any]], decisions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that survive the decisions, with fixes applied; inputs are not changed (01_data_quality)."""
    actions = _row_actions(decisions)
    out = []
    for r in rows:
        action, _, fix = actions.get(r["line"], ("keep", "", None))
        if action == "drop":
            continue
        new = dict(r)
        if action == "fix":
            if isinstance(fix, dict):
                new.update({k: v for k, v in fix.items() if k in ("input", "output")})
            else:
                new["output"] = str(fix)
        out.append(new)
    return out


def decision_log(rows: Sequence[dict[str, Any]], decisions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per row that a decision touched: line, id, check, action, old and new output (01)."""
    by_line = {r["line"]: r for r in rows}
    log = []
    for line, (action, check, fix) in sorted(_row_actions(decisions).items()):
        r = by_line.get(line)
        entry = {"line": line, "id": r["id"] if r else None, "check": check, "action": action}
        if action == "fix" and r is not None:
            entry["old_output"] = r["output"]
            entry["new_output"] = fix["output"] if isinstance(fix, dict) else fix
        log.append(entry)
    return log


def _export_row(r: dict[str, Any]) -> dict[str, Any]:
    out = {"id": r["id"], "input": r["input"], "output": r["output"]}
    if r.get("task"):
        out["task"] = r["task"]
    if r.get("meta"):
        out["meta"] = r["meta"]
    return out


def write_cleaned(
    rows: Sequence[dict[str, Any]],
    decisions: Sequence[dict[str, Any]],
    run_dir: str | Path,
    source: str | Path | None = None,
    name: str = "cleaned_train.jsonl",
) -> dict[str, Path]:
    """Write the cleaned rows, the decision log and a summary to ``run_dir/quality/`` (01_data_quality).

    ``run_dir`` is the run folder (the notebooks' ``current_run(profile.name)``). Always a NEW
    file: the source is only read (to record its hash). Returns the three paths.
    """
    folder = Path(run_dir) / "quality"
    if source is not None and (folder / name).resolve() == Path(source).resolve():
        raise DataError(f"refusing to overwrite the source file {source}: choose another name")
    cleaned = apply_decisions(rows, decisions)
    log = decision_log(rows, decisions)
    data_path = write_jsonl(folder / name, [_export_row(r) for r in cleaned])
    log_path = write_jsonl(folder / "decisions.jsonl", log)
    summary = {
        "source": str(source) if source else None,
        "source_sha256": hashlib.sha256(Path(source).read_bytes()).hexdigest() if source and Path(source).is_file() else None,
        "rows_in": len(rows),
        "rows_out": len(cleaned),
        "actions": dict(Counter(e["action"] for e in log)),
        "by_check": {d["check"]: {"action": d["action"], "rows": len(d.get("rows", []))} for d in decisions},
        "cleaned": str(data_path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    summary_path = write_json(folder / "summary.json", summary)
    return {"cleaned": data_path, "log": log_path, "summary": summary_path}


def clean_file(path: str | Path, eval_path: str | Path | None = None, *, run_dir: str | Path, profile: Profile,
               decisions: Sequence[dict[str, Any]] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Check a file, apply (default) decisions and write the cleaned copy: the no-UI path (01).

    ``profile`` and ``kwargs`` go to :func:`run_checks`, ``run_dir`` to :func:`write_cleaned`.
    Returns ``{"report", "decisions", "paths"}``.
    """
    report = run_checks(path, eval_path=eval_path, profile=profile, **kwargs)
    decisions = list(decisions) if decisions is not None else default_decisions(report)
    paths = write_cleaned(report.rows, decisions, run_dir=run_dir, source=path)
    return {"report": report, "decisions": decisions, "paths": paths}
