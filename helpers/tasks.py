"""The three task views of the support corpus: extraction, classification, summarisation.

Introduced in ``02_prompting_baseline.ipynb``. One corpus, three questions about each message:
the extraction view's answer is the row's ``output`` (a JSON object); classification's is
``meta.category``; summarisation's is ``meta.summary``. A learner's own data (no meta) is used
as it is: its ``output`` is the answer whatever the view.
"""

from __future__ import annotations

from typing import Any

from helpers.parsing import load_schema

TASK_VIEWS = ("extraction", "classification", "summarisation")
_META_KEY = {"classification": "category", "summarisation": "summary"}
__all__ = ["TASK_VIEWS", "as_view", "check_view", "load_schema", "reference"]

def check_view(view: str) -> str:
    """Validate a task-view name; an unknown one names the valid ones (02_prompting_baseline)."""
    if view not in TASK_VIEWS:
        from helpers.errors import SettingsError

        raise SettingsError(f"unknown task view {view!r}: use one of {', '.join(TASK_VIEWS)}")
    return view


def reference(row: dict[str, Any], view: str) -> str:
    """The answer a row holds for one view (02_prompting_baseline)."""
    key = _META_KEY.get(check_view(view))
    if key and isinstance(row.get("meta"), dict) and row["meta"].get(key):
        return str(row["meta"][key])
    return row["output"]


def as_view(rows: list[dict[str, Any]], view: str) -> list[dict[str, Any]]:
    """Copies of rows whose ``output`` is the answer for ``view`` (02_prompting_baseline)."""
    return [{**r, "output": reference(r, view)} for r in rows]
