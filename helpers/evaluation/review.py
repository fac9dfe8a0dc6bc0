"""Reading the worst examples and rating them: does the metric agree with a human?

Introduced in ``04_evaluation.ipynb``. A metric is a proxy; the learner reads the examples the
adapter did worst on, says whether the adapter's answer is better or worse than the baseline's,
and :func:`review_summary` reports how often that human verdict agrees with the metric.
Ratings are appended to ``runs/<id>/review.jsonl``, one JSON object a line; the latest rating
of an example counts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from helpers.core.errors import SettingsError
from helpers.core.runs import append_jsonl, read_jsonl, run_data_task
from helpers.data.loading import load_split
from helpers.evaluation.compare import load_predictions, run_task
from helpers.evaluation.metrics import per_example

VERDICTS = ("better", "worse", "both_wrong", "same")
REVIEW_FILE = "review.jsonl"


def _inputs(run_dir: Path, split: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each example's input: from the prediction rows if they carry it, else the bundled data split."""
    found = {str(r["id"]): str(r["input"]) for r in rows if r.get("input") is not None}
    if len(found) == len(rows):
        return found
    try:
        for row in load_split(split, task=run_data_task(run_dir)):
            found.setdefault(str(row["id"]), row["input"])
    except Exception:  # noqa: BLE001 - inputs are a convenience; missing data must not stop the review
        pass
    return found


def example_scores(run_dir: str | Path, split: str = "golden") -> list[dict[str, Any]]:
    """Every example of a split with both stages' predictions and per-example scores (04_evaluation).

    The score is the primary metric row by row (:func:`helpers.evaluation.metrics.per_example`); only ids
    that both stages predicted are kept, in the adapter file's order.
    """
    run = Path(run_dir)
    task = run_task(run)
    base = {str(r["id"]): r for r in load_predictions(run, "baseline", split)}
    adapter_rows = [r for r in load_predictions(run, "adapter", split) if str(r["id"]) in base]
    ids = [str(r["id"]) for r in adapter_rows]
    refs = [adapter_rows[i].get("reference") or base[k].get("reference") or "" for i, k in enumerate(ids)]
    a_pred = [r.get("prediction") or "" for r in adapter_rows]
    b_pred = [base[k].get("prediction") or "" for k in ids]
    a_score = per_example(task, a_pred, refs) if ids else []
    b_score = per_example(task, b_pred, refs) if ids else []
    inputs = _inputs(run, split, adapter_rows)
    return [
        {"id": k, "input": inputs.get(k, ""), "reference": refs[i], "baseline": b_pred[i],
         "adapter": a_pred[i], "baseline_score": b_score[i], "adapter_score": a_score[i]}
        for i, k in enumerate(ids)
    ]


def worst_examples(run_dir: str | Path, split: str = "golden", n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` examples the adapter did worst on, worst first; ties: lower baseline score first (04_evaluation).

    Each row: ``id, input, reference, baseline, adapter, baseline_score, adapter_score``.
    """
    rows = example_scores(run_dir, split)
    rows.sort(key=lambda r: (r["adapter_score"], r["baseline_score"], r["id"]))
    return rows[: max(0, n)]


def record_rating(
    run_dir: str | Path, example_id: str, verdict: str, note: str = "", split: str = "golden"
) -> dict[str, Any]:
    """Append one human rating to ``runs/<id>/review.jsonl`` and return it (04_evaluation).

    ``verdict`` says how the adapter's answer compares with the baseline's: "better",
    "worse", "same" or "both_wrong". The line is written with a single append, so two
    processes rating at once never interleave half lines.
    """
    if verdict not in VERDICTS:
        raise SettingsError(f"verdict {verdict!r} is not allowed: use one of {', '.join(VERDICTS)}")
    record = {"id": str(example_id), "split": split, "verdict": verdict, "note": note or "",
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    append_jsonl(Path(run_dir) / REVIEW_FILE, record)
    return record


def load_ratings(run_dir: str | Path) -> list[dict[str, Any]]:
    """All ratings in file order; unreadable lines are skipped (04_evaluation)."""
    path = Path(run_dir) / REVIEW_FILE
    if not path.exists():
        return []
    return [r for r in read_jsonl(path, skip_bad_lines=True, require=("id",)) if r.get("verdict") in VERDICTS]


def metric_verdict(baseline_score: float, adapter_score: float, eps: float = 1e-9) -> str:
    """What the metric says about one example: "better", "worse" or "same" for the adapter (04_evaluation)."""
    if adapter_score > baseline_score + eps:
        return "better"
    if adapter_score < baseline_score - eps:
        return "worse"
    return "same"


def review_summary(run_dir: str | Path) -> dict[str, Any]:
    """Counts of human verdicts and how often the metric agrees with them (04_evaluation).

    The latest rating of each (split, id) counts. Agreement is measured on ratings whose
    verdict is "better", "worse" or "same": the metric agrees when the per-example primary
    metric moves the same way (:func:`metric_verdict`). "both_wrong" says neither answer is
    acceptable, which the metric cannot say, so it is counted but left out of agreement.
    Returns ``{"n_ratings", "counts", "agreement", "n_compared", "disagreements", "rows"}``;
    ``agreement`` is ``None`` when nothing can be compared.
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in load_ratings(run_dir):
        latest[(r.get("split", "golden"), str(r["id"]))] = r
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    rows = []
    for (split, ex_id), r in latest.items():
        if split not in scores:
            try:
                scores[split] = {e["id"]: e for e in example_scores(run_dir, split)}
            except SettingsError:
                scores[split] = {}
        ex = scores[split].get(ex_id)
        says = metric_verdict(ex["baseline_score"], ex["adapter_score"]) if ex else None
        rows.append({"id": ex_id, "split": split, "verdict": r["verdict"], "metric_says": says,
                     "note": r.get("note", "")})
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICTS}
    comparable = [r for r in rows if r["verdict"] != "both_wrong" and r["metric_says"] is not None]
    agree = [r for r in comparable if r["verdict"] == r["metric_says"]]
    return {
        "n_ratings": len(rows),
        "counts": counts,
        "agreement": (len(agree) / len(comparable)) if comparable else None,
        "n_compared": len(comparable),
        "disagreements": [r["id"] for r in comparable if r["verdict"] != r["metric_says"]],
        "rows": rows,
    }
