"""A loss plot that redraws while training runs (03_qlora_training).

The figure is rendered to PNG and pushed into an ``ipywidgets.Image``: setting a widget value
is safe from the training thread, so the plot updates live even while the kernel trains.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

from helpers.training.artifacts import loss_figure


def render_png(history: Sequence[dict[str, Any]], title: str = "LoRA training") -> bytes:
    """The loss curve as PNG bytes (03_qlora_training)."""
    buf = io.BytesIO()
    loss_figure(history, title).savefig(buf, format="png", dpi=90)
    return buf.getvalue()


class LiveLossPlot:
    """An Image widget plus a ``__call__(history)`` that redraws it (03_qlora_training)."""

    def __init__(self, title: str = "LoRA training", every: int = 1) -> None:
        import ipywidgets as w

        self.title = title
        self.every = max(1, every)
        self.widget = w.Image(format="png", layout=w.Layout(width="600px"))
        self.widget.value = render_png([], title)
        self._calls = 0

    def __call__(self, history: Sequence[dict[str, Any]]) -> None:
        self._calls += 1
        if self._calls % self.every == 0 or any("eval_loss" in h for h in history[-1:]):
            self.widget.value = render_png(history, self.title)
