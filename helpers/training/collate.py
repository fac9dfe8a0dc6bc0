"""The course's one addition to TRL's data path: packed rows of one fixed shape.

Introduced in ``03_qlora_training.ipynb`` (measured in ``guide/hardware_and_cost.md``).
TRL packs whole examples with best-fit decreasing into rows of at most ``max_length`` tokens
(``seq_lengths`` says where each example starts) and its padding-free collator then flattens a
whole batch into *one* row of ``batch x max_length`` tokens. Two costs follow, both measured
by ``benchmarks/bench_qlora.py``: attention over the flattened row spans every example of the
batch (the block-diagonal mask skips none of that work on SDPA), and every batch has a new
length, so on CUDA cuDNN's SDPA re-plans for each new shape (2-3 s a shape on an H200).

:class:`FixedShapeCollator` keeps TRL's packing and stacks the packed rows instead: a
``(batch, max_length)`` tensor, positions restarting at 0 for each example (transformers'
SDPA turns restarting positions into a block-diagonal causal mask), the tail of a short row
numbered as one more, ignored sequence. The switch is ``TrainSettings.fixed_shape_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

IGNORE_INDEX = -100


def positions_from_lengths(seq_lengths: Sequence[int]) -> list[int]:
    """Position ids that restart at 0 for each packed example (03_qlora_training)."""
    out: list[int] = []
    for n in seq_lengths:
        out.extend(range(int(n)))
    return out


@dataclass
class FixedShapeCollator:
    """Stack TRL-packed rows into one ``(rows, max_length)`` shape (03_qlora_training).

    The first label of every example is ignored, as in TRL's padding-free collator, so no
    token learns to predict across an example boundary.
    """

    pad_token_id: int
    max_length: int

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max([self.max_length] + [len(r["input_ids"]) for r in rows])
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            pos = positions_from_lengths(row["seq_lengths"]) if "seq_lengths" in row else list(range(n))
            ids[i, :n] = torch.as_tensor(list(row["input_ids"]))
            labels[i, :n] = torch.as_tensor(list(row.get("labels", row["input_ids"])))
            positions[i, :n] = torch.as_tensor(pos)
            positions[i, n:] = torch.arange(width - n)
        labels[positions == 0] = IGNORE_INDEX
        return {"input_ids": ids, "labels": labels, "position_ids": positions}

