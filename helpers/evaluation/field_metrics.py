"""Extraction metrics: is the answer a JSON object, and which of its fields are right?

Introduced in ``04_evaluation.ipynb`` (through :func:`helpers.evaluation.metrics.score`). The
answer should be a JSON object with the reference's fields. Per row: ``json_valid_strict``
(whole answer is one object), ``json_valid`` (an object can be found: tolerant parse),
``field_accuracy`` (mean over fields of per-field exact match after :func:`normalise_value`;
``None == None`` is correct; an unparseable answer gets every field wrong), ``exact_match``
(every field right), ``field_f1`` counts (a predicted non-null value is a TP if it equals the
reference, else an FP; a non-null reference value not matched is an FN) and
``field_accuracy.<field>`` for each field.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from helpers.core.errors import DataError
from helpers.data.text import normalise_text, parse_json_output

NULL_STRINGS = {"", "null", "none", "n/a", "na"}


def normalise_value(value: Any) -> str | None:
    """One extracted value, made comparable: case, spacing, ``_``/``-`` and end punctuation ignored (04_evaluation).

    So ``"Cancel order"`` matches the label ``"cancel_order"`` and ``"a-1"`` matches ``"A-1"``;
    the text rule is :func:`helpers.data.text.normalise_text` with ``keep_inner_punctuation=True``
    (``"3.5"`` and ``"35"`` stay different).

    ``None``, ``""``, ``"null"``, ``"none"`` and ``"n/a"`` all mean "absent" (``None``);
    numbers and booleans become their text; lists and objects their sorted JSON.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False).casefold()
    text = normalise_text(value, keep_inner_punctuation=True)
    return None if text in NULL_STRINGS else text


def _reference_object(ref: str, i: int) -> dict:
    obj = parse_json_output(ref, strict=False)
    if obj is None:
        raise DataError(
            f"reference {i + 1} is not a JSON object: extraction references must be JSON "
            f"(use --task classification or summarisation for plain-text references)"
        )
    return obj


def _fields(ref_objs: list[dict]) -> list[str]:
    fields: list[str] = []
    for obj in ref_objs:
        for key in obj:
            if key not in fields:
                fields.append(key)
    return fields


def extraction_stats(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Per-row extraction statistics for :func:`helpers.evaluation.metrics.row_stats` (04_evaluation)."""
    import numpy as np

    refs = [_reference_object(r, i) for i, r in enumerate(references)]
    fields = _fields(refs)
    n = len(refs)
    strict = np.zeros(n)
    tolerant = np.zeros(n)
    cells = np.zeros((n, max(len(fields), 1)))
    counts = np.zeros((n, 3))  # tp, fp, fn
    for i, (pred, ref) in enumerate(zip(predictions, refs)):
        strict[i] = parse_json_output(pred, strict=True) is not None
        obj = parse_json_output(pred, strict=False)
        tolerant[i] = obj is not None
        for j, field in enumerate(fields):
            r = normalise_value(ref.get(field))
            p = normalise_value(obj.get(field)) if obj is not None else None
            right = obj is not None and p == r
            cells[i, j] = right
            if p is not None:
                counts[i, 0 if p == r else 1] += 1
            if r is not None and p != r:
                counts[i, 2] += 1
    stats: dict[str, Any] = {
        "json_valid_strict": strict,
        "json_valid": tolerant,
        "field_accuracy": cells[:, : len(fields)].mean(axis=1) if fields else np.zeros(n),
        "exact_match": cells[:, : len(fields)].all(axis=1).astype(float) if fields else np.zeros(n),
        "field_f1": counts,
    }
    for j, field in enumerate(fields):
        stats[f"field_accuracy.{field}"] = cells[:, j]
    return stats
