"""The golden-set regression gate: did anything we already had get worse, beyond noise?

Introduced in ``04_evaluation.ipynb``; also ``python -m helpers gate --run DIR`` (exit 0 pass,
1 fail, 2 unusable run folder) so CI can block a bad adapter.

Which metrics count: every golden quality metric the task computes per row (the 0-1 metrics,
per-field ``field_accuracy.<field>`` included). Speed (latency, tokens/s, cost) never counts.

Each metric is compared **per row** with the adapter's own golden predictions (a paired
bootstrap, :mod:`helpers.evaluation.decision`) against

1. this run's prompting baseline (``baseline/predictions_golden.jsonl``), and
2. the best earlier finished run of the same task and profile under the runs folder: the
   other run whose adapter golden primary metric is highest among those that finished before
   this one (finish time = modification time of its ``adapter/metrics.json``, or of its
   ``summary.json`` when only that exists). It is compared on the golden rows both runs
   scored (``adapter/predictions_golden.jsonl``); an earlier run without predictions is named
   but cannot be compared row by row.

The gate **fails** on a metric only when the whole 95% interval of the difference lies more
than ``tolerance`` below zero: a regression the data shows, not one row of noise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import DataError, SettingsError
from helpers.evaluation.compare import load_predictions, load_stage, numeric_metrics, run_task
from helpers.evaluation.decision import aligned_predictions, paired_differences
from helpers.core.paths import runs_dir
from helpers.core.runs import read_json

DEFAULT_TOLERANCE = 0.02


@dataclass
class GateResult:
    """The gate's verdict, one sentence per reason and the metric-by-metric table (04_evaluation)."""

    passed: bool
    reasons: list[str]
    table: list[dict[str, Any]] = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE
    earlier_run: str | None = None

    def frame(self) -> Any:
        """The table as a pandas DataFrame, for the notebook (04_evaluation)."""
        import pandas as pd

        return pd.DataFrame(self.table)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (04_evaluation)."""
        return asdict(self)


def _run_identity(run: Path) -> tuple[str | None, str | None]:
    """(profile, task) of a run folder from run.json, else summary.json."""
    for name in ("run.json", "summary.json"):
        path = run / name
        if path.exists():
            try:
                info = read_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(info, dict) and info.get("profile"):
                return info.get("profile"), info.get("task")
    return None, None


def _finished_golden(run: Path) -> tuple[dict[str, float], str | None, float] | None:
    """(golden metrics, primary metric, finish time) of a finished run, or None."""
    metrics_path = run / "adapter" / "metrics.json"
    if metrics_path.exists():
        try:
            m = read_json(metrics_path)
            if isinstance(m, dict) and isinstance(m.get("golden"), dict):
                return numeric_metrics(m["golden"], unit_interval=True), m.get("primary_metric"), metrics_path.stat().st_mtime
        except (OSError, ValueError):
            pass
    summary_path = run / "summary.json"
    if summary_path.exists():
        try:
            s = read_json(summary_path)
            golden = s["finetuned"]["golden"]
            if isinstance(golden, dict):
                return numeric_metrics(golden, unit_interval=True), s.get("primary_metric"), summary_path.stat().st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return None


def best_earlier_run(run_dir: str | Path, runs_root: str | Path | None = None) -> tuple[str, dict[str, float]] | None:
    """The best earlier finished run of the same task and profile: (run id, golden metrics) (04_evaluation)."""
    run = Path(run_dir).resolve()
    root = Path(runs_root) if runs_root is not None else runs_dir()
    profile, task = _run_identity(run)
    mine = _finished_golden(run)
    if mine is None or profile is None:
        return None
    _, primary, finished_at = mine
    best: tuple[float, float, str, dict[str, float]] | None = None
    for other in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
        if other.resolve() == run or _run_identity(other) != (profile, task):
            continue
        theirs = _finished_golden(other)
        if theirs is None or theirs[2] >= finished_at:
            continue
        golden = theirs[0]
        key = golden.get(primary or "", -1.0)
        if best is None or (key, theirs[2]) > (best[0], best[1]):
            best = (key, theirs[2], other.name, golden)
    return (best[2], best[3]) if best else None


def _earlier_predictions(root: Path, name: str | None) -> list[dict[str, Any]] | None:
    """The earlier run's adapter golden predictions, or None when it kept none."""
    if name is None or not (root / name / "adapter" / "predictions_golden.jsonl").exists():
        return None
    return load_predictions(root / name, "adapter", "golden")


