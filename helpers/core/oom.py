"""Out-of-memory handling: free memory, keep the kernel alive, say which setting to lower.

Introduced in ``03_qlora_training.ipynb``. A CUDA OOM inside :func:`oom_guard` becomes a
:class:`OutOfMemory` error whose one message lists the settings to lower, in the order that
saves the most memory for the least quality.
"""

from __future__ import annotations

import contextlib
import gc
import traceback
from typing import Iterator

from helpers.core.errors import SettingsError

TRAIN_ADVICE = (
    "batch_size (raise grad_accum to keep the effective batch)",
    "max_seq_len",
    "turn gradient_checkpointing on",
    "lora_r, or lora targets 'q,v' instead of 'all-linear'",
    "a smaller model / profile",
)
GENERATE_ADVICE = ("gen_batch_size", "max_new_tokens", "a smaller model / profile")


class OutOfMemory(SettingsError):
    """Raised after an OOM was caught and memory freed; the message names what to lower (03_qlora_training)."""


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA (or CPU allocator) out-of-memory error (03_qlora_training)."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower()


def free_memory() -> None:
    """Collect garbage and return cached CUDA blocks to the driver (03_qlora_training)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    except ImportError:  # pragma: no cover
        pass


def advice(kind: str = "train") -> str:
    """The settings to lower, in order, as one sentence (03_qlora_training)."""
    steps = TRAIN_ADVICE if kind == "train" else GENERATE_ADVICE
    return "lower, in this order: " + "; then ".join(f"{i}) {s}" for i, s in enumerate(steps, 1))


@contextlib.contextmanager
def oom_guard(kind: str = "train") -> Iterator[None]:
    """Turn an out-of-memory error into :class:`OutOfMemory` after freeing memory (03)."""
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - re-raised unless it is an OOM
        if not is_oom(exc):
            raise
        # The traceback's frames hold the failed step's tensors: drop them before freeing.
        traceback.clear_frames(exc.__traceback__)
        del exc
        free_memory()
        raise OutOfMemory(f"out of memory during {'training' if kind == 'train' else 'generation'}; memory was freed and the kernel is fine: {advice(kind)}") from None
