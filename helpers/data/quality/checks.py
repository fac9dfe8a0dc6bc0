"""Running every check on one file: :func:`run_checks` returns a :class:`QualityReport`.

Introduced in ``01_data_quality.ipynb``. The order is fixed by :data:`CHECKS`; the checked file
(and the eval and production files) are only ever read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from helpers.core.config import Profile
from helpers.data.loading import LoadResult, load_objects, load_rows
from helpers.data.quality.drift import check_distribution_shift
from helpers.data.quality.duplicates import (
    check_exact_duplicates,
    check_near_duplicates_and_conflicts,
    similar_input_groups,
)
from helpers.data.quality.embeddings import embed_needed, rows_needing_embeddings
from helpers.data.quality.findings import CHECKS, Finding, QualityReport
from helpers.data.quality.format import check_format
from helpers.data.quality.leak import check_leak
from helpers.data.quality.pii import check_pii
from helpers.data.quality.rows import check_empty_output, check_load_issues, check_too_long
from helpers.data.tokens import get_tokenizer


def _as_result(path_or_rows: Any) -> LoadResult:
    if isinstance(path_or_rows, LoadResult):
        return path_or_rows
    if isinstance(path_or_rows, (str, Path)):
        return load_rows(path_or_rows)
    return load_objects(path_or_rows)


def run_checks(
    path_or_rows: Any,
    eval_path: str | Path | None = None,
    production_path: str | Path | None = None,
    max_seq_len: int | None = None,
    use_embeddings: bool = True,
    tokenizer: Any = None,
    embedding_cache: bool | str | Path = True,
    *,
    profile: Profile,
) -> QualityReport:
    """Run every check on a file (or rows) and return a :class:`QualityReport` (01_data_quality).

    ``profile`` (required) decides ``max_seq_len`` and the tokenizer of the too_long check;
    passing ``max_seq_len`` or ``tokenizer`` overrides it. ``eval_path`` enables
    train_eval_leak, ``production_path`` distribution_shift. ``use_embeddings=False`` skips MiniLM
    (text rules only). ``embedding_cache``: True reuses the on-disk embedding cache, a path uses
    that cache file, False encodes every text afresh. The checked file is only read.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        t0 = now

    result = _as_result(path_or_rows)
    rows = result.rows
    report = QualityReport(path=str(result.path), n_rows=len(rows) + len(result.issues), rows=rows)
    report.notices = [w for w, i in zip(result.warnings(), result.issues + result.notices) if i in result.notices]
    findings: list[Finding | None] = list(check_load_issues(result))
    findings.append(check_empty_output(rows))
    findings.append(check_exact_duplicates(rows))
    lap("load+basic")
    eval_rows = load_rows(eval_path).rows if eval_path else []
    prod_rows = load_rows(production_path, require_output=False).rows if production_path else []
    emb = eval_emb = prod_emb = None
    if use_embeddings:
        need_train, need_eval = rows_needing_embeddings(rows, eval_rows, prod_rows)
        emb, eval_emb, prod_emb = embed_needed(rows, eval_rows, prod_rows, need_train, need_eval, embedding_cache)
        n_texts = len(rows) + len(eval_rows) + len(prod_rows)
        n_embedded = sum(need_train) + sum(need_eval) + len(prod_rows)
        if n_embedded < n_texts:
            report.notices.append(
                f"embedded {n_embedded} of {n_texts} inputs: the others share their identifiers (order ids, "
                "numbers) with no other row, so no embedding pair can involve them")
        lap("embeddings")
    findings += check_near_duplicates_and_conflicts(rows, similar_input_groups(rows, emb))
    findings += check_format(rows)
    findings.append(check_pii(rows))
    lap("duplicates+format+pii")
    if eval_path:
        findings.append(check_leak(rows, eval_rows, emb, eval_emb))
    max_seq_len = max_seq_len or profile.max_seq_len
    try:
        if tokenizer is None:
            tokenizer = get_tokenizer(profile)
        findings.append(check_too_long(rows, max_seq_len, tokenizer))
    except Exception as exc:  # noqa: BLE001 - a missing tokenizer skips one check, not all of them
        report.notices.append(f"too_long skipped: tokenizer unavailable ({str(exc).splitlines()[0]})")
    lap("too_long")
    if production_path:
        findings.append(check_distribution_shift(rows, prod_rows, emb, prod_emb))
        lap("distribution_shift")
    order = {c: i for i, c in enumerate(CHECKS)}
    report.findings = sorted((f for f in findings if f is not None), key=lambda f: order[f.check])
    report.seconds = timings
    return report
