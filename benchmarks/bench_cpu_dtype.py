"""fp32 vs bf16 autocast, and TRL's fused LM head vs the model's loss vs the answer positions' loss, on this CPU, in one run.

    python benchmarks/bench_cpu_dtype.py [--steps 4] [--json OUT]

The questions behind it (the time-budget issue): how much faster does the ``cpu`` profile train
and generate with bf16 autocast on a CPU with native bf16 (AVX512-BF16 or AMX,
:func:`helpers.core.config.cpu_has_native_bf16`), and what do TRL's fused LM head and the model's own
loss (logits of every position) cost on a CPU against the loss of the answer positions only
(:func:`helpers.training.trainer.trainer_class`)? Everything goes through the course's own
functions: :func:`helpers.training.trainer.make_trainer` on the first 256 support rows with the
``cpu`` profile's settings (LoRA r 16 all-linear, 2 packed rows of 512 tokens a step), and
:func:`helpers.prompting.generation.generate` on 10 eval rows (the fine-tuning prompt, 80 new
tokens, one batch; bf16 on a bf16 copy of the weights, as generate runs it, and under autocast,
the alternative), and one prefill of 10 x 1,400 random tokens (notebook 02's longest rung). Each training arm runs ``--steps`` steps after one warm-up step (the first
step also builds the optimizer and oneDNN's kernels) and reports the median of the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def train_steps(profile, tokenizer, rows, compute_dtype: str, loss: str, steps: int) -> dict:
    """Seconds per step of the course's trainer for one (dtype, loss) arm.

    ``loss``: "answer_positions" is what the course runs on a CPU; "fused_head" (TRL's own loss)
    and "model_loss" (transformers' ``Trainer.compute_loss``: logits of every position) are the
    alternatives, swapped into the trainer ``make_trainer`` built.
    """
    from transformers import TrainerCallback

    from helpers.core.models import load_causal_lm
    from helpers.training.settings import TrainSettings
    from helpers.training.trainer import make_trainer

    p = profile.replace(compute_dtype=compute_dtype)
    s = TrainSettings.from_profile(p, max_steps=steps + 1, save_steps=10**6)
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    with tempfile.TemporaryDirectory() as tmp:
        # "cuda" would pick TRL's fused head on the CPU as well; the trainer's device is still the CPU
        trainer = make_trainer(load_causal_lm(p), tokenizer, rows, None, s, Path(tmp), "cpu")
        if loss == "fused_head":
            from trl import SFTTrainer

            trainer.__class__ = SFTTrainer  # the arm under test: TRL's own loss, fused head, on the CPU
        elif loss == "model_loss":
            import types

            from transformers import Trainer

            def model_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                return Trainer.compute_loss(self, model, {**inputs, "use_cache": False}, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)

            trainer.compute_loss = types.MethodType(model_loss, trainer)
        trainer.add_callback(Clock())
        out = trainer.train()
    return {"first_step_s": round(times[0], 2), "step_s": [round(t, 2) for t in times[1:]],
            "median_step_s": round(statistics.median(times[1:]), 2), "loss": round(float(out.training_loss), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4, help="timed steps an arm, after one warm-up step")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch

    from helpers.core.config import cpu_has_native_bf16, get_profile
    from helpers.core.models import inference_model, load_causal_lm, load_tokenizer, set_compute_dtype
    from helpers.data.loading import load_split
    from helpers.prompting.generation import generate
    from helpers.prompting.prompts import build_conversations, finetune_config

    profile = get_profile("cpu")
    tokenizer = load_tokenizer(profile.model)
    rows = load_split("train", "support", limit=profile.train_rows)
    out: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                            f"torch {torch.__version__}, {torch.get_num_threads()} threads",
                 "native_bf16": cpu_has_native_bf16(),
                 "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
                 "train": {}, "generate": {}}
    for name, dtype, loss in (("fp32_fused_head", "float32", "fused_head"), ("fp32_model_loss", "float32", "model_loss"),
                              ("fp32_answer_positions", "float32", "answer_positions"),
                              ("bf16_model_loss", "bfloat16", "model_loss"),
                              ("bf16_answer_positions", "bfloat16", "answer_positions")):
        out["train"][name] = train_steps(profile, tokenizer, rows, dtype, loss, args.steps)
        print(name, out["train"][name], flush=True)
    model = load_causal_lm(profile.replace(compute_dtype="float32"))
    conversations = build_conversations(load_split("eval", "support", limit=10), finetune_config())
    for dtype in ("float32", "bfloat16", "float32", "bfloat16"):  # twice each, interleaved
        set_compute_dtype(model, dtype)  # bfloat16: generate runs on a bf16 copy (inference_model)
        gen = generate(model, tokenizer, conversations, max_new_tokens=80, batch_size=10, progress=False)
        out["generate"].setdefault(dtype, []).append(round(gen.seconds, 2))
        print("generate", dtype, round(gen.seconds, 2), flush=True)
    set_compute_dtype(model, "float32")
    for _ in range(2):  # the alternative generate does not take: bf16 autocast over the fp32 weights
        with torch.autocast("cpu", dtype=torch.bfloat16):
            gen = generate(model, tokenizer, conversations, max_new_tokens=80, batch_size=10, progress=False)
        out["generate"].setdefault("bf16_autocast", []).append(round(gen.seconds, 2))
        print("generate bf16 autocast", round(gen.seconds, 2), flush=True)
    prompts = torch.randint(0, model.config.vocab_size, (10, 1400))  # notebook 02's rung-5 batch, prefill only
    for dtype in ("float32", "bfloat16"):
        set_compute_dtype(model, dtype)
        runner = inference_model(model)
        with torch.inference_mode():
            t0 = time.perf_counter()
            runner(input_ids=prompts)
            out[f"prefill_10x1400_s_{dtype}"] = round(time.perf_counter() - t0, 1)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):  # what generate avoids
        t0 = time.perf_counter()
        model(input_ids=prompts)
        out["prefill_10x1400_s_bf16_autocast"] = round(time.perf_counter() - t0, 1)
    out["prefill_speedup_bf16"] = round(out["prefill_10x1400_s_float32"] / out["prefill_10x1400_s_bfloat16"], 2)
    t = out["train"]
    out["train_speedup_model_loss_fp32"] = round(t["fp32_fused_head"]["median_step_s"] / t["fp32_model_loss"]["median_step_s"], 2)
    out["train_speedup_bf16_model_loss"] = round(t["fp32_fused_head"]["median_step_s"] / t["bf16_model_loss"]["median_step_s"], 2)
    out["train_speedup_answer_positions_fp32"] = round(t["fp32_model_loss"]["median_step_s"] / t["fp32_answer_positions"]["median_step_s"], 2)
    out["train_speedup_answer_positions_bf16"] = round(t["bf16_model_loss"]["median_step_s"] / t["bf16_answer_positions"]["median_step_s"], 2)
    out["generate_speedup_bf16"] = round(min(out["generate"]["float32"]) / min(out["generate"]["bfloat16"]), 2)
    out["generate_speedup_bf16_autocast"] = round(min(out["generate"]["float32"]) / min(out["generate"]["bf16_autocast"]), 2)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
