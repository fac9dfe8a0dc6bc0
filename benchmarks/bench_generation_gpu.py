"""Evaluation generation on a GPU: one example at a time vs batched, greedy, left padding.

A random-weight model of a real shape (``benchmarks/configs/``), quantised to NF4 like the
course's evaluation model (``--no-quant`` for bf16). Prompt lengths come from the same
log-normal distribution as ``bench_qlora.py`` (median 0.3 x ``--prompt-len``). Every prompt
generates exactly ``--new-tokens`` tokens (``min_new_tokens`` = ``max_new_tokens``, so random
weights cannot stop early), and the rate is generated tokens per second of wall time.

    python benchmarks/bench_generation_gpu.py --out benchmarks/results/generation_h200.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_qlora import versions  # noqa: E402
from randmodel import build_random_model, load_shape  # noqa: E402


def make_prompts(n: int, prompt_len: int, vocab: int, seed: int) -> list[list[int]]:
    """``n`` prompts of long-tailed lengths (log-normal, median 0.3 x prompt_len, sigma 0.6)."""
    rng = random.Random(seed)
    mu = math.log(0.3 * prompt_len)
    lengths = [max(16, min(prompt_len, int(rng.lognormvariate(mu, 0.6)))) for _ in range(n)]
    return [[rng.randrange(3, vocab) for _ in range(k)] for k in lengths]


def left_pad(prompts: list[list[int]], pad_id: int, device: str) -> dict[str, Any]:
    """Left-padded ``input_ids`` and ``attention_mask`` for batched generation."""
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def generate(model: Any, prompts: list[list[int]], batch_size: int, new_tokens: int, device: str) -> dict[str, Any]:
    """Greedy generation in batches of ``batch_size``; returns tokens, seconds and tokens/s."""
    import torch

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    produced = 0
    sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            enc = left_pad(prompts[start : start + batch_size], 0, device)
            out = model.generate(
                **enc, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                pad_token_id=0, use_cache=True,
            )
            produced += int((out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0])
    sync()
    seconds = time.perf_counter() - t0
    return {"tokens": produced, "seconds": round(seconds, 3), "tokens_per_s": round(produced / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--shape", default="llama3-8b")
    parser.add_argument("--prompts", type=int, default=64, help="prompts for the batched run")
    parser.add_argument("--single", type=int, default=8, help="prompts for the one-at-a-time run")
    parser.add_argument("--batch-sizes", default="16,64")
    parser.add_argument("--prompt-len", type=int, default=1024)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--no-quant", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = load_shape(args.shape)
    model, facts = build_random_model(shape, device, quantize=device == "cuda" and not args.no_quant, seed=args.seed)
    model.eval()
    model.config.use_cache = True
    prompts = make_prompts(args.prompts, args.prompt_len, shape["vocab_size"], args.seed)
    generate(model, prompts[:2], 2, 4, device)  # warm-up: kernels, cuBLAS handles
    result: dict[str, Any] = {
        "benchmark": "bench_generation_gpu", "date": time.strftime("%Y-%m-%d"), "versions": versions(),
        "command": "python benchmarks/bench_generation_gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "shape": args.shape, "quantized": device == "cuda" and not args.no_quant, "new_tokens": args.new_tokens,
        "prompt_tokens_mean": round(sum(map(len, prompts)) / len(prompts), 1), **facts, "runs": [],
    }
    single = generate(model, prompts[: args.single], 1, args.new_tokens, device)
    result["runs"].append({"batch_size": 1, "prompts": args.single, **single})
    print(json.dumps(result["runs"][-1]), flush=True)
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        row = {"batch_size": bs, "prompts": args.prompts, **generate(model, prompts, bs, args.new_tokens, device)}
        row["speedup_vs_single"] = round(row["tokens_per_s"] / single["tokens_per_s"], 1)
        if device == "cuda":
            row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        result["runs"].append(row)
        print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
