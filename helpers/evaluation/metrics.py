"""Task metrics on a 0-1 scale: one entry point for classification, extraction and summarisation.

Introduced in ``04_evaluation.ipynb`` (notebooks 02 and 03 already call :func:`score` to fill
each stage's ``metrics.json``). Every metric is "higher is better" and lies in [0, 1]. The task
names are the task views of :mod:`helpers.data.tasks`; each task's metrics are defined in its
own module:

* **classification** - ``exact_match`` and ``macro_f1``: :mod:`helpers.evaluation.label_metrics`.
* **extraction** - ``json_valid_strict``, ``json_valid``, ``field_accuracy``, ``exact_match``,
  ``field_f1`` and ``field_accuracy.<field>``: :mod:`helpers.evaluation.field_metrics`.
* **summarisation** - ``rouge1``, ``rouge2``, ``rougeL`` and ``semantic_similarity``:
  :mod:`helpers.evaluation.text_metrics`.

Internally each metric is computed from per-row statistics (:func:`row_stats`), so the score on
the whole set and every bootstrap resample use the same code. ``python -m helpers evaluate``
lives in :mod:`helpers.evaluation.evaluate_cli`.
"""

from __future__ import annotations

from typing import Any, Sequence

from helpers.core.errors import DataError, SettingsError
from helpers.data.tasks import PRIMARY_METRIC as PRIMARY
from helpers.data.tasks import TASK_VIEWS, check_view
from helpers.evaluation.field_metrics import extraction_stats
from helpers.evaluation.label_metrics import classification_stats, label_set, per_label_f1
from helpers.evaluation.text_metrics import summarisation_stats


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise DataError(
            f"{len(predictions)} predictions but {len(references)} references: pass one prediction per reference"
        )


def primary_metric(task: str) -> str:
    """The one number a task is judged by: field_accuracy, macro_f1 or rougeL (04_evaluation)."""
    return PRIMARY[check_view(task)]  # the view table's column, helpers.data.tasks


def task_for_metrics(metrics: dict[str, Any]) -> str:
    """Which task a stage's ``metrics.json`` belongs to: its ``view``/``task`` key, else its primary metric (04_evaluation)."""
    for key in ("view", "task"):
        if metrics.get(key) in TASK_VIEWS:
            return metrics[key]
    by_primary = {v: k for k, v in PRIMARY.items()}
    if metrics.get("primary_metric") in by_primary:
        return by_primary[metrics["primary_metric"]]
    keys = set(metrics.get("golden", {})) | set(metrics.get("eval", {}))
    if "rougeL" in keys:
        return "summarisation"
    if "field_accuracy" in keys:
        return "extraction"
    return "classification"


def row_stats(
    task: str, predictions: Sequence[str], references: Sequence[str], semantic: bool = True
) -> dict[str, Any]:
    """Per-row statistics from which every metric is aggregated (04_evaluation).

    Most metrics are a mean of per-row values (a 1-D array). ``field_f1`` keeps per-row
    (TP, FP, FN) counts and ``macro_f1`` per-row (reference, prediction) label ids, because
    they are not means of per-row numbers.
    """
    check_view(task)
    _check_lengths(predictions, references)
    predictions = ["" if p is None else str(p) for p in predictions]
    references = ["" if r is None else str(r) for r in references]
    if task == "extraction":
        return extraction_stats(predictions, references)
    if task == "classification":
        return classification_stats(predictions, references)
    return summarisation_stats(predictions, references, semantic=semantic)


def aggregate(metric: str, values: Any) -> float:
    """One metric from the per-row statistics of :func:`row_stats` (04_evaluation)."""
    import numpy as np

    if len(values) == 0:
        return 0.0
    if metric == "field_f1":
        tp, fp, fn = values.sum(axis=0)
        return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 1.0
    if metric == "macro_f1":
        label_ids = [int(k) for k in np.unique(values[:, 0]) if k >= 0]
        if not label_ids:
            return 0.0
        return float(np.mean([f for _, _, f, _ in per_label_f1(values, label_ids).values()]))
    return float(np.mean(values))


def score(task: str, predictions: list[str], references: list[str], semantic: bool = True) -> dict[str, float]:
    """Every metric of ``task`` for aligned predictions and references, all in [0, 1] (02, 03, 04).

    ``task`` is "classification", "extraction" or "summarisation"; see the module docstring
    for what each metric means. ``semantic=False`` skips the MiniLM-based
    ``semantic_similarity`` of summarisation (it loads a 90 MB model).
    """
    stats = row_stats(task, predictions, references, semantic=semantic)
    return {metric: aggregate(metric, values) for metric, values in stats.items()}


def per_example(task: str, predictions: list[str], references: list[str]) -> list[float]:
    """The primary metric row by row, for ranking the worst examples (04_evaluation).

    Extraction: the row's field accuracy; summarisation: the row's ROUGE-L; classification:
    1.0 if the label is right else 0.0 (macro F1 has no per-row value; this is its row-level
    counterpart).
    """
    stats = row_stats(task, predictions, references, semantic=False)
    key = "exact_match" if task == "classification" else primary_metric(task)
    return [float(x) for x in stats[key]]


def bootstrap_ci(
    task: str,
    predictions: list[str],
    references: list[str],
    metric: str | None = None,
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """A percentile bootstrap confidence interval for one metric (04_evaluation).

    Rows are resampled with replacement ``n`` times and the metric recomputed on each sample
    (macro F1 and field F1 from their counts, not averaged per row); the interval is the
    middle ``confidence`` share of those values. With 30 golden rows expect it to be wide.
    """
    metric = metric or primary_metric(task)
    stats = row_stats(task, predictions, references, semantic=(metric == "semantic_similarity"))
    return bootstrap_from_stats(stats, metric, n=n, seed=seed, confidence=confidence)


def bootstrap_from_stats(
    stats: dict[str, Any], metric: str, n: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """:func:`bootstrap_ci` on statistics already computed by :func:`row_stats` (04_evaluation).

    The resampling is :func:`helpers.evaluation.intervals.resample_interval` (scipy's bootstrap
    over row indices), the same one the paired comparisons of :mod:`helpers.evaluation.decision` use.
    """
    from helpers.evaluation.intervals import resample_interval

    if metric not in stats:
        raise SettingsError(f"unknown metric {metric!r}: use one of {', '.join(stats)}")
    values = stats[metric]
    if len(values) == 0:
        return (0.0, 0.0)
    return resample_interval(lambda idx: aggregate(metric, values[idx]), len(values), n_resamples=n,
                             seed=seed, confidence=confidence)


def field_breakdown(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Accuracy of each extraction field on its own: which field does the model get wrong? (04_evaluation)"""
    metrics = score("extraction", predictions, references)
    prefix = "field_accuracy."
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}


def label_breakdown(predictions: list[str], references: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each reference label (04_evaluation)."""
    labels = label_set(references)
    pairs = classification_stats(predictions, references, labels)["macro_f1"]
    table = per_label_f1(pairs, range(len(labels)))
    return {
        labels[k]: {"precision": p, "recall": r, "f1": f, "support": float(s)}
        for k, (p, r, f, s) in table.items()
    }