def check_gate(run_dir: str | Path, tolerance: float = DEFAULT_TOLERANCE, runs_root: str | Path | None = None) -> GateResult:
    """Does the adapter hold up on the golden set, row by row? See the module docstring (04_evaluation).

    Raises :class:`SettingsError` (naming the notebook to run) when the run folder lacks the
    baseline or adapter results.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise SettingsError(f"run folder {run} does not exist: pass a folder under {runs_dir()}")
    if tolerance < 0:
        raise SettingsError(f"tolerance {tolerance} is negative: use a small positive number such as 0.02")
    load_stage(run, "baseline")
    adapter_metrics = load_stage(run, "adapter")
    task = run_task(run)
    wanted = list(numeric_metrics(adapter_metrics["golden"], unit_interval=True))
    if not wanted:
        raise SettingsError(f"{run / 'adapter' / 'metrics.json'} has no golden quality metrics: run notebooks/03_qlora_training.ipynb again")
    adapter_preds = load_predictions(run, "adapter", "golden")
    base, fin, refs = aligned_predictions(load_predictions(run, "baseline", "golden"), adapter_preds, "baseline and adapter")
    vs_base = paired_differences(task, base, fin, refs)
    root = Path(runs_root) if runs_root is not None else runs_dir()
    earlier = best_earlier_run(run, root)
    earlier_name = earlier[0] if earlier else None
    vs_earlier: dict[str, Any] = {}
    notes: list[str] = []
    earlier_rows = _earlier_predictions(root, earlier_name)
    if earlier_name and earlier_rows is None:
        notes.append(f"best earlier run {earlier_name} kept no golden predictions: not compared row by row")
    elif earlier_rows is not None:
        try:
            old, new, refs2 = aligned_predictions(earlier_rows, adapter_preds, f"run {earlier_name} and this run")
            vs_earlier = paired_differences(task, old, new, refs2)
        except DataError as exc:
            notes.append(f"best earlier run {earlier_name} not compared: {exc}")
    primary = adapter_metrics.get("primary_metric")
    metrics = [m for m in wanted if m in vs_base]
    order = ([primary] if primary in metrics else []) + [m for m in metrics if m != primary]

    table: list[dict[str, Any]] = []
    failures: list[str] = []
    for metric in order:
        d = vs_base[metric]
        row: dict[str, Any] = {"metric": metric, "adapter": d.finetuned, "baseline": d.baseline,
                               "diff": d.diff, "ci_low": d.ci95[0], "ci_high": d.ci95[1], "ok": True}
        checks = [("baseline", d)]
        if metric in vs_earlier:
            e = vs_earlier[metric]
            row.update({"best_earlier": e.baseline, "diff_vs_earlier": e.diff,
                        "earlier_ci_low": e.ci95[0], "earlier_ci_high": e.ci95[1]})
            checks.append((f"best earlier run {earlier_name}", e))
        for label, diff in checks:
            if diff.ci95[1] < -tolerance - 1e-12:
                row["ok"] = False
                failures.append(
                    f"golden {metric}: adapter {diff.finetuned:.3f} vs {diff.baseline:.3f} ({label}), "
                    f"difference {diff.diff:+.3f}, 95% interval [{diff.ci95[0]:+.3f}, {diff.ci95[1]:+.3f}] "
                    f"lies wholly below -{tolerance:.3f}"
                )
        table.append(row)
    if not table:
        raise SettingsError("the baseline and adapter share no golden metric: run notebooks 02 and 03 with the same task")
    compared = "the baseline" + (f" and the best earlier run {earlier_name}" if vs_earlier
                                 else " (no earlier finished run of this task and profile to compare row by row)")
    if failures:
        return GateResult(False, failures + notes, table, tolerance, earlier_name)
    head = table[0]
    reasons = [f"no golden metric shows a drop beyond {tolerance:.3f} against {compared}: "
               f"{len(table)} metric(s), {vs_base[head['metric']].n} paired rows",
               f"golden {head['metric']}: adapter {head['adapter']:.3f}, baseline {head['baseline']:.3f}, "
               f"difference {head['diff']:+.3f} [{head['ci_low']:+.3f}, {head['ci_high']:+.3f}]"] + notes
    return GateResult(True, reasons, table, tolerance, earlier_name)


def _resolve_run(arg: str) -> Path:
    path = Path(arg).expanduser()
    if path.is_dir():
        return path
    candidate = runs_dir() / arg
    if candidate.is_dir():
        return candidate
    raise SettingsError(f"run folder {arg} does not exist: pass a folder such as {runs_dir()}/<run-id>")


def cli_gate(args: Any) -> int:
    """``python -m helpers gate --run DIR [--tolerance T] [--json]``: 0 pass, 1 fail, 2 unusable (04_evaluation)."""
    tolerance = DEFAULT_TOLERANCE if getattr(args, "tolerance", None) is None else float(args.tolerance)
    result = check_gate(_resolve_run(args.run), tolerance=tolerance)
    if getattr(args, "json", False):
        print(json.dumps(result.to_dict()))
    else:
        print("PASS" if result.passed else "FAIL", f"(tolerance {tolerance:.3f})")
        for reason in result.reasons:
            print(f"  - {reason}")
    return 0 if result.passed else 1
