"""The task views, the one table of them: extraction, classification, summarisation.

Introduced in ``02_prompting_baseline.ipynb``. One corpus, three questions about each message:
the extraction view's answer is the row's ``output`` (a JSON object); classification's is
``meta.category``; summarisation's is ``meta.summary``. A learner's own data (no meta) is used
as it is: its ``output`` is the answer whatever the view. The metrics
(:mod:`helpers.evaluation.metrics`), the prompts and ``python -m helpers evaluate --task`` all
take their view names and their validation from here.
"""

from __future__ import annotations

from typing import Any

from helpers.core.errors import DataError, SettingsError
from helpers.data.task_spec import load_schema
from helpers.data.text import parse_json_output

#: Every task view, in the order the command line lists them.
TASK_VIEWS = ("classification", "extraction", "summarisation")
#: The one number each view is judged by (helpers.evaluation.metrics.primary_metric reads it).
PRIMARY_METRIC = {"classification": "macro_f1", "extraction": "field_accuracy", "summarisation": "rougeL"}
_META_KEY = {"classification": "category", "summarisation": "summary"}
__all__ = ["PRIMARY_METRIC", "TASK_VIEWS", "as_view", "check_view", "load_schema", "reference_text"]


def check_view(view: str) -> str:
    """Validate a task-view name; an unknown one names the valid ones (02_prompting_baseline)."""
    if view not in TASK_VIEWS:
        raise SettingsError(f"unknown task view {view!r}: use one of {', '.join(TASK_VIEWS)}")
    return view


def reference_text(row: dict[str, Any], view: str) -> str:
    """The reference one data row holds for ``view`` (02_prompting_baseline, ``python -m helpers evaluate``).

    Rule: the row's ``reference`` key if present; else for classification / summarisation of a
    row whose ``output`` is a JSON object, ``meta.category`` / ``meta.summary`` (the bundled
    support data stores those there); else ``output`` (for chat rows: the last assistant turn).
    """
    check_view(view)
    if "reference" in row and row["reference"] is not None:
        return str(row["reference"])
    output = row.get("output")
    if output is None and isinstance(row.get("messages"), list):
        assistant = [m.get("content", "") for m in row["messages"] if isinstance(m, dict) and m.get("role") == "assistant"]
        output = assistant[-1] if assistant else None
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    meta_key = _META_KEY.get(view)
    if meta_key and meta.get(meta_key) is not None:
        if output is None or parse_json_output(str(output), strict=True) is not None:
            return str(meta[meta_key])
    if output is None:
        raise DataError(f"row {row.get('id')!r} has no 'reference' or 'output': add one of them")
    return str(output)


def as_view(rows: list[dict[str, Any]], view: str) -> list[dict[str, Any]]:
    """Copies of rows whose ``output`` is the answer for ``view`` (02_prompting_baseline)."""
    return [{**r, "output": reference_text(r, view)} for r in rows]
