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
from helpers.prompting.prompts import finetune_config
from helpers.training.collate import IGNORE_INDEX, FixedShapeCollator
from helpers.training.dataset import encode_example, sft_dataset
from helpers.training.settings import TARGET_PRESETS, TrainSettings, target_modules


@pytest.fixture(scope="module")
def smol_tokenizer():
    from helpers.core.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


def _trl_prepared(tokenizer, model_dir, rows, packing):
    """The train dataset exactly as TRL's SFTTrainer prepares it from the course's rows."""
    from transformers import AutoModelForCausalLM

    from helpers.core.config import get_profile
    from helpers.training.trainer import make_trainer

    s = TrainSettings.from_profile(get_profile("ci"), packing=packing, fixed_shape_rows=packing, max_steps=1)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return make_trainer(model, tokenizer, rows, None, s, Path(tmp))


def test_mask_covers_exactly_the_answer_and_eos(smol_tokenizer):
    row = support_rows(1)[0]
    ex = encode_example(smol_tokenizer, row)
    labelled = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE_INDEX]
    # the answer, the end-of-turn token and the newline the chat template writes after it
    assert smol_tokenizer.decode(labelled).rstrip("\n") == row["output"] + "<|im_end|>"
    # everything before the answer is masked, and the mask is one contiguous tail
    first = next(i for i, lab in enumerate(ex["labels"]) if lab != IGNORE_INDEX)
    assert all(lab == IGNORE_INDEX for lab in ex["labels"][:first])
    assert all(lab != IGNORE_INDEX for lab in ex["labels"][first:])
    prompt_text = smol_tokenizer.decode(ex["input_ids"][:first])
    assert row["input"] in prompt_text and prompt_text.endswith("<|im_start|>assistant\n")


def test_lesson_mask_is_the_one_trl_trains_on(smol_tokenizer, tiny_model_dir):
    """encode_example (the notebook's coloured view) against TRL's own prepared dataset."""
    rows = support_rows(5)
    trainer = _trl_prepared(smol_tokenizer, tiny_model_dir, rows, packing=False)
    ours = [encode_example(smol_tokenizer, r) for r in rows]
    theirs = [trainer.train_dataset[i] for i in range(len(rows))]
    assert [o["input_ids"] for o in ours] == [t["input_ids"] for t in theirs]
    assert [o["labels"] for o in ours] == [t["labels"] for t in theirs]


def test_packed_rows_keep_examples_apart(smol_tokenizer, tiny_model_dir):
    """TRL's packing + the course's fixed-shape collator: whole examples, restarting positions, one shape."""
    rows = support_rows(12)
    trainer = _trl_prepared(smol_tokenizer, tiny_model_dir, rows, packing=True)
    assert isinstance(trainer.data_collator, FixedShapeCollator)
    packed = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    assert len(packed) < len(rows), "several examples share a row"
    assert sum(len(p["seq_lengths"]) for p in packed) == len(rows), "no example dropped or split"
    batch = trainer.data_collator(packed[:2])
    assert batch["input_ids"].shape == (2, 512) == batch["position_ids"].shape
    # a new example starts wherever the position restarts, and its first token carries no loss
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) >= len(packed[0]["seq_lengths"])
    assert all(int(batch["labels"][0, i]) == IGNORE_INDEX for i in starts)
    # the labelled tokens are exactly the answers of the packed examples
    single = {tuple(t for t, lab in zip(e["input_ids"], e["labels"]) if lab != IGNORE_INDEX)
              for e in (encode_example(smol_tokenizer, r) for r in rows)}
    n_labels = int((batch["labels"] != IGNORE_INDEX).sum())
    assert n_labels == sum(sum(1 for x in p["labels"] if x != IGNORE_INDEX) for p in packed[:2])
    assert n_labels > 0 and single


