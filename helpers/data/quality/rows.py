"""Row-level checks: lines that do not load, empty answers, rows too long to train on.

Introduced in ``01_data_quality.ipynb``. ``malformed_row`` and ``missing_field`` come from the
loader's per-line issues (:func:`helpers.data.loading.load_rows`); ``too_long`` counts tokens
with the profile's tokenizer, input + output, against ``max_seq_len``.
"""

from __future__ import annotations

from typing import Any, Sequence

from helpers.data.loading import LoadResult
from helpers.data.quality.findings import Finding, make_finding
from helpers.data.tokens import token_stats


def check_load_issues(result: LoadResult) -> list[Finding]:
    """malformed_row and missing_field, from the loader's per-line issues (01_data_quality)."""
    out = []
    for check in ("malformed_row", "missing_field"):
        issues = [i for i in result.issues if i.check == check]
        if issues:
            first = issues[0]
            msg = (f"{len(issues)} line(s) cannot be used as training rows (e.g. line {first.line}: "
                   f"{first.message}); fix or drop them")
            f = Finding(check, sorted(i.line for i in issues), msg,
                        [{"line": i.line, "id": "", "input": "", "output": "", "problem": i.message} for i in issues[:3]])
            out.append(f)
    return out


def check_empty_output(rows: Sequence[dict[str, Any]]) -> Finding | None:
    """Rows whose output is empty or whitespace only (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    lines = [r["line"] for r in rows if not r["output"].strip()]
    return make_finding("empty_output", lines, f"{len(lines)} row(s) have an empty output: drop them or write the answer", by_line)


def check_too_long(rows: Sequence[dict[str, Any]], max_seq_len: int, tokenizer: Any) -> Finding | None:
    """Rows whose input + output exceed ``max_seq_len`` tokens of the profile's tokenizer (01)."""
    by_line = {r["line"]: r for r in rows}
    stats = token_stats(rows, tokenizer, chat_template=False)
    over = stats[stats["total_tokens"] > max_seq_len]
    longest = int(over["total_tokens"].max()) if len(over) else 0
    return make_finding(
        "too_long", over["line"].tolist(),
        f"{len(over)} row(s) exceed max_seq_len={max_seq_len} tokens (longest {longest}): "
        f"shorten or drop them, or raise max_seq_len",
        by_line, tokens={int(a): int(b) for a, b in zip(over["line"], over["total_tokens"])},
    )
