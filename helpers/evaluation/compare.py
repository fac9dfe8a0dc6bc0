"""Baseline vs adapter: tables, a chart with confidence intervals, breakdowns, speed and cost.

Introduced in ``04_evaluation.ipynb``. Everything is read from the run folder (see
:mod:`helpers.core.runs`): each stage's ``metrics.json`` and ``predictions_<split>.jsonl``. A stage
that has not run yet raises one sentence naming the notebook that makes it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from helpers.core.errors import SettingsError
from helpers.core.runs import read_json, read_jsonl, run_data_task
from helpers.data.task_spec import load_task
from helpers.evaluation.metrics import (
    aggregate,
    bootstrap_from_stats,
    field_breakdown,
    label_breakdown,
    primary_metric,
    row_stats,
    task_for_metrics,
)

STAGES = ("baseline", "adapter")
SPLITS = ("eval", "golden", "production_sample")  # a stage scored without production has no such rows
STAGE_NOTEBOOK = {
    "baseline": "notebooks/02_prompting_baseline.ipynb",
    "adapter": "notebooks/03_qlora_training.ipynb",
}
SPEED_KEYS = ("latency_s_per_request", "tokens_per_s", "cost_per_1k_requests_usd")


def numeric_metrics(metrics: dict[str, Any] | None, unit_interval: bool = False) -> dict[str, float]:
    """The metrics that are finite numbers, as floats; booleans and text are left out (04_evaluation).

    ``unit_interval=True`` keeps only values in [0, 1], the quality metrics the regression gate
    compares (speed figures such as tokens/s are larger); the summary keeps every finite number.
    """
    out = {}
    for k, v in (metrics or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            if not unit_interval or 0.0 <= v <= 1.0:
                out[k] = float(v)
    return out


def load_stage(run_dir: str | Path, stage: str) -> dict[str, Any]:
    """A stage's ``metrics.json``; a missing or damaged one names the notebook to run (04_evaluation)."""
    path = Path(run_dir) / stage / "metrics.json"
    notebook = STAGE_NOTEBOOK.get(stage, "the notebook that writes it")
    if not path.exists():
        raise SettingsError(f"{stage} results are missing ({path}): run {notebook} first")
    try:
        metrics = read_json(path)
    except (OSError, ValueError):
        raise SettingsError(f"{path} is damaged: run {notebook} again") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("golden"), dict):
        raise SettingsError(f"{path} has no 'golden' metrics: run {notebook} again")
    return metrics


def load_predictions(run_dir: str | Path, stage: str, split: str) -> list[dict[str, Any]]:
    """A stage's ``predictions_<split>.jsonl`` rows (04_evaluation)."""
    path = Path(run_dir) / stage / f"predictions_{split}.jsonl"
    if not path.exists():
        raise SettingsError(f"{path} is missing: run {STAGE_NOTEBOOK.get(stage, 'that stage')} first")
    return read_jsonl(path)


def run_task(run_dir: str | Path) -> str:
    """The metric task of a run (classification, extraction or summarisation), from its metrics (04_evaluation)."""
    return task_for_metrics(load_stage(run_dir, "adapter"))


def metrics_table(run_dir: str | Path, headline_only: bool = True) -> Any:
    """One row per (split, metric): baseline, adapter and the change, from metrics.json (04_evaluation).

    ``headline_only`` hides the per-field ``field_accuracy.<field>`` rows (see
    :func:`breakdown_table`).
    """
    import pandas as pd

    base, adapter = load_stage(run_dir, "baseline"), load_stage(run_dir, "adapter")
    rows = []
    for split in SPLITS:
        b, a = base.get(split, {}), adapter.get(split, {})
        for metric in [m for m in a if m in b]:
            if headline_only and "." in metric:
                continue
            rows.append({"split": split, "metric": metric, "baseline": b[metric], "adapter": a[metric],
                         "change": a[metric] - b[metric]})
    return pd.DataFrame(rows, columns=["split", "metric", "baseline", "adapter", "change"])


def confidence_table(
    run_dir: str | Path, split: str = "golden", metrics: list[str] | None = None, n: int = 1000, seed: int = 0
) -> Any:
    """Each stage's metrics recomputed from its predictions, with 95% bootstrap intervals (04_evaluation).

    ``metrics`` defaults to the primary metric plus the task's other headline metrics.
    """
    import pandas as pd

    task = run_task(run_dir)
    rows = []
    for stage in STAGES:
        preds = load_predictions(run_dir, stage, split)
        stats = row_stats(task, [r.get("prediction") or "" for r in preds],
                          [r.get("reference") or "" for r in preds], semantic=False)
        wanted = metrics or [primary_metric(task)] + [m for m in stats if m != primary_metric(task) and "." not in m]
        for metric in wanted:
            if metric not in stats:
                continue
            low, high = bootstrap_from_stats(stats, metric, n=n, seed=seed)
            rows.append({"stage": stage, "metric": metric, "value": aggregate(metric, stats[metric]),
                         "low": low, "high": high, "n": len(preds)})
    return pd.DataFrame(rows, columns=["stage", "metric", "value", "low", "high", "n"])


