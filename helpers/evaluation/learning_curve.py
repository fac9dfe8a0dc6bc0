"""When does fine-tuning start to beat the prompt? A learning curve on eval, against the baseline.

Introduced in ``05_clean_vs_noisy.ipynb``. Adapters are trained on growing, nested slices of the
clean training rows (the profile's ``curve_rows``), each with the *same* budget as the
clean-vs-noisy arms (``experiment_steps`` optimizer steps: small slices are seen several times,
large ones less than once), and scored on the eval rows the baseline of notebook 02 answered.
Each point is compared with the baseline row by row (:mod:`helpers.evaluation.decision`); the
*crossover* is the smallest slice whose paired interval lies wholly above zero.

The largest slice has the clean arm's size, so the clean arm of the experiment is reused as
that point instead of being trained twice (the same rows, budget and seed).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.core.errors import SettingsError
from helpers.core.runs import write_json
from helpers.evaluation.compare import load_predictions
from helpers.evaluation.decision import aligned_predictions, paired_difference
from helpers.evaluation.experiment import ArmResult, run_arm
from helpers.evaluation.intervals import resample_interval
from helpers.evaluation.metrics import aggregate, row_stats, task_for_metrics
from helpers.evaluation.summary import LEARNING_CURVE_FILE as CURVE_FILE  # in the run folder; summary.json copies it
from helpers.evaluation.summary import write_summary
from helpers.training.settings import TrainSettings


def curve_slices(rows: Sequence[dict[str, Any]], sizes: Sequence[int], seed: int = 0) -> dict[int, list[dict[str, Any]]]:
    """Nested random slices of ``rows``: every smaller slice is inside every larger one (05).

    Sizes larger than the rows available are dropped; an empty result raises.
    """
    order = list(rows)
    random.Random(seed).shuffle(order)
    kept = sorted({int(n) for n in sizes if 0 < int(n) <= len(order)})
    if not kept:
        raise SettingsError(f"no learning-curve size fits {len(order)} training rows: lower the profile's curve_rows")
    return {n: order[:n] for n in kept}


def curve_point(arm: ArmResult, baseline_rows: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """One point: the adapter's eval score with its interval, and its paired difference to the prompt (05)."""
    task = task_for_metrics({"primary_metric": arm.primary_metric})
    base, fin, refs = aligned_predictions(baseline_rows, arm.predictions, f"the baseline and the {arm.name} arm")
    values = row_stats(task, fin, refs, semantic=False)[arm.primary_metric]
    low, high = resample_interval(lambda idx: aggregate(arm.primary_metric, values[idx]), len(refs), seed=seed)
    diff = paired_difference(task, base, fin, refs, metric=arm.primary_metric, split="eval", seed=seed)
    return {"rows": arm.n_rows, "steps": arm.steps, "score": aggregate(arm.primary_metric, values),
            "ci95": [low, high], "diff": diff.diff, "diff_ci95": [diff.ci95[0], diff.ci95[1]],
            "n": len(refs), "seconds": round(arm.seconds, 1)}


def learning_curve(
    profile: Profile, tokenizer: Any, train_rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]],
    run_dir: Path, budget: TrainSettings, reuse: Sequence[ArmResult] = (),
) -> dict[str, Any]:
    """Train the curve's adapters, compare each with the baseline on eval, write ``learning_curve.json`` (05).

    ``reuse`` holds arms already trained on a slice of the same size with the same budget (the
    clean arm); they are not trained again. Needs ``baseline/predictions_eval.jsonl`` (notebook 02).
    An existing ``summary.json`` is rewritten so that it holds this curve.
    """
    run_dir = Path(run_dir)
    baseline_rows = load_predictions(run_dir, "baseline", "eval")
    known = {a.n_rows: a for a in reuse}
    points, metric = [], None
    for n, rows in curve_slices(train_rows, profile.curve_rows, seed=budget.seed).items():
        arm = known.get(n) or run_arm(f"rows-{n}", profile, tokenizer, rows, eval_rows,
                                      run_dir / "experiment" / f"curve-{n}", budget)
        metric = arm.primary_metric
        points.append(curve_point(arm, baseline_rows, seed=budget.seed))
    task = task_for_metrics({"primary_metric": metric})
    refs = [r.get("reference") or "" for r in baseline_rows]
    prompt = aggregate(metric, row_stats(task, [r.get("prediction") or "" for r in baseline_rows], refs, semantic=False)[metric])
    winners = [p["rows"] for p in points if p["diff_ci95"][0] > 0]
    curve = {"metric": metric, "split": "eval", "prompt": prompt, "points": points,
             "steps": budget.max_steps, "crossover_rows": min(winners) if winners else None}
    write_json(run_dir / CURVE_FILE, curve)
    if (run_dir / "summary.json").exists():  # notebook 04 wrote it: a rerun of 05 must not leave it stale
        write_summary(run_dir)
    return curve


def crossover_sentence(curve: dict[str, Any]) -> str:
    """The curve's verdict in one sentence, from the paired intervals (05_clean_vs_noisy)."""
    largest = max(p["rows"] for p in curve["points"])
    if curve["crossover_rows"] is None:
        return (f"no slice up to {largest} rows beats the prompt ({curve['prompt']:.3f} {curve['split']} "
                f"{curve['metric']}) beyond noise at {curve['steps']} steps: here, prompting wins or ties")
    return (f"from {curve['crossover_rows']} training rows on, the adapter beats the prompt "
            f"({curve['prompt']:.3f}) with the whole paired 95% interval above zero")


def plot_curve(curve: dict[str, Any]) -> Any:
    """Adapter score against training rows (log scale) with intervals, the prompt as a line (05)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    xs = [p["rows"] for p in curve["points"]]
    ys = [p["score"] for p in curve["points"]]
    err = [[y - p["ci95"][0] for y, p in zip(ys, curve["points"])], [p["ci95"][1] - y for y, p in zip(ys, curve["points"])]]
    ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4, label="adapter (95% interval)")
    ax.axhline(curve["prompt"], color="#d62728", linestyle="--", label="best prompt (notebook 02)")
    if curve.get("crossover_rows"):
        ax.axvline(curve["crossover_rows"], color="#7f7f7f", linestyle=":", label="crossover")
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("clean training rows")
    ax.set_ylabel(f"{curve['split']} {curve['metric']}")
    ax.set_title(f"learning curve, {curve['steps']} steps a point")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
