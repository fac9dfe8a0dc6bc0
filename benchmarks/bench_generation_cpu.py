"""Batched vs one-at-a-time generation on this CPU, measured in one run (02_prompting_baseline).

    python benchmarks/bench_generation_cpu.py [--rows 40] [--batch 10] [--max-new-tokens 64] [--json OUT]
    python benchmarks/bench_generation_cpu.py --prefix [--rung "4 + guideline rules"] [--rows 20] ...

Both modes run the same greedy decoding on the same eval rows with the adapter's short prompt
(SmolLM2-135M, fp32) through ``helpers.prompting.generation.generate``; the only difference is the batch
size. Prints tokens/s for each mode, the ratio, and how many answers are identical.

``--prefix`` instead compares batched generation without and with the shared-prefix cache on one
rung of notebook 02's ladder (default: the guideline rules, the longest shared system prompt),
the conversations notebook 02 scores (``build_conversations`` with the training pool).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--json", default=None)
    ap.add_argument("--prefix", action="store_true", help="plain vs shared-prefix cache on a ladder rung")
    ap.add_argument("--rung", default="4 + guideline rules")
    args = ap.parse_args()

    import torch

    from helpers.core.config import get_profile
    from helpers.data.loading import load_split
    from helpers.prompting.generation import generate
    from helpers.core.models import load_causal_lm, load_tokenizer
    from helpers.prompting.prompts import build_conversations, build_messages, finetune_config, prompt_ladder

    profile = get_profile("cpu")
    tok = load_tokenizer(profile.model)
    model = load_causal_lm(profile)
    rows = load_split("eval", limit=args.rows)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads")
    if args.prefix:
        config = prompt_ladder()[args.rung]
        convs = build_conversations(rows, config, pool=load_split("train"))
        generate(model, tok, convs[:2], max_new_tokens=8, batch_size=2, progress=False)  # warm-up
        kw = dict(max_new_tokens=args.max_new_tokens, batch_size=args.batch, progress=True)
        one = generate(model, tok, convs, prefix_cache=False, **kw)
        many = generate(model, tok, convs, prefix_cache=True, **kw)
        labels = ("plain", "prefix_cache")
    else:
        convs = [build_messages(r["input"], finetune_config()) for r in rows]
        generate(model, tok, convs[:2], max_new_tokens=8, batch_size=2, progress=False)  # warm-up
        one = generate(model, tok, convs, max_new_tokens=args.max_new_tokens, per_example=True, progress=True)
        many = generate(model, tok, convs, max_new_tokens=args.max_new_tokens, batch_size=args.batch, progress=True)
        labels = ("per_example", "batched")
    same = sum(a == b for a, b in zip(one.texts, many.texts))
    result = {
        "machine": machine, "rows": len(rows), "batch": args.batch, "max_new_tokens": args.max_new_tokens,
        **({"rung": args.rung} if args.prefix else {}),
        labels[0]: {"seconds": round(one.seconds, 1), "tokens": sum(one.new_tokens), "tokens_per_s": round(one.tokens_per_s, 1)},
        labels[1]: {"seconds": round(many.seconds, 1), "tokens": sum(many.new_tokens), "tokens_per_s": round(many.tokens_per_s, 1)},
        "speedup_tokens_per_s": round(many.tokens_per_s / one.tokens_per_s, 2),
        "speedup_seconds": round(one.seconds / many.seconds, 2),
        "identical_answers": f"{same}/{len(rows)}",
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
