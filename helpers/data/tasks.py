"""The three task views of the support corpus: extraction, classification, summarisation.

Introduced in ``02_prompting_baseline.ipynb``. One corpus, three questions about each message:
the extraction view's answer is the row's ``output`` (a JSON object); classification's is
``meta.category``; summarisation's is ``meta.summary``. A learner's own data (no meta) is used
as it is: its ``output`` is the answer whatever the view.
"""

from __future__ import annotations

from typing import Any

from helpers.core.errors import SettingsError
from helpers.data.text import load_schema

TASK_VIEWS = ("extraction", "classification", "summarisation")
__all__ = ["TASK_VIEWS", "as_view", "check_view", "load_schema", "reference"]

def check_view(view: str) -> str:
    """Validate a task-view name; an unknown one names the valid ones (02_prompting_baseline)."""
    if view not in TASK_VIEWS:
        raise SettingsError(f"unknown task view {view!r}: use one of {', '.join(TASK_VIEWS)}")
    return view


def reference(row: dict[str, Any], view: str) -> str:
    """The answer a row holds for one view (02_prompting_baseline).

    The same rule as ``python -m helpers evaluate`` uses: :func:`helpers.evaluation.metrics.reference_text`.
    """
    from helpers.evaluation.metrics import reference_text

    return reference_text(row, check_view(view))


def as_view(rows: list[dict[str, Any]], view: str) -> list[dict[str, Any]]:
    """Copies of rows whose ``output`` is the answer for ``view`` (02_prompting_baseline)."""
    return [{**r, "output": reference(r, view)} for r in rows]
