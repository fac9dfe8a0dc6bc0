"""Which GPU profile fits a card: the preflight's estimate of each profile against the card's memory.

Introduced in ``00_setup.ipynb`` (auto-detection, :func:`helpers.core.config.detect_profile_name`) and
used by the doctor (``python -m helpers doctor``). Pure arithmetic over
:func:`helpers.training.preflight.estimate_for_settings`, so it is tested on a CPU with real card sizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.training.preflight import CUDA_CONTEXT_GIB, HEADROOM_FRACTION, KNOWN_SHAPES, MemoryEstimate, estimate_for_settings
from helpers.training.settings import TrainSettings

def shape_for_model(model: str) -> dict[str, Any] | None:
    """A model's config: a local folder's ``config.json``, else :data:`KNOWN_SHAPES`, else None (00_setup)."""
    config = Path(model).expanduser() / "config.json"
    if config.exists():
        return json.loads(config.read_text(encoding="utf-8"))
    return KNOWN_SHAPES.get(model)


def profile_estimate(profile: Any, model: str | None = None) -> MemoryEstimate | None:
    """The preflight estimate of a profile's own training settings on its model (or ``model``) (00_setup)."""
    shape = shape_for_model(model or profile.model)
    if shape is None:
        return None
    return estimate_for_settings(shape, TrainSettings.from_profile(profile), device=profile.device)


def memory_budget_gib(memory_gib: float) -> float:
    """The share of a card's memory a profile's estimate may take: (total - CUDA context) x headroom (00_setup)."""
    return max(0.0, (memory_gib - CUDA_CONTEXT_GIB) * HEADROOM_FRACTION)


def pick_profile_name(memory_gib: float, profiles: dict[str, Any] | None = None) -> str:
    """The GPU profile with the biggest preflight estimate that fits ``memory_gib`` with headroom (00_setup).

    ``"cpu"`` when none fits (a card under ~8 GiB). Sizes only: the profiles' own settings are estimated.
    """
    from helpers.core.config import PROFILES

    fitting = []
    for name, profile in (profiles or PROFILES).items():
        est = profile_estimate(profile) if profile.device == "cuda" else None
        if est is not None and est.reserved <= memory_budget_gib(memory_gib):
            fitting.append((est.reserved, name))
    return max(fitting)[1] if fitting else "cpu"


def epoch_steps(total_tokens: int, batch_size: int, max_seq_len: int, grad_accum: int = 1) -> int:
    """Optimizer steps in one epoch of packed rows: ceil(tokens / max_seq_len) rows, then batches (03).

    Best-fit packing leaves rows a little short of ``max_seq_len``, so the real count is at least this.
    """
    rows = -(-int(total_tokens) // int(max_seq_len))
    return max(1, -(-rows // (int(batch_size) * int(grad_accum))))
