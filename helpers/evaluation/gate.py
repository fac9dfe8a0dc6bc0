"""The golden-set regression gate: may this adapter replace what we have?

Introduced in ``04_evaluation.ipynb``; also ``python -m helpers gate --run DIR`` (exit 0 pass,
1 fail, 2 unusable run folder) so CI can block a bad adapter.

Which metrics count: every metric in the adapter's ``golden`` metrics (``adapter/metrics.json``)
that the comparison point also has and whose two values are numbers in [0, 1] - the quality
metrics, including per-field ``field_accuracy.<field>``. Speed (latency, tokens/s, cost) lives
under ``speed`` and never counts. All quality metrics are "higher is better".

The gate fails when, on ANY counted metric, the adapter is more than ``tolerance`` below

1. this run's prompting baseline (``baseline/metrics.json``), or
2. the best earlier finished run of the same task and profile under the runs folder: the
   other run whose adapter golden primary metric is highest among those that finished before
   this one (finish time = modification time of its ``adapter/metrics.json``, or of its
   ``summary.json`` when only that exists). Its golden metrics come from
   ``adapter/metrics.json``, else ``summary.json``'s ``finetuned.golden``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.evaluation.compare import load_stage, numeric_metrics
from helpers.core.errors import SettingsError
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


def check_gate(run_dir: str | Path, tolerance: float = DEFAULT_TOLERANCE, runs_root: str | Path | None = None) -> GateResult:
    """Does the adapter hold up on the golden set? See the module docstring for the rules (04_evaluation).

    Raises :class:`SettingsError` (naming the notebook to run) when the run folder lacks the
    baseline or adapter metrics.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise SettingsError(f"run folder {run} does not exist: pass a folder under {runs_dir()}")
    if tolerance < 0:
        raise SettingsError(f"tolerance {tolerance} is negative: use a small positive number such as 0.02")
    base = numeric_metrics(load_stage(run, "baseline")["golden"], unit_interval=True)
    adapter_metrics = load_stage(run, "adapter")
    adapter = numeric_metrics(adapter_metrics["golden"], unit_interval=True)
    if not adapter:
        raise SettingsError(f"{run / 'adapter' / 'metrics.json'} has no golden quality metrics: run notebooks/03_qlora_training.ipynb again")
    earlier = best_earlier_run(run, runs_root)
    earlier_name, earlier_golden = (earlier[0], earlier[1]) if earlier else (None, {})
    primary = adapter_metrics.get("primary_metric")
    order = [primary] + [m for m in adapter if m != primary] if primary in adapter else list(adapter)

    table: list[dict[str, Any]] = []
    failures: list[str] = []
    for metric in order:
        a = adapter[metric]
        row: dict[str, Any] = {"metric": metric, "adapter": a, "baseline": base.get(metric),
                               "best_earlier": earlier_golden.get(metric), "ok": True}
        for label, ref in (("baseline", base.get(metric)), (f"best earlier run {earlier_name}", earlier_golden.get(metric))):
            if ref is None:
                continue
            if a < ref - tolerance - 1e-12:
                row["ok"] = False
                failures.append(
                    f"golden {metric} fell from {ref:.3f} ({label}) to {a:.3f} (adapter), "
                    f"a drop of {ref - a:.3f} > tolerance {tolerance:.3f}"
                )
        if row["baseline"] is not None or row["best_earlier"] is not None:
            table.append(row)
    if not table:
        raise SettingsError("the baseline and adapter share no golden metric: run notebooks 02 and 03 with the same task")
    compared = "the baseline" + (f" and the best earlier run {earlier_name}" if earlier_name else " (no earlier finished run of this task and profile)")
    if failures:
        return GateResult(False, failures, table, tolerance, earlier_name)
    head = table[0]
    reasons = [f"no golden metric fell more than {tolerance:.3f} below {compared}; {len(table)} metric(s) checked",
               f"golden {head['metric']}: adapter {head['adapter']:.3f}, baseline "
               + (f"{head['baseline']:.3f}" if head["baseline"] is not None else "n/a")]
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
