"""Go / no-go from paired rows: the adapter ships only when the interval says it is better.

Introduced in ``04_evaluation.ipynb``. Baseline and adapter answered the *same* golden rows, so
the honest comparison is per row: resample the rows, score both stages on each resample, keep
the difference (adapter minus baseline). The rule, in one sentence (:data:`DECISION_RULE`):

**GO** only when the whole 95% interval of the paired difference lies above zero and the
regression gate passes; **NO-GO** when the interval lies below zero or the gate shows a
regression; otherwise **NOT SHOWN**: the data cannot tell them apart, so keep the prompt (it is
cheaper to run and to change) or collect more golden rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from helpers.core.errors import DataError, SettingsError
from helpers.evaluation.compare import load_predictions, run_task
from helpers.evaluation.intervals import DEFAULT_RESAMPLES, resample_interval
from helpers.evaluation.metrics import aggregate, primary_metric, row_stats

VERDICTS = ("GO", "NO-GO", "NOT SHOWN")
DECISION_RULE = (
    "GO only when the 95% bootstrap interval of the paired golden difference (adapter minus "
    "baseline, same rows) lies above zero and the regression gate passes; NO-GO when it lies below "
    "zero or the gate shows a regression; otherwise NOT SHOWN (keep the prompt, or add golden rows)."
)


@dataclass(frozen=True)
class PairedDifference:
    """One metric of two systems on the same rows: both scores, the difference and its interval (04)."""

    metric: str
    split: str
    baseline: float
    finetuned: float
    diff: float
    ci95: tuple[float, float]
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy; ``ci95`` as a list (04_evaluation)."""
        out = asdict(self)
        out["ci95"] = [float(self.ci95[0]), float(self.ci95[1])]
        return out


def paired_differences(
    task: str,
    baseline: Sequence[str],
    finetuned: Sequence[str],
    references: Sequence[str],
    metrics: Sequence[str] | None = None,
    split: str = "golden",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, PairedDifference]:
    """Paired bootstrap of ``metric(finetuned) - metric(baseline)`` for several metrics (04_evaluation).

    Both prediction lists are aligned with ``references`` (same rows, same order). ``metrics``
    defaults to every metric of the task. Metrics that are not means of rows (``macro_f1``,
    ``field_f1``) are recomputed from their counts on every resample.
    """
    if not (len(baseline) == len(finetuned) == len(references)):
        raise DataError(
            f"paired comparison needs the same rows: {len(baseline)} baseline, {len(finetuned)} "
            f"adapter and {len(references)} reference rows; score both stages on the same split"
        )
    a = row_stats(task, list(baseline), list(references), semantic=False)
    b = row_stats(task, list(finetuned), list(references), semantic=False)
    unknown = [m for m in (metrics or []) if m not in a]
    if unknown:
        raise SettingsError(f"unknown metric {unknown[0]!r} for {task}: use one of {', '.join(a)}")
    out = {}
    for metric in metrics or list(a):
        va, vb = a[metric], b[metric]
        low, high = resample_interval(lambda idx: aggregate(metric, vb[idx]) - aggregate(metric, va[idx]),
                                      len(references), n_resamples=n_resamples, seed=seed)
        base, fin = aggregate(metric, va), aggregate(metric, vb)
        out[metric] = PairedDifference(metric, split, base, fin, fin - base, (low, high), len(references))
    return out


def paired_difference(
    task: str,
    baseline: Sequence[str],
    finetuned: Sequence[str],
    references: Sequence[str],
    metric: str | None = None,
    split: str = "golden",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """:func:`paired_differences` for one metric, by default the task's primary one (04_evaluation)."""
    metric = metric or primary_metric(task)
    return paired_differences(task, baseline, finetuned, references, [metric], split, n_resamples, seed)[metric]


def aligned_predictions(
    first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]], what: str = "the two stages"
) -> tuple[list[str], list[str], list[str]]:
    """Match two ``predictions_<split>.jsonl`` row lists by ``id``: (first, second, references) (04).

    Raises when they share no row or a shared row has two different references (the stages
    were scored on different data).
    """
    by_id = {str(r["id"]): r for r in second}
    p1, p2, refs = [], [], []
    for row in first:
        other = by_id.get(str(row["id"]))
        if other is None:
            continue
        if (row.get("reference") or "") != (other.get("reference") or ""):
            raise DataError(f"row {row['id']} has different references in {what}: score both on the same data")
        p1.append(row.get("prediction") or "")
        p2.append(other.get("prediction") or "")
        refs.append(row.get("reference") or "")
    if not refs:
        raise DataError(f"{what} share no scored row: run both on the same split with the same profile")
    return p1, p2, refs


def verdict_for(diff: PairedDifference, gate_passed: bool | None = None) -> str:
    """GO, NO-GO or NOT SHOWN from a paired interval and the gate (see :data:`DECISION_RULE`) (04)."""
    if gate_passed is False or diff.ci95[1] < 0:
        return "NO-GO"
    if diff.ci95[0] > 0:
        return "GO"
    return "NOT SHOWN"


@dataclass
class Decision:
    """The go/no-go of a run: the paired difference, the verdict and one sentence per reason (04)."""

    difference: PairedDifference
    verdict: str
    reasons: list[str] = field(default_factory=list)

    def to_summary(self) -> dict[str, Any]:
        """The ``decision`` object of ``summary.json`` (COURSE_DESIGN.md contract) (04_evaluation)."""
        d = self.difference
        return {"metric": d.metric, "split": d.split, "baseline": d.baseline, "finetuned": d.finetuned,
                "diff": d.diff, "ci95": [float(d.ci95[0]), float(d.ci95[1])], "verdict": self.verdict}


def decide(run_dir: str | Path, gate: Any = None, split: str = "golden", seed: int = 0) -> Decision:
    """The run's go/no-go on ``split`` (golden), from both stages' predictions (04_evaluation).

    ``gate`` is a :class:`helpers.evaluation.gate.GateResult` (or None when not checked).
    Raises :class:`SettingsError` naming the notebook to run when a stage is missing.
    """
    run = Path(run_dir)
    task = run_task(run)
    base, fin, refs = aligned_predictions(load_predictions(run, "baseline", split),
                                          load_predictions(run, "adapter", split), "baseline and adapter")
    diff = paired_difference(task, base, fin, refs, split=split, seed=seed)
    verdict = verdict_for(diff, None if gate is None else bool(gate.passed))
    reasons = [
        f"{split} {diff.metric} on {diff.n} paired rows: baseline {diff.baseline:.3f}, adapter "
        f"{diff.finetuned:.3f}, difference {diff.diff:+.3f}, 95% interval [{diff.ci95[0]:+.3f}, {diff.ci95[1]:+.3f}]",
    ]
    if gate is not None and not gate.passed:
        reasons.append("the regression gate failed: " + "; ".join(gate.reasons))
    if verdict == "GO":
        reasons.append("the whole interval is above zero" + (" and the gate passed" if gate is not None else " (gate not checked)"))
    elif verdict == "NOT SHOWN":
        reasons.append(f"the interval contains zero: {diff.n} rows cannot show a difference; keep the "
                       "prompt (cheaper) or add golden rows")
    elif diff.ci95[1] < 0:
        reasons.append("the whole interval is below zero: the prompt is better")
    return Decision(diff, verdict, reasons)
