"""Golden is the final exam: code that chooses (prompts, settings, data sizes) refuses golden rows.

Introduced in ``02_prompting_baseline.ipynb``. Every choice the course makes - the prompt rung,
the learning rate, the number of rows or steps, a threshold - is made on **eval**. Golden is
read once per stage, by :func:`helpers.evaluation.scoring.evaluate_stage`, for the report. A
helper that compares candidates calls :func:`refuse_golden` on the rows it is given, so a
learner who passes golden rows by mistake gets one sentence instead of a quietly biased choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from helpers.core.errors import SettingsError
from helpers.data.loading import load_split
from helpers.data.text import normalise_text


def golden_keys(task: str | Path | None = None) -> tuple[set[str], set[str]]:
    """The golden split's ids and normalised inputs (the keys of notebook 01's leak check) (02)."""
    try:
        rows = load_split("golden", task)
    except Exception:  # noqa: BLE001 - a task without a golden file has nothing to protect
        return set(), set()
    return {str(r.get("id")) for r in rows}, {normalise_text(str(r.get("input", ""))) for r in rows}


def refuse_golden(rows: Sequence[dict[str, Any]], purpose: str, task: str | Path | None = None) -> None:
    """Raise when any of ``rows`` is a golden row (by id or by normalised input) (02_prompting_baseline).

    ``purpose`` names what was being chosen, e.g. "comparing prompts"; the message says to use
    eval rows instead.
    """
    ids, texts = golden_keys(task)
    if not ids:
        return
    clash = [str(r.get("id")) for r in rows
             if str(r.get("id")) in ids or normalise_text(str(r.get("input", ""))) in texts]
    if clash:
        raise SettingsError(
            f"{purpose} on golden rows ({len(clash)} of {len(rows)}, e.g. {clash[0]}): choose on eval "
            f"rows (scored_rows(profile, 'eval')); golden is read once, for the final report"
        )
