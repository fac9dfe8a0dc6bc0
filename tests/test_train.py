"""Training: target presets, the answer-only mask, settings validation, checkpoints and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import support_rows
from helpers.core.errors import SettingsError
from helpers.prompting.prompts import finetune_config, training_messages
from helpers.training.train import IGNORE_INDEX, TrainSettings, encode_example, resolve_targets


@pytest.fixture(scope="module")
def smol_tokenizer():
    from helpers.core.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


def test_mask_covers_exactly_the_answer_and_eos(smol_tokenizer):
    row = support_rows(1)[0]
    ex = encode_example(smol_tokenizer, training_messages(row, finetune_config()), 512)
    labelled = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE_INDEX]
    assert smol_tokenizer.decode(labelled) == row["output"] + "<|im_end|>"
    # everything before the answer is masked, and the mask is one contiguous tail
    first = next(i for i, lab in enumerate(ex["labels"]) if lab != IGNORE_INDEX)
    assert all(lab == IGNORE_INDEX for lab in ex["labels"][:first])
    assert all(lab != IGNORE_INDEX for lab in ex["labels"][first:])
    prompt_text = smol_tokenizer.decode(ex["input_ids"][:first])
    assert row["input"] in prompt_text and prompt_text.endswith("<|im_start|>assistant\n")


def test_long_rows_are_cut_from_the_prompt_side(smol_tokenizer):
    row = dict(support_rows(1)[0], input="very long message " * 400)
    ex = encode_example(smol_tokenizer, training_messages(row, finetune_config()), 128)
    assert len(ex["input_ids"]) == 128
    labelled = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE_INDEX]
    assert smol_tokenizer.decode(labelled) == row["output"] + "<|im_end|>"


def test_target_presets_resolve_to_real_module_names(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert resolve_targets(model, "q,v") == ["q_proj", "v_proj"]
    assert resolve_targets(model, "attention") == ["q_proj", "k_proj", "v_proj", "o_proj"]
    every = resolve_targets(model, "all-linear")
    assert set(every) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert "lm_head" not in every


@pytest.mark.parametrize("change, fragment", [
    ({"lora_targets": "everything"}, "lora_targets"),
    ({"scheduler": "warp"}, "scheduler"),
    ({"batch_size": 0}, "batch_size"),
    ({"quantization": "int3"}, "quantization"),
    ({"no_such_knob": 1}, "unknown training setting"),
])
def test_bad_settings_name_the_fix(change, fragment):
    from helpers.core.config import get_profile

    with pytest.raises(SettingsError, match=fragment):
        TrainSettings.from_profile(get_profile("ci"), **change)


def test_alpha_default_is_twice_rank():
    assert TrainSettings().lora_alpha == 2 * TrainSettings().lora_r


TRAIN_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from conftest import support_rows
    from helpers.core.config import get_profile
    from helpers.core.models import load_tokenizer
    from helpers.training.train import TrainSettings, TrainingJob

    profile = get_profile("ci").replace(model={model!r})
    s = TrainSettings.from_profile(profile, max_steps=12, save_steps=2, eval_steps=100, batch_size=2,
                                   learning_rate=1e-3, train_rows=None, warmup_ratio=0.0)
    slow = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    job = TrainingJob(profile, load_tokenizer(profile.model), support_rows(24), support_rows(4, 100), Path(sys.argv[1]))
    if slow:
        job.listeners.append(lambda h: time.sleep(slow))
    job.start(s, resume=(len(sys.argv) > 3))
    print(json.dumps({{"step": job.result.global_step, "resumed_from": job.result.resumed_from}}))
""")


def _lora_state(adapter: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter / "adapter_model.safetensors"))


@pytest.mark.slow
def test_kill_dash_nine_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_model_dir):
    script = tmp_path / "train_job.py"
    script.write_text(TRAIN_SCRIPT.format(tests=str(Path(__file__).parent), model=str(tiny_model_dir)))
    env = {**os.environ, "COURSE_RUNS": str(tmp_path / "runs"), "PYTHONUNBUFFERED": "1"}

    # 1. an uninterrupted reference run
    ref = tmp_path / "ref"
    out = subprocess.run([sys.executable, str(script), str(ref)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["step"] == 12

    # 2. the same run, killed with SIGKILL once checkpoint-6 exists
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(run), "0.3"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "checkpoints" / "checkpoint-6" / "trainer_state.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "final").exists(), "a killed run must not look finished"
    assert not (run / "run_card.json").exists()
    saved = sorted(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("checkpoint-*"))
    assert 6 <= max(saved) < 12
    ckpt = run / "checkpoints" / f"checkpoint-{max(saved)}"
    assert (ckpt / "optimizer.pt").exists() and (ckpt / "scheduler.pt").exists()

    # 3. resume: continues from the newest checkpoint and ends at the same step
    out = subprocess.run([sys.executable, str(script), str(run), "0", "resume"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["step"] == 12
    assert info["resumed_from"].endswith(f"checkpoint-{max(saved)}")
    card = json.loads((run / "run_card.json").read_text())
    assert card["status"] == "complete" and card["global_step"] == 12

    # with optimizer, scheduler and RNG state restored, the adapter matches the uninterrupted one
    import torch

    a, b = _lora_state(ref / "final"), _lora_state(run / "final")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    # and it really trained: the LoRA B matrices moved away from their zero init
    assert any(float(t.abs().max()) > 0 for k, t in b.items() if "lora_B" in k)
