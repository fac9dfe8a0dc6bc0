"""ROUGE-1/2/L F-measure as a local ``evaluate`` module (04_evaluation).

The hub's ``evaluate.load("rouge")`` needs the internet; this file is loaded with
``evaluate.load("<path to this folder>")`` and works offline. It is only the ``evaluate`` face of
the course's one ROUGE implementation, :func:`helpers.evaluation.text_metrics.rouge_per_example`
(``rouge-score``'s ``RougeScorer(use_stemmer=True)``), and returns the *plain mean* of the
per-pair F-measures (the hub module reports a bootstrap "mid" instead).
``use_aggregator=False`` returns one score per pair.
"""

import datasets
import evaluate

from helpers.evaluation.text_metrics import ROUGE_TYPES, rouge_per_example

_DESCRIPTION = "ROUGE-1, ROUGE-2 and ROUGE-L F-measure (rouge-score, Porter stemmer), mean over pairs."
_KWARGS = """
Args:
    predictions: list of generated texts.
    references: list of reference texts, one per prediction.
    rouge_types: which scores, default ["rouge1", "rouge2", "rougeL"].
    use_aggregator: True (default) returns means; False returns one float per pair.
Returns:
    {"rouge1": float, "rouge2": float, "rougeL": float} (or lists of floats).
"""


class Rouge(evaluate.Metric):
    """ROUGE F-measure, offline (04_evaluation)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True):
        per_pair = rouge_per_example(predictions, references, rouge_types or ROUGE_TYPES)
        if not use_aggregator:
            return per_pair
        return {t: (sum(v) / len(v) if v else 0.0) for t, v in per_pair.items()}
