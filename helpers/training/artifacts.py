"""What a training run leaves behind: its own folder with the adapter, the run card, the loss plot.

Introduced in ``03_qlora_training.ipynb``. Every training run writes into its own folder under
the run's adapter area, so an exercise never resumes (or rotates away) another run's checkpoints::

    runs/<run-id>/adapter/
      runs/<name>/                 one training run: a timestamp, or a name you give it
        checkpoints/checkpoint-N/  Trainer checkpoints (optimizer + scheduler + RNG state)
        final/                     adapter_model.safetensors + adapter_config.json
        run_card.json, loss.png
      LATEST                       the name of the newest finished run: final_adapter() reads it
      metrics.json, predictions_*  the evaluation notebook 03 writes for notebook 04

The adapter is written as safetensors through a temporary folder and an atomic rename; the run
card holds the settings, data hashes, versions, hardware, time, memory and losses of the run.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from helpers.core.errors import SettingsError
from helpers.core.runs import file_sha256, library_versions, write_json
from helpers.training.settings import TrainSettings
from helpers.training.trainer import TrainResult

if TYPE_CHECKING:  # pragma: no cover
    from helpers.core.config import Profile


RUNS_SUBDIR = "runs"
LATEST_FILE = "LATEST"


def run_folder(adapter_root: Path, name: str) -> Path:
    """The folder of the training run ``name`` under ``adapter_root`` (03_qlora_training)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", name or ""):
        raise SettingsError(f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 80)")
    return Path(adapter_root) / RUNS_SUBDIR / name


def new_run_name(adapter_root: Path, name: str | None = None) -> str:
    """Reserve a new run folder: ``name`` or a timestamp, with ``-2``, ``-3`` when taken; returns the name (03).

    The folder is created here, so two runs started in the same second still get two folders.
    """
    base = name or time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        candidate = base if n == 1 else f"{base}-{n}"
        try:
            run_folder(adapter_root, candidate).mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise SettingsError(f"too many runs named {base!r} in {adapter_root}: pick another name")


def latest_run(adapter_root: Path) -> str | None:
    """The training run under ``adapter_root`` with the newest checkpoint, the one a resume continues, or None (03)."""
    ckpts = list((Path(adapter_root) / RUNS_SUBDIR).glob("*/checkpoints/checkpoint-*/trainer_state.json"))
    if not ckpts:
        return None
    return max(ckpts, key=lambda p: p.stat().st_mtime).parents[2].name


def mark_latest(adapter_root: Path, name: str) -> Path:
    """Point ``adapter_root/LATEST`` at the finished run ``name`` (03_qlora_training)."""
    path = Path(adapter_root) / LATEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(name + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def final_adapter(adapter_root: Path) -> Path:
    """The finished adapter of the newest finished run, the one later notebooks load (03, 04).

    Raises :class:`SettingsError` naming notebook 03 when no run has finished yet.
    """
    pointer = Path(adapter_root) / LATEST_FILE
    if pointer.exists():
        final = run_folder(adapter_root, pointer.read_text(encoding="utf-8").strip()) / "final"
        if (final / "adapter_model.safetensors").exists():
            return final
    raise SettingsError(f"no finished training run in {adapter_root}: run notebooks/03_qlora_training.ipynb first")


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
    run_dir: Path, profile: Profile, s: TrainSettings, result: TrainResult,
    data_files: Sequence[Path], extra: dict[str, Any] | None = None,
) -> Path:
    """``run_card.json`` in the run's folder: config, data hashes, versions, hardware, time, memory, losses (03)."""
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
    return write_json(Path(run_dir) / "run_card.json", card)


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
