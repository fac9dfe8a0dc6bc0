"""Data-quality checks for fine-tuning data, the cleaning decisions, and the ``quality`` CLI.

Introduced in ``01_data_quality.ipynb``. Each check is one small function that takes the loaded
rows (see :mod:`helpers.data.loading`) and returns a :class:`Finding` or ``None``; :func:`run_checks`
runs them all and returns a :class:`QualityReport`. Line numbers are always 1-based lines of the
checked file. Nothing here ever writes to the checked file: cleaning produces a *new* file and a
decision log under ``runs/<run-id>/quality/`` (:func:`write_cleaned`).

Checks (names are the CLI contract in guide / COURSE_DESIGN.md): malformed_row, missing_field,
empty_output, exact_duplicate, near_duplicate, conflicting_label, inconsistent_format,
invalid_json_output, train_eval_leak, pii, too_long, distribution_shift.

One topic per module; this package only re-exports their public names:

* :mod:`.findings` - Finding, QualityReport, the tables, recall/precision against a manifest
* :mod:`.rows` - malformed_row, missing_field, empty_output, too_long
* :mod:`.duplicates` - exact_duplicate, near_duplicate, conflicting_label (grouping, similar pairs)
* :mod:`.format` - inconsistent_format, invalid_json_output
* :mod:`.pii` - pii (find, redact)
* :mod:`.leak` - train_eval_leak
* :mod:`.drift` - distribution_shift (label mix, length KS statistic, embedding coverage)
* :mod:`.embeddings` - the MiniLM embeddings and their on-disk cache
* :mod:`.checks` - :func:`run_checks`, every check in order
* :mod:`.cleaning` - decisions, applying them, writing the cleaned copy
* :mod:`.cli` - ``python -m helpers quality check``
"""

from helpers.data.quality.checks import run_checks
from helpers.data.quality.cleaning import (
    ACTIONS,
    DEFAULT_ACTIONS,
    apply_decisions,
    clean_file,
    decision_log,
    default_decisions,
    write_cleaned,
)
from helpers.data.quality.cli import cli_quality
from helpers.data.quality.drift import COVERAGE_COSINE, LABEL_KEYS, check_distribution_shift, label_of
from helpers.data.quality.duplicates import (
    NEAR_DUP_COSINE,
    canonical_output,
    check_exact_duplicates,
    check_near_duplicates_and_conflicts,
    identifiers,
    outputs_agree,
    similar_input_groups,
    similar_pairs,
)
from helpers.data.quality.embeddings import EMBED_CACHE_MAX, rows_needing_embeddings
from helpers.data.quality.findings import (
    CHECKS,
    WHY,
    Finding,
    QualityReport,
    examples_table,
    format_table,
    score_against_manifest,
)
from helpers.data.quality.format import check_format, dominant_json_style, json_dominant, reformat_json
from helpers.data.quality.leak import LEAK_COSINE, check_leak
from helpers.data.quality.pii import CARD, EMAIL, PHONE, check_pii, find_pii, luhn_ok, redact_pii
from helpers.data.quality.rows import check_empty_output, check_load_issues, check_too_long

__all__ = [
    "ACTIONS", "CARD", "CHECKS", "COVERAGE_COSINE", "DEFAULT_ACTIONS", "EMAIL", "EMBED_CACHE_MAX",
    "LABEL_KEYS", "LEAK_COSINE", "NEAR_DUP_COSINE", "PHONE", "WHY",
    "Finding", "QualityReport",
    "apply_decisions", "canonical_output", "check_distribution_shift", "check_empty_output",
    "check_exact_duplicates", "check_format", "check_leak", "check_load_issues",
    "check_near_duplicates_and_conflicts", "check_pii", "check_too_long", "clean_file", "cli_quality",
    "decision_log", "default_decisions", "dominant_json_style", "examples_table", "find_pii",
    "format_table", "identifiers", "json_dominant", "label_of", "luhn_ok", "outputs_agree",
    "redact_pii", "reformat_json", "rows_needing_embeddings", "run_checks", "score_against_manifest",
    "similar_input_groups", "similar_pairs", "write_cleaned",
]
