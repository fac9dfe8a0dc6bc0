"""QLoRA training speed and memory through the course's own training function.

Every row trains a random-weight model of a real shape (``benchmarks/configs/``; NF4 + double
quant, bf16 compute, LoRA r=16 alpha=32 all-linear) with :func:`helpers.training.trainer.make_trainer`,
the function notebook 03 calls, i.e. TRL's ``SFTTrainer``. The rows differ only in
:class:`helpers.training.settings.TrainSettings` switches:

* ``trl-docs``: TRL's documented QLoRA setup: packing (padding-free, flattened batches),
  gradient checkpointing, paged 8-bit AdamW, bf16, LoRA dropout 0.05; ``+liger`` adds
  ``use_liger_kernel=True``; ``-ckpt-off`` drops checkpointing;
* ``recipe-24gb`` (what the GPU profiles run): the same plus the course's switches,
  fixed-shape packed rows, LoRA dropout 0 and fused AdamW; ``recipe-max`` without checkpointing;
  ``recipe-24gb-every-2`` checkpoints every second layer.

Data: example lengths drawn from a stated long-tailed distribution, log-normal with median
0.3 x seq_len and sigma 0.6, clipped to [32, seq_len]; the last 30% of each example is the
answer (the only tokens with labels), passed to the trainer as tokenised ``input_ids`` +
``labels``. Every row is a fresh process (``--repeats`` of each, medians reported).

Reported per run: real tokens/s, s/step (median), peak reserved and allocated GPU memory,
and MFU = model FLOPs / (time x measured bf16 peak). Model FLOPs per trained token follow the
convention ``4 x N_matmul + 6 x N_lora`` (frozen base: forward 2N + input-gradient 2N; LoRA
weights also get weight gradients) plus attention ``6 x n_layers x d_attn x L`` per token for a
causal sequence of length L. Checkpointing recomputation and padding are NOT counted: MFU is
useful work only. The bf16 peak is measured in the same process with an 8192^3 matmul.

    python benchmarks/bench_qlora.py --out benchmarks/results/qlora_h200_trl.json
    python benchmarks/bench_qlora.py --smoke --out /tmp/smoke.json   # CPU, tiny model, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from randmodel import REPO, build_random_model, load_shape  # noqa: E402

from helpers.training.settings import TrainSettings  # noqa: E402
from helpers.training.trainer import make_trainer  # noqa: E402

LORA = {"lora_r": 16, "lora_alpha": 32, "lora_targets": "all-linear"}
LENGTH_DIST = {"kind": "lognormal", "median_frac_of_seq_len": 0.3, "sigma": 0.6, "min": 32, "answer_frac": 0.3}
TRL_DOCS = dict(packing=True, fixed_shape_rows=False, liger=False, gradient_checkpointing=True,
                lora_dropout=0.05, optim="paged_adamw_8bit")
RECIPE = dict(packing=True, fixed_shape_rows=True, liger=True, gradient_checkpointing=True,
              lora_dropout=0.0, optim="adamw_torch_fused")
#: variant -> TrainSettings changes; each row is the course's trainer with these switches.
VARIANTS: dict[str, dict[str, Any]] = {
    "trl-docs": TRL_DOCS,
    "trl-docs+liger": {**TRL_DOCS, "liger": True},
    "trl-docs+liger-ckpt-off": {**TRL_DOCS, "liger": True, "gradient_checkpointing": False},
    "trl-docs+liger+fixed-rows": {**TRL_DOCS, "liger": True, "fixed_shape_rows": True},
    "recipe-24gb": RECIPE,
    "recipe-24gb-paged": {**RECIPE, "optim": "paged_adamw_8bit"},
    "recipe-24gb-every-2": {**RECIPE, "checkpoint_every": 2},
    "recipe-max": {**RECIPE, "gradient_checkpointing": False},
}
DEFAULT_PLAN = [
    ("llama3-8b", 2048, ["trl-docs", "trl-docs+liger", "recipe-24gb", "recipe-24gb-every-2", "recipe-max"]),
    ("qwen2.5-14b", 2048, ["trl-docs+liger", "recipe-24gb", "recipe-max"]),
]
SMOKE_PLAN = [("tiny", 128, ["trl-docs", "recipe-24gb"])]


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
    for name in ("transformers", "peft", "trl", "bitsandbytes", "accelerate", "liger-kernel", "triton"):
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


def settings_for(variant: str, seq_len: int, tokens_per_step: int, steps: int, device: str) -> TrainSettings:
    """The TrainSettings of one benchmark row (the same object notebook 03 builds from a profile)."""
    changes = dict(VARIANTS[variant])
    if device != "cuda":  # CPU smoke: no Triton kernels, no paged or fused optimiser, fp32
        changes.update(liger=False, optim="adamw_torch")
    return TrainSettings(
        **LORA, **changes, quantization="nf4" if device == "cuda" else "none",
        compute_dtype="bfloat16" if device == "cuda" else "float32",
        batch_size=max(1, tokens_per_step // seq_len), max_seq_len=seq_len, max_steps=steps,
        learning_rate=2e-4, scheduler="constant", warmup_ratio=0.0, save_steps=10**6, eval_steps=10**6,
    ).validate()


def run_one(shape_name: str, seq_len: int, variant: str, args: argparse.Namespace, device: str,
            peak: dict[str, Any]) -> dict[str, Any]:
    """Build the model, train ``warmup + steps`` steps through ``make_trainer``, return the measurements."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

    shape = load_shape(shape_name)
    n_steps = args.warmup + args.steps
    s = settings_for(variant, seq_len, args.tokens_per_step, n_steps, device)
    examples = draw_examples(max(64, n_steps * s.batch_size * 4), seq_len, shape["vocab_size"], args.seed)
    if device == "cuda":
        torch.cuda.empty_cache()
    model, facts = build_random_model(shape, device, quantize=device == "cuda", seed=args.seed)
    if device == "cuda":  # the peak counts training only, not the bf16 build of the random model
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    weights_gib = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    records: list[dict[str, int]] = []
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

    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(model, tokenizer, Dataset.from_list(examples), None, s, Path(tmp), device)
        trainer.add_callback(Timer())
        collate = trainer.data_collator

        def counting(rows: list[dict[str, Any]]) -> dict[str, Any]:
            lengths = [n for r in rows for n in r["seq_lengths"]]
            records.append({"real": sum(lengths), "sq": sum(n * n for n in lengths),
                            "trained": sum(sum(1 for x in r["labels"] if x != -100) for r in rows)})
            return collate(rows)

        trainer.data_collator = counting
        result = trainer.train()
    lora_params = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    measured = records[args.warmup : n_steps]
    step_times = times[args.warmup : n_steps]
    total_t = sum(step_times)
    real = sum(r["real"] for r in measured)
    out: dict[str, Any] = {
        "shape": shape_name, "seq_len": seq_len, "variant": variant, "settings": VARIANTS[variant],
        "batch": f"{s.batch_size} packed rows of <= {seq_len} tokens", "tokens_per_step_budget": s.batch_size * seq_len,
        "steps_measured": len(step_times), "warmup_steps": args.warmup,
        "s_per_step_median": round(statistics.median(step_times), 4),
        "tokens_per_s": round(real / total_t, 1),
        "answer_tokens_per_s": round(sum(r["trained"] for r in measured) / total_t, 1),
        "step_times_s": [round(t, 4) for t in step_times],
        "lora_params": lora_params, "train_loss": round(float(result.training_loss), 4), **facts,
        "sft_config": {k: v for k, v in s.sft_kwargs("x", device).items() if k != "output_dir"},
    }
    if device == "cuda":
        out["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        out["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["model_weights_gib"] = round(weights_gib, 2)
        out["lora_dtype"] = str(next(p.dtype for p in trainer.model.parameters() if p.requires_grad))
    if peak.get("tflops"):
        fpt = flops_per_token(facts, shape, lora_params, sum(r["sq"] for r in measured) / max(real, 1))
        out["flops_per_token"] = round(fpt)
        out["mfu"] = round(fpt * real / total_t / (peak["tflops"] * 1e12), 4)
    return out


def one_process(shape_name: str, seq_len: int, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one row in a fresh Python process (no allocator or kernel state from earlier rows)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        path = fh.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", f"{shape_name}:{seq_len}:{variant}", "--out", path,
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--tokens-per-step", str(args.tokens_per_step),
           "--seed", str(args.seed), "--tokenizer", args.tokenizer]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(Path(path).read_text())["runs"][0]
    except Exception:  # noqa: BLE001
        return {"shape": shape_name, "seq_len": seq_len, "variant": variant,
                "error": (proc.stderr or proc.stdout)[-800:]}
    finally:
        os.unlink(path)


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the repeats (tokens/s, MFU, memory), with every repeat's figure kept."""
    ok = [r for r in rows if "tokens_per_s" in r]
    if not ok:
        return rows[-1]
    out = dict(ok[0])
    for key in ("tokens_per_s", "mfu", "peak_reserved_gib", "s_per_step_median", "answer_tokens_per_s"):
        values = [r[key] for r in ok if r.get(key) is not None]
        if values:
            out[key] = round(statistics.median(values), 4)
            out[f"{key}_repeats"] = values
    out["repeats"] = len(ok)
    out.pop("step_times_s", None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU, in-process, seconds")
    parser.add_argument("--plan", default="", help="e.g. 'llama3-8b:2048:trl-docs,recipe-24gb;qwen2.5-14b:2048:recipe-max'")
    parser.add_argument("--one", default="", help="internal: run one shape:len:variant in this process")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per row (medians reported)")
    parser.add_argument("--steps", type=int, default=8, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first")
    parser.add_argument("--tokens-per-step", type=int, default=4096, help="batch x seq_len")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", default=str(REPO / ".cache" / "models" / "smollm2-135m"),
                        help="any tokenizer folder (the data is token ids; it supplies the pad token)")
    parser.add_argument("--deadline-s", type=float, default=0, help="skip runs that start after this many seconds")
    args = parser.parse_args(argv)

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    plan = SMOKE_PLAN if args.smoke else DEFAULT_PLAN
    if args.plan or args.one:
        plan = [(s, int(n), v.split(",")) for s, n, v in (p.split(":") for p in (args.one or args.plan).split(";"))]
    if args.smoke:
        args.steps, args.warmup, args.repeats = min(args.steps, 2), min(args.warmup, 1), 1
        args.tokens_per_step = min(args.tokens_per_step, 256)
    in_process = bool(args.one or args.smoke)
    t_start = time.perf_counter()
    peak = measure_bf16_peak(device) if in_process else {"tflops": None, "note": "measured in each row's process"}
    result: dict[str, Any] = {
        "benchmark": "bench_qlora", "date": time.strftime("%Y-%m-%d"), "versions": versions(),
        "command": "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv if argv is not None else sys.argv[1:])),
        "trainer": "helpers.training.trainer.make_trainer (trl.SFTTrainer)", "lora": LORA,
        "length_distribution": LENGTH_DIST, "bf16_peak": peak, "repeats": args.repeats,
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
            if in_process:
                try:
                    row = run_one(shape_name, seq_len, name, args, device, peak)
                    row["bf16_peak_tflops"] = peak.get("tflops")
                except Exception as exc:  # noqa: BLE001 - record and go on to the next run
                    traceback.print_exc()
                    row = {"shape": shape_name, "seq_len": seq_len, "variant": name, "error": f"{type(exc).__name__}: {exc}"[:500]}
            else:
                row = median_row([one_process(shape_name, seq_len, name, args) for _ in range(args.repeats)])
            row["wall_s"] = round(time.perf_counter() - t0, 1)
            result["runs"].append(row)
            print(json.dumps({k: row.get(k) for k in ("shape", "seq_len", "variant", "tokens_per_s", "s_per_step_median",
                                                     "peak_reserved_gib", "mfu", "wall_s", "error")}), flush=True)
            out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    add_ratios(result)
    out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if not args.one:
        print_table(result)
    return 0 if all("error" not in r for r in result["runs"]) else 1


def add_ratios(result: dict[str, Any]) -> None:
    """Each row's tokens/s over the same shape's ``trl-docs+liger`` row (TRL by its docs, with Liger)."""
    ref = {(r["shape"], r["seq_len"]): r["tokens_per_s"] for r in result["runs"]
           if r.get("variant") == "trl-docs+liger" and r.get("tokens_per_s")}
    for r in result["runs"]:
        base = ref.get((r.get("shape"), r.get("seq_len")))
        if base and r.get("tokens_per_s"):
            r["x_trl_docs_liger"] = round(r["tokens_per_s"] / base, 3)


def print_table(result: dict[str, Any]) -> None:
    """A short plain-text table of the runs."""
    print(f"{result['versions'].get('gpu')}; medians of {result['repeats']} fresh processes")
    print(f"{'shape':12} {'len':>5} {'variant':24} {'tok/s':>8} {'x TRL':>6} {'s/step':>7} {'GiB':>6} {'MFU':>6}")
    for r in result["runs"]:
        if "tokens_per_s" not in r:
            print(f"{r['shape']:12} {r['seq_len']:>5} {r['variant']:24} {str(r.get('error') or r.get('skipped'))[:200]}")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        print(f"{r['shape']:12} {r['seq_len']:>5} {r['variant']:24} {r['tokens_per_s']:>8.0f} {r.get('x_trl_docs_liger', '-')!s:>6} "
              f"{r['s_per_step_median']:>7.3f} {r.get('peak_reserved_gib', '-')!s:>6} {mfu:>6}")


if __name__ == "__main__":
    raise SystemExit(main())
