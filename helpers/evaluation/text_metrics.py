"""Summarisation metrics: ROUGE (shared words) and semantic similarity (shared meaning).

Introduced in ``04_evaluation.ipynb`` (through :func:`helpers.evaluation.metrics.score`).
``rouge1``, ``rouge2`` and ``rougeL`` are F-measures from the ``rouge-score`` package with the
Porter stemmer, computed here and only here: the local ``evaluate`` module in
``helpers/evaluation/metric_modules/rouge`` (``evaluate.load`` of that folder works offline)
calls :func:`rouge_per_example`, so both give the same numbers online and offline.
``semantic_similarity`` is defined in :func:`semantic_similarity`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from helpers.core.models import get_embedder

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
#: The local ``evaluate`` module: ``evaluate.load(str(ROUGE_MODULE))`` for scripts that use ``evaluate``.
ROUGE_MODULE = Path(__file__).resolve().parent / "metric_modules" / "rouge"


def rouge_per_example(
    predictions: Sequence[str], references: Sequence[str], rouge_types: Sequence[str] = ROUGE_TYPES
) -> dict[str, list[float]]:
    """ROUGE-1/2/L F-measure per pair: ``rouge_score`` with the Porter stemmer (04_evaluation)."""
    from rouge_score import rouge_scorer

    types = list(rouge_types)
    out: dict[str, list[float]] = {t: [] for t in types}
    if not predictions:
        return out
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
    for pred, ref in zip(predictions, references):
        s = scorer.score(str(ref), str(pred))  # rouge_score takes (target, prediction)
        for t in types:
            out[t].append(float(s[t].fmeasure))
    return out


def semantic_similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Meaning overlap per pair: cosine of MiniLM sentence embeddings, clipped to [0, 1] (04_evaluation).

    Definition: each text is embedded with the offline all-MiniLM-L6-v2 (mean pooling, unit
    length); the score of a pair is ``max(0, cos(pred, ref))``; an empty prediction scores 0.
    This is the sentence-level cousin of BERTScore: it rewards a paraphrase that ROUGE, which
    counts shared words, would miss. The set-level value is the mean over pairs.
    """
    import numpy as np

    if not predictions:
        return []
    emb = get_embedder().encode([str(p) for p in predictions] + [str(r) for r in references])
    n = len(predictions)
    cos = np.sum(emb[:n] * emb[n:], axis=1)
    cos = np.clip(cos, 0.0, 1.0)
    return [0.0 if not str(p).strip() else float(c) for p, c in zip(predictions, cos)]


def summarisation_stats(
    predictions: Sequence[str], references: Sequence[str], semantic: bool = True
) -> dict[str, Any]:
    """Per-row ROUGE (and, with ``semantic``, similarity) arrays for :func:`helpers.evaluation.metrics.row_stats` (04_evaluation)."""
    import numpy as np

    stats: dict[str, Any] = {t: np.array(v) for t, v in rouge_per_example(predictions, references).items()}
    if semantic:
        stats["semantic_similarity"] = np.array(semantic_similarity(predictions, references))
    return stats
