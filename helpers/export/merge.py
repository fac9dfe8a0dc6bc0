"""Merge an adapter into its base model for serving (03_qlora_training; notebook 06 ships it).

Load the base in bf16/fp32 (not 4-bit) first: merging into 4-bit weights would round the LoRA
update to the 4-bit grid, and the merged model would differ from the one you tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.training.artifacts import load_adapter


def merge_for_serving(base_model_fp: Any, adapter_dir: Path, target: Path) -> Path:
    """Merge an adapter into a full-precision base for serving (03_qlora_training).

    Load the base in bf16/fp32 (not 4-bit) first: merging into 4-bit weights would round the
    LoRA update to the 4-bit grid, and the merged model would differ from the one you tested.
    """
    merged = load_adapter(base_model_fp, adapter_dir).merge_and_unload()
    merged.save_pretrained(str(target), safe_serialization=True)
    return Path(target)