def test_target_presets_are_peft_target_modules(tiny_model_dir):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    found = {}
    for preset in TARGET_PRESETS:
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
        lora = TrainSettings(lora_targets=preset).lora_config()
        peft_model = get_peft_model(model, lora)
        found[preset] = {n.rsplit(".", 1)[-1] for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}
        assert found[preset] == set(target_modules(preset)), preset
    assert "lm_head" not in found["all-linear"]


def test_settings_come_from_the_profile_field_by_field():
    import dataclasses

    from helpers.core.config import PROFILES

    for profile in PROFILES.values():
        s = TrainSettings.from_profile(profile)
        shared = {f.name for f in dataclasses.fields(s)} & {f.name for f in dataclasses.fields(profile)}
        assert len(shared) >= 14
        assert all(getattr(s, n) == getattr(profile, n) for n in shared), profile.name


def test_library_configs_follow_the_settings():
    from helpers.core.config import get_profile

    s = TrainSettings.from_profile(get_profile("gpu-24gb"), lora_targets="q,v", lora_dropout=0.0)
    lora = s.lora_config()
    assert set(lora.target_modules) == {"q_proj", "v_proj"} and lora.lora_dropout == 0.0 and lora.r == s.lora_r
    bnb = s.bnb_config()
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    cpu = TrainSettings.from_profile(get_profile("cpu"))
    assert cpu.bnb_config() is None
    sft = cpu.sft_config("/tmp/x", "cpu")
    assert sft.completion_only_loss and sft.packing and sft.bf16 and sft.use_cpu  # bf16 autocast on fp32 weights
    assert not cpu.replace(compute_dtype="float32").sft_config("/tmp/x", "cpu").bf16
    assert sft.max_length == cpu.max_seq_len and sft.learning_rate == cpu.learning_rate
    assert sft.gradient_checkpointing is False and sft.optim == "adamw_torch"
    gpu = s.sft_kwargs("/tmp/x", "cuda")  # an SFTConfig with bf16 cannot be built without a GPU
    assert gpu["bf16"] and gpu["gradient_checkpointing"] and gpu["optim"] == "paged_adamw_8bit" and gpu["use_liger_kernel"]
    assert s.replace(checkpoint_every=2).sft_kwargs("/tmp/x", "cuda")["gradient_checkpointing"] is False


@pytest.mark.parametrize("change, fragment", [
    ({"lora_targets": "everything"}, "lora_targets"),
    ({"scheduler": "warp"}, "scheduler"),
    ({"batch_size": 0}, "batch_size"),
    ({"quantization": "int3"}, "quantization"),
    ({"packing": False}, "fixed_shape_rows"),
    ({"no_such_knob": 1}, "unknown training setting"),
])
def test_bad_settings_name_the_fix(change, fragment):
    from helpers.core.config import get_profile

    with pytest.raises(SettingsError, match=fragment):
        TrainSettings.from_profile(get_profile("ci"), **change)


@pytest.mark.parametrize("dtype, expected", [("float16", "float32"), ("bfloat16", "bfloat16")])
def test_fp16_compute_trains_fp32_adapters(tmp_path, tiny_model_dir, smol_tokenizer, dtype, expected):
    """The fp16 fallback: bf16 LoRA weights (what TRL makes of a QLoRA adapter) become fp32; bf16 stays bf16."""
    import torch
    from peft import get_peft_model

    from conftest import support_rows
    from helpers.core.config import get_profile
    from helpers.core.models import load_causal_lm
    from helpers.training.trainer import make_trainer

    profile = get_profile("ci").replace(model=str(tiny_model_dir))
    s = TrainSettings.from_profile(profile, compute_dtype=dtype, max_steps=1)
    model = get_peft_model(load_causal_lm(profile), s.lora_config())
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.to(torch.bfloat16)  # as TRL casts QLoRA adapters
    trainer = make_trainer(model, smol_tokenizer, support_rows(4), None, s, tmp_path, device="cpu")
    dtypes = {str(p.dtype) for p in trainer.model.parameters() if p.requires_grad}
    assert dtypes == {f"torch.{expected}"}


