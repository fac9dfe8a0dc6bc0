"""QLoRA training speed and memory: the plain baseline, each technique alone, and the recipe.

Trains the course's QLoRA setup (NF4 + double quant, bf16 compute, LoRA r=16 alpha=32 on all
linear layers, answer-only loss) for a fixed number of steps on random-weight models of real
shapes (``benchmarks/configs/``), through ``transformers.Trainer``, and writes one JSON file.

Data: example lengths drawn from a stated long-tailed distribution, log-normal with median
0.3 x seq_len and sigma 0.6, clipped to [32, seq_len]; the last 30% of each example is the
answer (the only tokens with labels). The baseline pads each batch of ``batch`` examples to its
longest; packing fills rows of ``batch x seq_len`` tokens with whole examples.

Reported per run: non-padding tokens/s, s/step (median), peak reserved and allocated GPU memory,
and MFU = model FLOPs / (time x measured bf16 peak). Model FLOPs per trained token follow the
convention ``4 x N_matmul + 6 x N_lora`` (frozen base: forward 2N + input-gradient 2N; LoRA
weights also get weight gradients) plus attention ``6 x n_layers x d_attn x L`` per token for a
causal sequence of length L (QK^T and AV, forward and backward, half the square). Checkpointing
recomputation and padding are NOT counted: MFU is useful work only. The bf16 peak is measured in
the same run with an 8192^3 matmul on random data.

    python benchmarks/bench_qlora.py --out benchmarks/results/qlora_h200.json
    python benchmarks/bench_qlora.py --smoke --out /tmp/smoke.json   # CPU, tiny model, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from randmodel import REPO, build_random_model, lengths_from_batch, load_shape  # noqa: E402

from helpers.training.packing import (  # noqa: E402
    BASELINE,
    RECIPE,
    RECIPE_NO_CHECKPOINTING,
    EfficiencyConfig,
    apply_liger,
    batch_token_counts,
    cast_adapters,
    collate_padded,
    collate_packed,
    liger_available,
    pack_examples,
    prepare_for_training,
    trainer_class,
    training_arguments_kwargs,
)

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}
LENGTH_DIST = {"kind": "lognormal", "median_frac_of_seq_len": 0.3, "sigma": 0.6, "min": 32, "answer_frac": 0.3}

VARIANTS: dict[str, EfficiencyConfig] = {
    "baseline": BASELINE,
    "+packing": BASELINE.replace(packing=True),
    "+liger": BASELINE.replace(liger=True, fused_loss=True),
    "+no-upcast": BASELINE.replace(upcast=False),
    "+ckpt-non-reentrant": BASELINE.replace(checkpointing="non-reentrant"),
    "+ckpt-off": BASELINE.replace(checkpointing="off"),
    "+paged-adamw-8bit": BASELINE.replace(optim="paged_adamw_8bit"),
    "recipe-24gb": RECIPE,
    "recipe-ckpt-every-2": RECIPE.replace(checkpoint_every=2),  # recipe-24gb, half the recomputation
    "recipe": RECIPE_NO_CHECKPOINTING,
    # pushing MFU (issue 8): each change alone on top of `recipe`, then all together
    "recipe+dropout-0": RECIPE_NO_CHECKPOINTING,
    "recipe+bf16-adapters": RECIPE_NO_CHECKPOINTING.replace(adapter_dtype="bfloat16"),
    "recipe+fused-adamw": RECIPE_NO_CHECKPOINTING.replace(optim="adamw_torch_fused"),
    "recipe-max": RECIPE_NO_CHECKPOINTING.replace(adapter_dtype="bfloat16", optim="adamw_torch_fused"),
    "recipe-24gb-max": RECIPE.replace(adapter_dtype="bfloat16", optim="adamw_torch_fused"),
}
# LoRA settings that differ from LORA for some variants (dropout is a LoRA setting, not a switch)
VARIANT_LORA: dict[str, dict[str, Any]] = {
    "recipe+dropout-0": {"lora_dropout": 0.0},
    "recipe-max": {"lora_dropout": 0.0},
    "recipe-24gb-max": {"lora_dropout": 0.0},
}
# (shape, seq_len, variants) in priority order: the targets first.
DEFAULT_PLAN = [
    ("llama3-8b", 2048, list(VARIANTS) + ["recipe@8192"]),
    ("qwen2.5-14b", 2048, ["baseline", "recipe-24gb", "recipe-ckpt-every-2", "recipe"]),
    ("llama3-8b", 512, ["baseline", "recipe-24gb", "recipe"]),
    ("qwen2.5-14b", 512, ["baseline", "recipe-24gb", "recipe"]),
]
SMOKE_PLAN = [("tiny", 128, ["baseline", "recipe-24gb", "recipe"])]


def draw_examples(n: int, seq_len: int, vocab: int, seed: int) -> list[dict[str, list[int]]]:
    """``n`` examples with long-tailed lengths and answer-only labels (see LENGTH_DIST)."""
    import random

    rng = random.Random(seed)
    mu = math.log(LENGTH_DIST["median_frac_of_seq_len"] * seq_len)
    out = []
    for _ in range(n):
        length = int(round(rng.lognormvariate(mu, LENGTH_DIST["sigma"])))
        length = max(LENGTH_DIST["min"], min(seq_len, length))
        ids = [rng.randrange(3, vocab) for _ in range(length)]
        answer = max(1, int(length * LENGTH_DIST["answer_frac"]))
        labels = [-100] * (length - answer) + ids[length - answer :]
        out.append({"input_ids": ids, "labels": labels})
    return out


def measure_bf16_peak(device: str) -> dict[str, Any]:
    """Median TFLOP/s of an 8192^3 bf16 matmul on random data (the MFU denominator)."""
    import torch

    if device != "cuda":
        return {"tflops": None, "note": "no GPU: MFU not computed"}
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(30):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    med = statistics.median(times)
    del a, b
    torch.cuda.empty_cache()
    return {"tflops": round(2 * n**3 / med / 1e12, 1), "shape": [n, n, n], "timed": 30, "stat": "median"}


def flops_per_token(facts: dict[str, Any], shape: dict[str, Any], lora_params: int, mean_len_weighted: float) -> float:
    """Model FLOPs per trained token (convention in the module docstring)."""
    n_matmul = facts["params_decoder_linear"] + facts["params_lm_head"]
    d_attn = shape["num_attention_heads"] * (shape.get("head_dim") or shape["hidden_size"] // shape["num_attention_heads"])
    attention = 6 * shape["num_hidden_layers"] * d_attn * mean_len_weighted
    return 4 * n_matmul + 6 * lora_params + attention


def versions() -> dict[str, str]:
    """Library versions, GPU name and driver for the record."""
    import importlib.metadata as md

    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("transformers", "peft", "bitsandbytes", "accelerate", "liger-kernel", "triton"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "absent"
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        out["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        out["cuda"] = torch.version.cuda or ""
    else:
        out["gpu"] = "none (CPU)"
    return out


def run_one(shape_name: str, seq_len: int, variant: str, config: EfficiencyConfig, args: argparse.Namespace,
            device: str, peak: dict[str, Any]) -> dict[str, Any]:
    """Build the model, train ``warmup + steps`` steps with ``config``, return the measurements."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import TrainerCallback, TrainingArguments

    shape = load_shape(shape_name)
    tokens_per_step = args.tokens_per_step
    if "@" in variant:  # e.g. "recipe@8192": another token budget per step
        tokens_per_step = int(variant.split("@")[1])
    if device != "cuda":  # CPU: no Triton kernels, no paged optimiser, fp32
        config = config.replace(liger=False, optim="adamw_torch")
    batch = max(1, tokens_per_step // seq_len)
    profiling = bool(args.profile_dir) and variant in args.profile.split(",") and seq_len == args.profile_len
    n_steps = args.warmup + args.steps + (2 if profiling else 0)
    examples = draw_examples(max(64, n_steps * batch * 4), seq_len, shape["vocab_size"], args.seed)
    if device == "cuda":
        torch.cuda.empty_cache()
    leftover_gib = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None
    model, facts = build_random_model(shape, device, quantize=device == "cuda" and not args.no_quant, seed=args.seed)
    if device == "cuda":  # the peak counts training only, not the bf16 build of the random model
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    weights_gib = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None
    model = prepare_for_training(model, config)
    lora = {**LORA, **VARIANT_LORA.get(variant.split("@")[0], {})}
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
    cast_adapters(peft_model, config.adapter_dtype)
    lora_params = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    undo = apply_liger(peft_model) if config.liger else (lambda: None)

    if config.packing:  # rows of seq_len tokens, `batch` rows a step: same tokens per step as padding
        data: list[dict] = pack_examples(examples, seq_len, shuffle_seed=args.seed)
        pad_to = seq_len if args.fixed_shape else None
        collator, per_device = (lambda rows: collate_packed(rows, 0, pad_to=pad_to)), batch
    else:
        data = examples
        collator, per_device = (lambda rows: collate_padded(rows, 0)), batch

    records: list[dict[str, Any]] = []
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()

        def on_step_end(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t0)
            if profiling and len(times) == args.warmup + args.steps:
                self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA])
                self.prof.__enter__()
            if profiling and len(times) == n_steps:
                self.prof.__exit__(None, None, None)
                sort = "cuda_time_total" if device == "cuda" else "cpu_time_total"
                table = self.prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=70)
                path = Path(args.profile_dir) / f"profile_{shape_name}_{seq_len}_{variant.replace('@', '_')}.txt"
                path.write_text(table, encoding="utf-8")

    base_cls = trainer_class(config)

    class Bench(base_cls):  # type: ignore[misc, valid-type]
        def training_step(self, model: Any, inputs: dict, *rest: Any, **kw: Any) -> Any:
            counts = batch_token_counts(inputs, pad_token_id=0)
            counts["sq_lengths"] = sum(n * n for n in lengths_from_batch(inputs))
            records.append(counts)
            return super().training_step(model, inputs, *rest, **kw)

    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=per_device, max_steps=n_steps,
            learning_rate=2e-4, lr_scheduler_type="constant", warmup_steps=0, logging_steps=10**6,
            save_strategy="no", report_to=[], dataloader_num_workers=0, disable_tqdm=True,
            seed=args.seed, use_cpu=device != "cuda",
            **training_arguments_kwargs(config, bf16=device == "cuda"),
        )
        trainer = Bench(model=peft_model, args=targs, train_dataset=data, data_collator=collator,
                        callbacks=[Timer()])
        result = trainer.train()
    undo()
    loss = float(result.training_loss)
    measured = records[args.warmup : args.warmup + args.steps]
    step_times = times[args.warmup : args.warmup + args.steps]
    total_t = sum(step_times)
    real = sum(r["real"] for r in measured)
    computed = sum(r["computed"] for r in measured)
    trained = sum(r["trained"] for r in measured)
    sq = sum(r["sq_lengths"] for r in measured)
    out: dict[str, Any] = {
        "shape": shape_name, "seq_len": seq_len, "variant": variant, "config": config.to_dict(), "lora": lora,
        "batch": f"{per_device} packed rows of <= {seq_len} tokens" if config.packing
        else f"{batch} examples padded to the longest",
        "steps_measured": len(step_times), "warmup_steps": args.warmup,
        "s_per_step_median": round(statistics.median(step_times), 4),
        "tokens_per_s": round(real / total_t, 1),
        "answer_tokens_per_s": round(trained / total_t, 1),
        "padding_frac": round(1 - real / computed, 3),
        "tokens_per_step_budget": batch * seq_len,
        "fixed_shape": bool(config.packing and args.fixed_shape),
        "step_times_s": [round(t, 4) for t in step_times],
        "lora_params": lora_params, "train_loss": round(loss, 4), **facts,
    }
    if device == "cuda":
        out["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        out["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["model_weights_gib"] = round(weights_gib, 2)
        out["leftover_before_build_gib"] = round(leftover_gib, 2)
    if peak.get("tflops"):
        fpt = flops_per_token(facts, shape, lora_params, sq / max(real, 1))
        out["flops_per_token"] = round(fpt)
        out["mfu"] = round(fpt * real / total_t / (peak["tflops"] * 1e12), 4)
    trainer.accelerator.free_memory()
    trainer.model = trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = None
    del trainer, peft_model, model, result
    if device == "cuda":
        import gc

        gc.collect()
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU, seconds")
    parser.add_argument("--plan", default="", help="e.g. 'llama3-8b:2048:baseline,recipe;qwen2.5-14b:512:recipe'")
    parser.add_argument("--steps", type=int, default=8, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first")
    parser.add_argument("--tokens-per-step", type=int, default=4096, help="batch x seq_len")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fixed-shape", action="store_true", help="pad packed rows to seq_len (one shape)")
    parser.add_argument("--no-quant", action="store_true", help="skip NF4 even on CUDA")
    parser.add_argument("--profile", default="recipe", help="variants to profile (torch.profiler, 2 extra steps)")
    parser.add_argument("--profile-len", type=int, default=2048)
    parser.add_argument("--profile-dir", default="", help="folder for profiler tables; empty = no profiling")
    parser.add_argument("--deadline-s", type=float, default=0, help="skip runs that start after this many seconds")
    args = parser.parse_args(argv)

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    plan = SMOKE_PLAN if args.smoke else DEFAULT_PLAN
    if args.plan:
        plan = [(s, int(n), v.split(",")) for s, n, v in (p.split(":") for p in args.plan.split(";"))]
    if args.smoke:
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
        args.tokens_per_step = min(args.tokens_per_step, 256)
    t_start = time.perf_counter()
    peak = measure_bf16_peak(device)
    result: dict[str, Any] = {
        "benchmark": "bench_qlora", "date": time.strftime("%Y-%m-%d"), "versions": versions(),
        "command": "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv if argv is not None else sys.argv[1:])),
        "lora": LORA, "length_distribution": LENGTH_DIST, "bf16_peak": peak,
        "liger_available": liger_available(),
        "flops_convention": "4*N_matmul + 6*N_lora + 6*n_layers*d_attn*L per token (causal, no recompute, no padding)",
        "runs": [],
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for shape_name, seq_len, names in plan:
        for name in names:
            if args.deadline_s and time.perf_counter() - t_start > args.deadline_s:
                result["runs"].append({"shape": shape_name, "seq_len": seq_len, "variant": name, "skipped": "deadline"})
                continue
            t0 = time.perf_counter()
            try:
                row = run_one(shape_name, seq_len, name, VARIANTS[name.split("@")[0]], args, device, peak)
            except Exception as exc:  # noqa: BLE001 - record and go on to the next run
                traceback.print_exc()
                row = {"shape": shape_name, "seq_len": seq_len, "variant": name, "error": f"{type(exc).__name__}: {exc}"[:500]}
                if device == "cuda":
                    torch.cuda.empty_cache()
            row["wall_s"] = round(time.perf_counter() - t0, 1)
            result["runs"].append(row)
            print(json.dumps({k: row.get(k) for k in ("shape", "seq_len", "variant", "tokens_per_s", "s_per_step_median",
                                                     "peak_reserved_gib", "mfu", "padding_frac", "wall_s", "error")}), flush=True)
            out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print_table(result)
    return 0 if all("error" not in r for r in result["runs"]) else 1


def print_table(result: dict[str, Any]) -> None:
    """A short plain-text table of the runs."""
    print(f"bf16 peak: {result['bf16_peak'].get('tflops')} TFLOP/s; {result['versions'].get('gpu')}")
    print(f"{'shape':12} {'len':>5} {'variant':22} {'tok/s':>8} {'s/step':>7} {'GiB':>6} {'MFU':>6} {'pad':>5}")
    for r in result["runs"]:
        if "tokens_per_s" not in r:
            print(f"{r['shape']:12} {r['seq_len']:>5} {r['variant']:22} {r.get('error') or r.get('skipped')}")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        print(f"{r['shape']:12} {r['seq_len']:>5} {r['variant']:22} {r['tokens_per_s']:>8.0f} "
              f"{r['s_per_step_median']:>7.3f} {r.get('peak_reserved_gib', '-')!s:>6} {mfu:>6} {r['padding_frac']:>5.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
