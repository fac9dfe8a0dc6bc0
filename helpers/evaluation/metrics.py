"""Task metrics on a 0-1 scale: classification, JSON extraction and summarisation.

Introduced in ``04_evaluation.ipynb`` (notebooks 02 and 03 already call :func:`score` to fill
each stage's ``metrics.json``). Every metric is "higher is better" and lies in [0, 1].

* **classification** - ``exact_match`` (answer mapped onto a label by
  :func:`helpers.data.text.normalise_label` equals the reference) and ``macro_f1`` (unweighted
  mean of per-label F1 over the labels that occur in the references).
* **extraction** - the answer should be a JSON object with the reference's fields.
  ``json_valid_strict`` (whole answer is one object), ``json_valid`` (an object can be found:
  tolerant parse), ``field_accuracy`` (mean over rows and fields of per-field exact match after
  :func:`normalise_value`; ``None == None`` is correct; an unparseable answer gets every field
  wrong), ``exact_match`` (every field right), ``field_f1`` (micro F1 over non-null values: a
  predicted non-null value is a TP if it equals the reference, else an FP; a non-null reference
  value not matched is an FN) and ``field_accuracy.<field>`` for each field.
* **summarisation** - ``rouge1``, ``rouge2``, ``rougeL`` (F-measure, the ``rouge-score``
  package with the Porter stemmer, mean over pairs; computed through the local ``evaluate``
  module in ``helpers/metric_modules/rouge`` so it runs offline) and ``semantic_similarity``
  (see :func:`semantic_similarity`).

Internally each metric is computed from per-row statistics (:func:`row_stats`), so the score on
the whole set and every bootstrap resample use the same code.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from helpers.core.errors import SettingsError
from helpers.data.loading import DataError
from helpers.data.text import normalise_label, parse_json_output

TASKS = ("classification", "extraction", "summarisation")
PRIMARY = {"classification": "macro_f1", "extraction": "field_accuracy", "summarisation": "rougeL"}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
ROUGE_MODULE = Path(__file__).resolve().parent / "metric_modules" / "rouge"
NULL_STRINGS = {"", "null", "none", "n/a", "na"}

_ROUGE_LOADED: dict[str, Any] = {}


# --------------------------------------------------------------------------- basics
def _check_task(task: str) -> None:
    if task not in TASKS:
        raise SettingsError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise DataError(
            f"{len(predictions)} predictions but {len(references)} references: pass one prediction per reference"
        )


def primary_metric(task: str) -> str:
    """The one number a task is judged by: field_accuracy, macro_f1 or rougeL (04_evaluation)."""
    _check_task(task)
    return PRIMARY[task]


def task_for_metrics(metrics: dict[str, Any]) -> str:
    """Which task a stage's ``metrics.json`` belongs to: its ``view``/``task`` key, else its primary metric (04_evaluation)."""
    for key in ("view", "task"):
        if metrics.get(key) in TASKS:
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


