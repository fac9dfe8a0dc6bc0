"""The course's CUDA path end to end, on one GPU, with a random-weight model of SmolLM2's shape.

    python benchmarks/gpu_course_check.py --out results.json [--tokenizer DIR]

Nothing is downloaded: the model is SmolLM2-135M's architecture with random bf16 weights and
the real tokenizer (copied from the converted folder in .cache/models, or --tokenizer). It runs
the same functions notebook 03 calls, with the gpu-24gb profile's sizes shrunk to a few steps:

1. load in 4-bit NF4 (double quantisation, bf16 compute) and train with the fast recipe
   (packing, fused loss, Liger when installed, paged 8-bit AdamW), checkpoints every 2 steps;
2. kill -9 a second training mid-run, resume it, and check it ends at the same step;
3. provoke a real CUDA out-of-memory error, check it is caught, memory is freed and the next
   step works;
4. batched generation and scoring through ``evaluate_stage`` (the notebooks' scoring path).
Each step records pass/fail and its figures in the JSON; one failing step does not stop the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_random_model(target: Path, tokenizer_dir: Path) -> Path:
    """SmolLM2-135M's config with random bf16 weights, saved as safetensors, plus its tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cfg = AutoConfig.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(str(target), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(str(target))
    return target


def step(results: dict, name: str, fn) -> None:
    t0 = time.perf_counter()
    try:
        results[name] = {"ok": True, **(fn() or {})}
    except Exception as exc:  # noqa: BLE001 - recorded, the next step still runs
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                         "trace": traceback.format_exc()[-2500:]}
    results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    print(name, json.dumps(results[name])[:600], flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=str(ROOT / ".cache" / "models" / "smollm2-135m"))
    ap.add_argument("--work", default="/tmp/gpu_course_check")
    args = ap.parse_args()
    import torch

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ["COURSE_RUNS"] = str(work / "runs")
    results: dict = {"torch": torch.__version__, "cuda": torch.version.cuda,
                     "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    model_dir = build_random_model(work / "model", Path(args.tokenizer))
    os.environ["COURSE_MODEL"] = str(model_dir)

    from helpers.core.config import get_profile

    profile = get_profile("gpu-24gb").replace(model=str(model_dir), eval_rows=32, golden_rows=32, max_new_tokens=48)

    def doctor() -> dict:
        from helpers.core.doctor import check_bnb_4bit, check_cuda

        return {"cuda": check_cuda().detail, "bnb": check_bnb_4bit().detail, "bnb_ok": check_bnb_4bit().ok}

    def train_nf4() -> dict:
        from helpers.data.loading import load_split
        from helpers.core.models import load_causal_lm, load_tokenizer
        from helpers.training.settings import TrainSettings
        from helpers.training.trainer import train

        s = TrainSettings.from_profile(profile, max_steps=6, save_steps=2, eval_steps=3)
        base = load_causal_lm(profile)
        assert getattr(base, "is_loaded_in_4bit", False), "base model is not 4-bit"
        tok = load_tokenizer(profile.model)
        torch.cuda.reset_peak_memory_stats()
        r, model = train(base, tok, load_split("train", limit=200), load_split("eval"), s, work / "adapter", device="cuda")
        ckpts = sorted(p.name for p in (work / "adapter" / "checkpoints").glob("checkpoint-*"))
        return {"global_step": r.global_step, "seconds": round(r.seconds, 1), "peak_gb": r.peak_memory_gb,
                "checkpoints": ckpts, "sft_config": {k: str(v) for k, v in s.sft_kwargs("x", "cuda").items()},
                "lora_dtype": str(next(p for n, p in model.named_parameters() if "lora_A" in n).dtype),
                "final_loss": [h["loss"] for h in r.log_history if "loss" in h][-1]}

    def kill_and_resume() -> dict:
        run = work / "killed"
        env = {**os.environ, "COURSE_PROFILE": "gpu-24gb", "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "helpers", "train", "--run", str(run), "--name", "killed", "--max-steps", "120", "--save-steps", "4"]
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        folder = run / "adapter" / "runs" / "killed"  # each training run has its own folder
        target = folder / "checkpoints" / "checkpoint-8" / "trainer_state.json"
        while time.time() < deadline and not target.exists() and proc.poll() is None:
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        saved = sorted(int(p.name.split("-")[1]) for p in (folder / "checkpoints").glob("checkpoint-*"))
        assert not (folder / "final").exists(), "killed run looks finished"
        out = subprocess.run(cmd + ["--resume"], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=400)
        assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-1500:]
        info = json.loads(out.stdout.strip().splitlines()[-1])
        assert info["global_step"] == 120, info
        return {"killed_after_checkpoints": saved, "resumed": info}

    def oom() -> dict:
        from helpers.data.loading import load_split
        from helpers.core.models import load_causal_lm, load_tokenizer
        from helpers.core.oom import OutOfMemory
        from helpers.training.settings import TrainSettings
        from helpers.training.trainer import dry_run

        tok = load_tokenizer(profile.model)
        model = load_causal_lm(profile)
        rows = load_split("train", limit=64)
        before = torch.cuda.memory_allocated()
        # unpacked, so a batch really holds 2048 examples (packed, the sample filled too few rows to OOM)
        huge = TrainSettings.from_profile(profile, batch_size=2048, max_seq_len=8192, packing=False, fixed_shape_rows=False)
        try:
            dry_run(model, tok, rows * 64, huge, "cuda")
            raise AssertionError("expected an out-of-memory error")
        except OutOfMemory as exc:
            message = str(exc)
        after = torch.cuda.memory_allocated()
        ok_step, _ = dry_run(load_causal_lm(profile), tok, rows, TrainSettings.from_profile(profile, batch_size=2, max_seq_len=512), "cuda")
        return {"message": message, "allocated_before_gb": round(before / 2**30, 2),
                "allocated_after_oom_gb": round(after / 2**30, 2), "next_step": ok_step}

    def generate_and_score() -> dict:
        from helpers.core.models import load_causal_lm, load_tokenizer
        from helpers.prompting.prompts import finetune_config
        from helpers.evaluation.scoring import evaluate_stage

        rec = evaluate_stage(load_causal_lm(profile), load_tokenizer(profile.model), profile,
                             work / "runs" / "gen", finetune_config(), splits=("eval",))
        return {"speed": rec["speed"], "n_eval": rec["n_eval"], "json_valid": rec["eval"]["json_valid"]}

    for name, fn in [("doctor", doctor), ("train_nf4", train_nf4), ("kill_and_resume", kill_and_resume),
                     ("oom", oom), ("generate_and_score", generate_and_score)]:
        step(results, name, fn)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(v.get("ok") for v in results.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