def plot_comparison(table: Any, title: str = "baseline vs adapter") -> Any:
    """Grouped bars, one pair per metric, with the bootstrap interval as error bars (04_evaluation).

    ``table`` is the output of :func:`confidence_table`. Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = list(dict.fromkeys(table["metric"]))
    x = np.arange(len(metrics))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(metrics) + 2), 3.6))
    for k, stage in enumerate(STAGES):
        sub = table[table["stage"] == stage].set_index("metric").reindex(metrics)
        values = sub["value"].to_numpy(dtype=float)
        err = np.vstack([values - sub["low"].to_numpy(dtype=float), sub["high"].to_numpy(dtype=float) - values])
        ax.bar(x + (k - 0.5) * width, values, width, yerr=np.clip(err, 0, None), capsize=4, label=stage)
    ax.set_xticks(x, metrics, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (0-1)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    plt.close(fig)  # the notebook displays the returned figure once
    return fig


def breakdown_table(run_dir: str | Path, split: str = "golden") -> Any:
    """Per-field accuracy (extraction) or per-label F1 (classification), baseline vs adapter (04_evaluation).

    Summarisation has no breakdown and returns an empty table.
    """
    import pandas as pd

    task = run_task(run_dir)
    per_stage: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        preds = load_predictions(run_dir, stage, split)
        p = [r.get("prediction") or "" for r in preds]
        ref = [r.get("reference") or "" for r in preds]
        if task == "extraction":
            per_stage[stage] = field_breakdown(p, ref)
        elif task == "classification":
            per_stage[stage] = {lab: v["f1"] for lab, v in label_breakdown(p, ref).items()}
        else:
            per_stage[stage] = {}
    name = "field" if task == "extraction" else "label"
    keys = list(dict.fromkeys(list(per_stage["baseline"]) + list(per_stage["adapter"])))
    rows = [{name: k, "baseline": per_stage["baseline"].get(k, float("nan")),
             "adapter": per_stage["adapter"].get(k, float("nan"))} for k in keys]
    frame = pd.DataFrame(rows, columns=[name, "baseline", "adapter"])
    frame["change"] = frame["adapter"] - frame["baseline"]
    return frame


def drift_table(run_dir: str | Path, metrics: list[str] | None = None) -> Any:
    """Does the eval score carry over to production? Each stage's eval vs production metrics (04_evaluation).

    Production rows are a labelled sample of what the deployed model will see (new product
    lines, other wording); a drop from eval to production is what drift costs. ``metrics``
    defaults to the primary metric and the per-field / per-label ones. Empty when the run's task
    ships no ``production_sample`` (a learner's own task often has none).
    """
    import pandas as pd

    rows = []
    for stage in STAGES:
        m = load_stage(run_dir, stage)
        prod = m.get("production_sample")
        if not isinstance(prod, dict):
            if not load_task(run_data_task(run_dir)).has("production_sample"):
                break  # nothing to compare with: the table stays empty
            raise SettingsError(
                f"{stage} was not scored on production_sample: run {STAGE_NOTEBOOK[stage]} again (it scores it now)"
            )
        primary = m.get("primary_metric")
        wanted = metrics or [primary] + [k for k in prod if "." in k]
        for metric in wanted:
            if metric in prod and metric in m.get("eval", {}):
                rows.append({"stage": stage, "metric": metric, "eval": m["eval"][metric],
                             "production": prod[metric], "change": prod[metric] - m["eval"][metric]})
    return pd.DataFrame(rows, columns=["stage", "metric", "eval", "production", "change"])


def speed_table(run_dir: str | Path) -> Any:
    """Latency per request, tokens per second and cost per 1,000 requests for each stage (04_evaluation)."""
    import pandas as pd

    rows = []
    for stage in STAGES:
        speed = load_stage(run_dir, stage).get("speed") or {}
        rows.append({"stage": stage, **{k: speed.get(k, float("nan")) for k in SPEED_KEYS}})
    return pd.DataFrame(rows, columns=["stage", *SPEED_KEYS]).set_index("stage")