# --------------------------------------------------------------------------- extraction
def normalise_value(value: Any) -> str | None:
    """One extracted value, made comparable: case, spacing, ``_``/``-`` and end punctuation ignored (04_evaluation).

    So ``"Cancel order"`` matches the label ``"cancel_order"`` and ``"a-1"`` matches ``"A-1"``.

    ``None``, ``""``, ``"null"``, ``"none"`` and ``"n/a"`` all mean "absent" (``None``);
    numbers and booleans become their text; lists and objects their sorted JSON.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False).casefold()
    text = " ".join(str(value).replace("_", " ").replace("-", " ").split()).casefold()
    text = text.strip("\"'`").rstrip(".,;:!").strip()
    return None if text in NULL_STRINGS else text


def _reference_object(ref: str, i: int) -> dict:
    obj = parse_json_output(ref, strict=False)
    if obj is None:
        raise DataError(
            f"reference {i + 1} is not a JSON object: extraction references must be JSON "
            f"(use --task classification or summarisation for plain-text references)"
        )
    return obj


def _fields(ref_objs: list[dict]) -> list[str]:
    fields: list[str] = []
    for obj in ref_objs:
        for key in obj:
            if key not in fields:
                fields.append(key)
    return fields


def _extraction_stats(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    import numpy as np

    refs = [_reference_object(r, i) for i, r in enumerate(references)]
    fields = _fields(refs)
    n = len(refs)
    strict = np.zeros(n)
    tolerant = np.zeros(n)
    cells = np.zeros((n, max(len(fields), 1)))
    counts = np.zeros((n, 3))  # tp, fp, fn
    for i, (pred, ref) in enumerate(zip(predictions, refs)):
        strict[i] = parse_json_output(pred, strict=True) is not None
        obj = parse_json_output(pred, strict=False)
        tolerant[i] = obj is not None
        for j, field in enumerate(fields):
            r = normalise_value(ref.get(field))
            p = normalise_value(obj.get(field)) if obj is not None else None
            right = obj is not None and p == r
            cells[i, j] = right
            if p is not None:
                counts[i, 0 if p == r else 1] += 1
            if r is not None and p != r:
                counts[i, 2] += 1
    stats: dict[str, Any] = {
        "json_valid_strict": strict,
        "json_valid": tolerant,
        "field_accuracy": cells[:, : len(fields)].mean(axis=1) if fields else np.zeros(n),
        "exact_match": cells[:, : len(fields)].all(axis=1).astype(float) if fields else np.zeros(n),
        "field_f1": counts,
    }
    for j, field in enumerate(fields):
        stats[f"field_accuracy.{field}"] = cells[:, j]
    return stats


# --------------------------------------------------------------------------- classification
def _label_set(references: Sequence[str]) -> list[str]:
    return sorted({str(r).strip() for r in references})


def _classification_stats(
    predictions: Sequence[str], references: Sequence[str], labels: list[str] | None = None
) -> dict[str, Any]:
    import numpy as np

    labels = labels or _label_set(references)
    index = {lab: k for k, lab in enumerate(labels)}
    pairs = np.full((len(references), 2), -1, dtype=int)
    for i, (pred, ref) in enumerate(zip(predictions, references)):
        pairs[i, 0] = index.get(str(ref).strip(), -1)
        mapped = normalise_label(pred, labels)
        pairs[i, 1] = index[mapped] if mapped is not None else -1
    return {
        "exact_match": (pairs[:, 0] == pairs[:, 1]).astype(float) * (pairs[:, 0] >= 0),
        "macro_f1": pairs,
    }


def _per_label_f1(pairs: Any, label_ids: Sequence[int]) -> dict[int, tuple[float, float, float, int]]:
    out = {}
    for k in label_ids:
        tp = int(((pairs[:, 0] == k) & (pairs[:, 1] == k)).sum())
        fp = int(((pairs[:, 0] != k) & (pairs[:, 1] == k)).sum())
        fn = int(((pairs[:, 0] == k) & (pairs[:, 1] != k)).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        out[k] = (p, r, f, tp + fn)
    return out


# --------------------------------------------------------------------------- summarisation
def _rouge_direct(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    out: dict[str, list[float]] = {t: [] for t in ROUGE_TYPES}
    for pred, ref in zip(predictions, references):
        s = scorer.score(ref, pred)
        for t in ROUGE_TYPES:
            out[t].append(float(s[t].fmeasure))
    return out


def rouge_per_example(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """ROUGE-1/2/L F-measure per pair through the local evaluate module (04_evaluation).

    ``evaluate.load`` of ``helpers/metric_modules/rouge`` works with ``HF_HUB_OFFLINE=1``; it
    copies the module into the Hugging Face modules cache, so if that cache cannot be written
    (a read-only home folder) we compute the same numbers directly with ``rouge_score``.
    """
    if not predictions:
        return {t: [] for t in ROUGE_TYPES}
    module = _ROUGE_LOADED.get("rouge")
    if module is None and "failed" not in _ROUGE_LOADED:
        try:
            import evaluate

            module = evaluate.load(str(ROUGE_MODULE), keep_in_memory=True)
            _ROUGE_LOADED["rouge"] = module
        except Exception as exc:  # noqa: BLE001 - any failure means: use the direct path
            _ROUGE_LOADED["failed"] = repr(exc)
    if module is None:
        return _rouge_direct(predictions, references)
    result = module.compute(
        predictions=[str(p) for p in predictions], references=[str(r) for r in references],
        use_aggregator=False,
    )
    return {t: [float(x) for x in result[t]] for t in ROUGE_TYPES}


def semantic_similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Meaning overlap per pair: cosine of MiniLM sentence embeddings, clipped to [0, 1] (04_evaluation).

    Definition: each text is embedded with the offline all-MiniLM-L6-v2 (mean pooling, unit
    length); the score of a pair is ``max(0, cos(pred, ref))``; an empty prediction scores 0.
    This is the sentence-level cousin of BERTScore: it rewards a paraphrase that ROUGE, which
    counts shared words, would miss. The set-level value is the mean over pairs.
    """
    import numpy as np

    from helpers.core.models import get_embedder

    if not predictions:
        return []
    emb = get_embedder().encode([str(p) for p in predictions] + [str(r) for r in references])
    n = len(predictions)
    cos = np.sum(emb[:n] * emb[n:], axis=1)
    cos = np.clip(cos, 0.0, 1.0)
    return [0.0 if not str(p).strip() else float(c) for p, c in zip(predictions, cos)]


