"""fp32 vs bf16 autocast on this CPU: one LoRA training step and one prefill, measured in one run.

    python benchmarks/bench_cpu_dtype.py [--json OUT]

The question behind it (the time-budget issue): the ``cpu`` profile trains and generates in
fp32; on a CPU with native bf16 (AVX512-BF16 or AMX, ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``)
bf16 autocast is faster, on one without it slower. SmolLM2-135M with the course's LoRA settings
(r 16, alpha 32, all linear layers), a packed batch of 2 x 512 tokens (the ``cpu`` profile's), and a
prefill of 10 prompts x 1,400 tokens (notebook 02's rung-5 batch). Two timed repeats each, after a
warm-up; prints seconds and the ratios. Nothing of the course uses bf16 on CPU (see the note in
helpers.core.config's cpu profile).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model

    from helpers.core.config import get_profile
    from helpers.core.models import load_causal_lm

    profile = get_profile("cpu")
    torch.manual_seed(0)
    model = get_peft_model(load_causal_lm(profile), LoraConfig(
        r=profile.lora_r, lora_alpha=profile.lora_alpha, target_modules="all-linear",
        lora_dropout=profile.lora_dropout, task_type="CAUSAL_LM"))
    vocab = model.config.vocab_size
    batch = torch.randint(0, vocab, (profile.batch_size, profile.max_seq_len))

    def step(bf16: bool) -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        model.zero_grad()
        return time.perf_counter() - t

    out: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                            f"torch {torch.__version__}, {torch.get_num_threads()} threads",
                 "native_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}
    for bf16 in (False, True):
        step(bf16)  # warm-up
        out[f"train_step_s_{'bf16' if bf16 else 'fp32'}"] = round(min(step(bf16) for _ in range(2)), 2)
    model.eval()
    prompts = torch.randint(0, vocab, (10, 1400))
    for bf16 in (False, True):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            t = time.perf_counter()
            model(input_ids=prompts)
            out[f"prefill_10x1400_s_{'bf16' if bf16 else 'fp32'}"] = round(time.perf_counter() - t, 1)
    out["train_speedup_bf16"] = round(out["train_step_s_fp32"] / out["train_step_s_bf16"], 2)
    out["prefill_speedup_bf16"] = round(out["prefill_10x1400_s_fp32"] / out["prefill_10x1400_s_bf16"], 2)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