def test_the_answer_loss_on_a_cpu_is_trls_loss(tmp_path, smol_tokenizer):
    """On a CPU the trainer scores only the answer positions instead of TRL's fused LM head over
    every position: the same answer-only loss on the same packed batch (real SmolLM2, so the
    numbers mean something), as a batch mean and summed over the Trainer's token count; a batch
    without answer tokens gives a zero that backpropagates."""
    import torch
    from trl import SFTTrainer

    from conftest import support_rows
    from helpers.core.config import get_profile
    from helpers.core.models import load_causal_lm
    from helpers.training.trainer import make_trainer, trainer_class

    profile = get_profile("ci").replace(compute_dtype="float32")
    s = TrainSettings.from_profile(profile, max_steps=1)
    assert trainer_class(s, "cuda") is SFTTrainer
    cpu_class = trainer_class(s, "cpu")
    assert cpu_class is not SFTTrainer and issubclass(cpu_class, SFTTrainer)
    assert trainer_class(s.replace(fused_lm_head=False), "cuda") is not SFTTrainer
    trainer = make_trainer(load_causal_lm(profile), smol_tokenizer, support_rows(6), None, s, tmp_path, device="cpu")
    assert type(trainer) is not SFTTrainer
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()  # answer-only labels
    trainer.model.eval()
    with torch.no_grad():
        own = trainer.compute_loss(trainer.model, dict(batch))
        fused = SFTTrainer.compute_loss(trainer, trainer.model, dict(batch))
        n = int((batch["labels"][:, 1:] != -100).sum()) + 7  # as if accumulated with another batch
        own_sum = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=n)
        fused_sum = SFTTrainer.compute_loss(trainer, trainer.model, dict(batch), num_items_in_batch=n)
    assert float(own) == pytest.approx(float(fused), abs=1e-4)
    assert float(own) > 0.1  # a real loss, not a zero from an all-masked batch
    assert float(own_sum) == pytest.approx(float(fused_sum), abs=1e-4) and float(own_sum) < float(own)
    masked = {**batch, "labels": torch.full_like(batch["labels"], -100)}
    zero = trainer.compute_loss(trainer.model, masked)
    zero.backward()
    assert float(zero) == 0.0


def test_alpha_default_is_twice_rank():
    assert TrainSettings().lora_alpha == 2 * TrainSettings().lora_r


TRAIN_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from conftest import support_rows
    from helpers.core.config import get_profile
    from helpers.core.models import load_tokenizer
    from helpers.training.job import TrainingJob
    from helpers.training.settings import TrainSettings

    profile = get_profile("ci").replace(model={model!r})
    s = TrainSettings.from_profile(profile, max_steps=12, save_steps=2, eval_steps=100, batch_size=2,
                                   learning_rate=1e-3, train_rows=None, warmup_ratio=0.0)
    slow = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    job = TrainingJob(profile, load_tokenizer(profile.model), support_rows(24), support_rows(4, 100), Path(sys.argv[1]))
    if slow:
        job.listeners.append(lambda h: time.sleep(slow))
    job.start(s, resume=(len(sys.argv) > 3), name="r")  # its own folder: ADAPTER_ROOT/runs/r
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
    killed = tmp_path / "killed"
    run = killed / "runs" / "r"
    proc = subprocess.Popen([sys.executable, str(script), str(killed), "0.3"], env=env,
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
    out = subprocess.run([sys.executable, str(script), str(killed), "0", "resume"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["step"] == 12
    assert info["resumed_from"].endswith(f"checkpoint-{max(saved)}")
    card = json.loads((run / "run_card.json").read_text())
    assert card["status"] == "complete" and card["global_step"] == 12

    # with optimizer, scheduler and RNG state restored, the adapter matches the uninterrupted one
    import torch

    a, b = _lora_state(ref / "runs" / "r" / "final"), _lora_state(run / "final")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    # and it really trained: the LoRA B matrices moved away from their zero init
    assert any(float(t.abs().max()) > 0 for k, t in b.items() if "lora_B" in k)