def _summarisation_stats(
    predictions: Sequence[str], references: Sequence[str], semantic: bool = True
) -> dict[str, Any]:
    import numpy as np

    stats: dict[str, Any] = {t: np.array(v) for t, v in rouge_per_example(predictions, references).items()}
    if semantic:
        stats["semantic_similarity"] = np.array(semantic_similarity(predictions, references))
    return stats


# --------------------------------------------------------------------------- shared machinery
def row_stats(
    task: str, predictions: Sequence[str], references: Sequence[str], semantic: bool = True
) -> dict[str, Any]:
    """Per-row statistics from which every metric is aggregated (04_evaluation).

    Most metrics are a mean of per-row values (a 1-D array). ``field_f1`` keeps per-row
    (TP, FP, FN) counts and ``macro_f1`` per-row (reference, prediction) label ids, because
    they are not means of per-row numbers.
    """
    _check_task(task)
    _check_lengths(predictions, references)
    predictions = ["" if p is None else str(p) for p in predictions]
    references = ["" if r is None else str(r) for r in references]
    if task == "extraction":
        return _extraction_stats(predictions, references)
    if task == "classification":
        return _classification_stats(predictions, references)
    return _summarisation_stats(predictions, references, semantic=semantic)


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
        return float(np.mean([f for _, _, f, _ in _per_label_f1(values, label_ids).values()]))
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
    """:func:`bootstrap_ci` on statistics already computed by :func:`row_stats` (04_evaluation)."""
    import numpy as np

    if metric not in stats:
        raise SettingsError(f"unknown metric {metric!r}: use one of {', '.join(stats)}")
    values = stats[metric]
    size = len(values)
    if size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    samples = [aggregate(metric, values[rng.integers(0, size, size)]) for _ in range(n)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return (float(low), float(high))


def field_breakdown(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Accuracy of each extraction field on its own: which field does the model get wrong? (04_evaluation)"""
    metrics = score("extraction", predictions, references)
    prefix = "field_accuracy."
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}


def label_breakdown(predictions: list[str], references: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each reference label (04_evaluation)."""
    labels = _label_set(references)
    pairs = _classification_stats(predictions, references, labels)["macro_f1"]
    table = _per_label_f1(pairs, range(len(labels)))
    return {
        labels[k]: {"precision": p, "recall": r, "f1": f, "support": float(s)}
        for k, (p, r, f, s) in table.items()
    }


# --------------------------------------------------------------------------- command line
def reference_text(row: dict[str, Any], task: str) -> str:
    """The reference one data row holds for ``task`` (04_evaluation, ``python -m helpers evaluate``).

    Rule: the row's ``reference`` key if present; else for classification / summarisation of a
    row whose ``output`` is a JSON object, ``meta.category`` / ``meta.summary`` (the bundled
    support data stores those there); else ``output`` (for chat rows: the last assistant turn).
    """
    if "reference" in row and row["reference"] is not None:
        return str(row["reference"])
    output = row.get("output")
    if output is None and isinstance(row.get("messages"), list):
        assistant = [m.get("content", "") for m in row["messages"] if isinstance(m, dict) and m.get("role") == "assistant"]
        output = assistant[-1] if assistant else None
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    meta_key = {"classification": "category", "summarisation": "summary"}.get(task)
    if meta_key and meta.get(meta_key) is not None:
        if output is None or parse_json_output(str(output), strict=True) is not None:
            return str(meta[meta_key])
    if output is None:
        raise DataError(f"row {row.get('id')!r} has no 'reference' or 'output': add one of them")
    return str(output)


def _read_id_rows(path: str | Path, what: str) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist: check the --{what} path")
    rows = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name}:{n}: not valid JSON ({exc.msg}): fix or remove that line") from None
            if not isinstance(obj, dict) or "id" not in obj:
                raise DataError(f"{path.name}:{n}: every row needs an 'id' so predictions and references can be matched")
            rows.append(obj)
    return rows


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
    _check_task(task)
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
