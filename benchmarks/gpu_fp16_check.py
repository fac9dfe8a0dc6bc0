"""The fp16 fallback for cards without bf16 (T4, RTX 2080: compute capability 7.5), on a CUDA GPU.

    python benchmarks/gpu_fp16_check.py --out R.json [--tokenizer DIR]

The profile goes through ``helpers.core.config.fit_compute_dtype`` as if the card were a 7.5 one, then
the course's own path runs unchanged: NF4 load with fp16 compute, TRL's SFTTrainer with ``fp16=True``
(TRL casts the LoRA weights to bf16; ``make_trainer`` then makes them fp32, which fp16 AMP's
GradScaler needs), 4 steps with checkpoints. A random-weight model of
SmolLM2-135M's shape: the check is that the path runs and the loss stays finite, not the loss's value.
An H200 has bf16, so this proves the settings path, not a T4's kernels.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=str(ROOT / ".devcarry" / "tok"))
    ap.add_argument("--work", default="/tmp/gpu_fp16_check")
    args = ap.parse_args()
    import warnings

    import torch

    from gpu_course_check import build_random_model
    from helpers.core.config import fit_compute_dtype, get_profile
    from helpers.core.models import load_causal_lm, load_tokenizer
    from helpers.data.loading import load_split
    from helpers.training.settings import TrainSettings
    from helpers.training.trainer import train

    work = Path(args.work)
    model_dir = build_random_model(work / "model", Path(args.tokenizer))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = fit_compute_dtype(get_profile("gpu-24gb").replace(model=str(model_dir)), capability=(7, 5))
    s = TrainSettings.from_profile(profile, max_steps=4, save_steps=2, eval_steps=2)
    t0 = time.perf_counter()
    base = load_causal_lm(profile)
    r, model = train(base, load_tokenizer(profile.model), load_split("train", limit=120), load_split("eval"), s,
                     work / "adapter", device="cuda")
    losses = [h["loss"] for h in r.log_history if "loss" in h]
    kwargs = s.sft_kwargs("x", "cuda")
    result = {
        "gpu": torch.cuda.get_device_name(0), "warning": [str(w.message) for w in caught],
        "compute_dtype": profile.compute_dtype, "sft_fp16": kwargs["fp16"], "sft_bf16": kwargs["bf16"],
        "bnb_compute_dtype": str(s.bnb_config().bnb_4bit_compute_dtype),
        "lora_dtype": str(next(p for n, p in model.named_parameters() if "lora_A" in n).dtype),
        "global_step": r.global_step, "losses": losses, "seconds": round(time.perf_counter() - t0, 1),
        "ok": r.global_step == 4 and all(math.isfinite(x) for x in losses) and kwargs["fp16"],
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
