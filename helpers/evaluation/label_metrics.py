"""Classification metrics: exact match and macro F1 over the reference labels.

Introduced in ``04_evaluation.ipynb`` (through :func:`helpers.evaluation.metrics.score`). An
answer is mapped onto a label by :func:`helpers.data.text.normalise_label`; ``exact_match`` is
1 when that label equals the reference, and ``macro_f1`` is the unweighted mean of per-label F1
over the labels that occur in the references.
"""

from __future__ import annotations

from typing import Any, Sequence

from helpers.data.text import normalise_label


def label_set(references: Sequence[str]) -> list[str]:
    """The sorted distinct reference labels (04_evaluation)."""
    return sorted({str(r).strip() for r in references})


def classification_stats(
    predictions: Sequence[str], references: Sequence[str], labels: list[str] | None = None
) -> dict[str, Any]:
    """Per-row statistics: ``exact_match`` values and (reference, prediction) label ids for ``macro_f1`` (04_evaluation)."""
    import numpy as np

    labels = labels or label_set(references)
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


def per_label_f1(pairs: Any, label_ids: Sequence[int]) -> dict[int, tuple[float, float, float, int]]:
    """``{label id: (precision, recall, F1, support)}`` from (reference, prediction) id pairs (04_evaluation)."""
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
