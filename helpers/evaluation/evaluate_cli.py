"""``python -m helpers evaluate``: score a predictions file against a references file, by id.

Introduced in ``04_evaluation.ipynb`` (the course's own stages score in memory with
:func:`helpers.evaluation.metrics.score`; this is the same scoring for files made anywhere).
Prints ``{"n": int, "metrics": {...}}`` with ``--json``. Predictions rows are
``{"id", "prediction"}``; the reference of a row follows :func:`helpers.data.tasks.reference_text`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

from helpers.core.errors import DataError
from helpers.core.runs import read_jsonl
from helpers.data.tasks import check_view, reference_text
from helpers.evaluation.metrics import primary_metric, score


def _read_id_rows(path: str | Path, what: str) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist: check the --{what} path")
    return read_jsonl(path, require=("id",))


def match_by_id(
    prediction_rows: list[dict[str, Any]], reference_rows: list[dict[str, Any]], task: str
) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    """Align predictions with references by ``id`` (04_evaluation).

    Returns ``(ids, predictions, references, ids_without_reference, ids_without_prediction)``,
    in the order of the reference file. A repeated id keeps its first row.
    """
    preds: dict[str, str] = {}
    for row in prediction_rows:
        preds.setdefault(str(row["id"]), "" if row.get("prediction") is None else str(row["prediction"]))
    refs: dict[str, str] = {}
    for row in reference_rows:
        key = str(row["id"])
        if key not in refs:
            refs[key] = reference_text(row, task)
    ids = [k for k in refs if k in preds]
    return (
        ids,
        [preds[k] for k in ids],
        [refs[k] for k in ids],
        [k for k in preds if k not in refs],
        [k for k in refs if k not in preds],
    )


def evaluate_files(
    task: str, predictions_path: str | Path, references_path: str | Path, semantic: bool = True,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a predictions file against a references file, rows matched by id (04_evaluation).

    Returns ``{"n": matched rows, "metrics": {...}}``. No id in common raises ``DataError``;
    ids present on one side only are reported through ``warn`` (default: stderr).
    """
    check_view(task)
    ids, preds, refs, no_ref, no_pred = match_by_id(
        _read_id_rows(predictions_path, "predictions"), _read_id_rows(references_path, "references"), task
    )
    if not ids:
        raise DataError(
            f"no prediction id matches a reference id: check that {Path(predictions_path).name} "
            f"was made from {Path(references_path).name}"
        )
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    if no_ref:
        warn(f"warning: {len(no_ref)} prediction id(s) have no reference and were skipped (first: {no_ref[0]})")
    if no_pred:
        warn(f"warning: {len(no_pred)} reference id(s) have no prediction and were skipped (first: {no_pred[0]})")
    return {"n": len(ids), "metrics": score(task, preds, refs, semantic=semantic)}


def cli_evaluate(args: Any) -> int:
    """``python -m helpers evaluate --task T --predictions P --references R [--json]`` (04_evaluation)."""
    result = evaluate_files(
        args.task, args.predictions, args.references, semantic=not getattr(args, "no_semantic", False)
    )
    if getattr(args, "json", False):
        print(json.dumps(result))
    else:
        print(f"{result['n']} rows, task {args.task} (primary metric: {primary_metric(args.task)})")
        for name, value in result["metrics"].items():
            print(f"  {name:<32} {value:.4f}" if math.isfinite(value) else f"  {name:<32} {value}")
    return 0
