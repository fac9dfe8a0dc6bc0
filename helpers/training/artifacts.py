"""What a training run leaves behind: the adapter, the run card, the loss plot.

Introduced in ``03_qlora_training.ipynb``. The adapter is written as safetensors through a
temporary folder and an atomic rename; the run card holds the settings, data hashes, versions,
hardware, time, memory and losses of the run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from helpers.core.errors import SettingsError
from helpers.core.runs import library_versions, write_json
from helpers.training.settings import TrainSettings
from helpers.training.trainer import TrainResult

if TYPE_CHECKING:  # pragma: no cover
    from helpers.core.config import Profile


def save_adapter(model: Any, tokenizer: Any, target: Path) -> Path:
    """Write the adapter (safetensors) through a temp folder and an atomic rename (03)."""
    target = Path(target)
    tmp = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)
    return target


def load_adapter(base_model: Any, adapter_dir: Path) -> Any:
    """Put a saved adapter on a freshly loaded base model, for inference (03, 04)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_model.safetensors").exists():
        raise SettingsError(f"no adapter in {adapter_dir}: run notebooks/03_qlora_training.ipynb first")
    return PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=False)


def file_sha256(path: Path) -> str:
    """SHA-256 of a data file, for the run card (03_qlora_training)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def final_losses(history: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The last train loss and eval loss in a log history (03_qlora_training)."""
    train_l = [h["loss"] for h in history if "loss" in h]
    eval_l = [h["eval_loss"] for h in history if "eval_loss" in h]
    return {"train_loss": train_l[-1] if train_l else None, "eval_loss": eval_l[-1] if eval_l else None}


def hardware() -> dict[str, Any]:
    """This machine: CPU count, GPU name and memory if any (03_qlora_training)."""
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1))
    return info


def write_run_card(
    adapter_root: Path, profile: Profile, s: TrainSettings, result: TrainResult,
    data_files: Sequence[Path], extra: dict[str, Any] | None = None,
) -> Path:
    """``run_card.json``: config, data hashes, versions, hardware, time, memory, losses (03)."""
    card = {
        "status": "complete" if result.adapter_dir else "stopped",
        "profile": profile.to_dict(),
        "settings": asdict(s),
        "data": {str(Path(p).name): file_sha256(Path(p)) for p in data_files},
        "versions": library_versions(),
        "hardware": hardware(),
        "wall_seconds": round(result.seconds, 1),
        "peak_memory_gb": result.peak_memory_gb,
        "global_step": result.global_step,
        "max_steps": result.max_steps,
        "resumed_from": result.resumed_from,
        **final_losses(result.log_history),
        **(extra or {}),
    }
    return write_json(Path(adapter_root) / "run_card.json", card)


def draw_loss(ax: Any, history: Sequence[dict[str, Any]], title: str = "LoRA training") -> None:
    """Draw train and eval loss against the step on a matplotlib axis (03_qlora_training)."""
    tr = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if tr:
        ax.plot(*zip(*tr), label="train loss", color="#1f77b4")
    if ev:
        ax.plot(*zip(*ev), "o-", label="eval loss", color="#d62728")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if tr or ev:
        ax.legend()


def loss_figure(history: Sequence[dict[str, Any]], title: str = "LoRA training") -> Any:
    """Train and eval loss as a standalone figure (no pyplot: safe from any thread) (03)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.5))
    draw_loss(fig.add_subplot(), history, title)
    fig.tight_layout()
    return fig


def save_loss_plot(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Save the loss curve as PNG (03_qlora_training)."""
    loss_figure(history).savefig(path, dpi=110)
    return Path(path)
