"""A panel for reading the worst examples and rating them (04_evaluation).

It wraps plain functions from :mod:`helpers.evaluation.review`: :func:`~helpers.evaluation.review.worst_examples`
picks the rows, :func:`~helpers.evaluation.review.record_rating` stores each click in
``runs/<id>/review.jsonl``. The panel keeps no state a later cell needs: the ratings file is
the record, and :func:`~helpers.evaluation.review.review_summary` reads it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from helpers.evaluation.review import VERDICTS, record_rating, worst_examples


def example_html(row: dict[str, Any], position: int, total: int) -> str:
    """One example as HTML: input, reference, both answers and their scores (04_evaluation)."""
    def block(title: str, text: str) -> str:
        return (f"<b>{html.escape(title)}</b><pre style='white-space:pre-wrap;margin:2px 0 8px 0'>"
                f"{html.escape(str(text))}</pre>")

    return (
        f"<div><b>example {position + 1} of {total}</b> &middot; id <code>{html.escape(row['id'])}</code>"
        f" &middot; baseline score {row['baseline_score']:.2f} &middot; adapter score {row['adapter_score']:.2f}</div>"
        + block("input", row["input"] or "(not available)")
        + block("reference", row["reference"])
        + block("baseline answer", row["baseline"])
        + block("adapter answer", row["adapter"])
    )


def review_panel(run_dir: str | Path, split: str = "golden", n: int = 10) -> Any:
    """Prev/Next through the ``n`` worst examples with verdict buttons and a note box (04_evaluation)."""
    import ipywidgets as w

    rows = worst_examples(run_dir, split=split, n=n)
    view = w.HTML()
    status = w.HTML()
    note = w.Text(placeholder="optional note: why?", layout=w.Layout(width="420px"))
    prev_btn, next_btn = w.Button(description="< Prev"), w.Button(description="Next >")
    verdict_btns = [w.Button(description=v.replace("_", " "), tooltip=f"adapter answer is: {v}") for v in VERDICTS]
    position = w.BoundedIntText(value=0, min=0, max=max(0, len(rows) - 1), layout=w.Layout(display="none"))

    def show(*_: Any) -> None:
        if not rows:
            view.value = "<i>no examples to review: run notebooks 02 and 03 first</i>"
            return
        view.value = example_html(rows[position.value], position.value, len(rows))
        note.value = ""

    def move(step: int) -> None:
        if rows:
            position.value = min(max(0, position.value + step), len(rows) - 1)

    def rate(verdict: str) -> None:
        if not rows:
            return
        row = rows[position.value]
        record_rating(run_dir, row["id"], verdict, note.value, split=split)
        status.value = f"saved: <code>{html.escape(row['id'])}</code> = {verdict}"
        move(1)

    prev_btn.on_click(lambda _: move(-1))
    next_btn.on_click(lambda _: move(1))
    for btn, verdict in zip(verdict_btns, VERDICTS):
        btn.on_click(lambda _, v=verdict: rate(v))
    position.observe(show, names="value")
    show()
    return w.VBox([
        w.HBox([prev_btn, next_btn, position]),
        view,
        w.HBox([w.Label("the adapter's answer is:"), *verdict_btns]),
        note,
        status,
    ])
