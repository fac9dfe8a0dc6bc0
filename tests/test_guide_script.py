"""guide/scripts/qlora_sft.py: the course's run as a plain TRL script, run here on the ci sizes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import support_rows
from helpers.core.config import fit_compute_dtype, get_profile
from helpers.prompting.prompts import finetune_config
from helpers.training.settings import TrainSettings

SCRIPT = Path(__file__).resolve().parents[1] / "guide" / "scripts" / "qlora_sft.py"


def _script():
    spec = importlib.util.spec_from_file_location("qlora_sft", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_uses_no_helpers_and_stays_short():
    import ast

    text = SCRIPT.read_text(encoding="utf-8")
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"json", "sys", "torch", "datasets", "peft", "transformers", "trl"}, imported
    assert len(text.splitlines()) <= 50


def test_script_configs_are_the_cpu_profiles(tmp_path):
    """The script's LoraConfig and SFTConfig carry the same knobs as TrainSettings for the cpu profile."""
    script = _script()
    s = TrainSettings.from_profile(fit_compute_dtype(get_profile("cpu")))  # bf16 where this CPU has it
    ours, theirs = s.lora_config(), script.LORA
    for key in ("r", "lora_alpha", "lora_dropout", "target_modules", "bias", "task_type"):
        assert getattr(ours, key) == getattr(theirs, key), key
    a, b = s.sft_config(tmp_path, "cpu"), script.sft_config(str(tmp_path), cuda=False)
    for key in ("per_device_train_batch_size", "learning_rate", "num_train_epochs", "max_steps", "max_length",
                "packing", "completion_only_loss", "gradient_checkpointing", "bf16", "optim", "save_steps",
                "eval_steps", "seed", "lr_scheduler_type"):
        assert getattr(a, key) == getattr(b, key), key
    assert script.SYSTEM == finetune_config("extraction").instructions


@pytest.mark.slow
def test_script_trains_an_adapter(tmp_path, tiny_model_dir):
    for name, rows in (("train", support_rows(12)), ("eval", support_rows(4, 50))):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tiny_model_dir), str(tmp_path / "train.jsonl"),
                           str(tmp_path / "eval.jsonl"), str(out), "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "final" / "adapter_model.safetensors").exists()
    assert json.loads((out / "final" / "adapter_config.json").read_text())["r"] == 16
