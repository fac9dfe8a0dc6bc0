"""Markdown tables from benchmarks/results/*.json (the tables in guide/hardware_and_cost.md).

    python benchmarks/report.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def qlora_table(path: Path, baseline_tps: dict[tuple[str, int], float] | None = None) -> str:
    """One markdown table of a bench_qlora result file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    base = dict(baseline_tps or {})
    for r in data["runs"]:
        if r.get("variant") == "baseline" and "tokens_per_s" in r:
            base.setdefault((r["shape"], r["seq_len"]), r["tokens_per_s"])
    lines = [
        f"`{data['command']}` on {data['versions']['gpu']}, {data['date']}; bf16 matmul peak measured "
        f"{data['bf16_peak']['tflops']} TFLOP/s",
        "",
        "| shape | seq | variant | batch | tokens/s | x baseline | s/step (median) | peak reserved GiB (net) | MFU | padding |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["runs"]:
        if "tokens_per_s" not in r:
            lines.append(f"| {r['shape']} | {r['seq_len']} | {r['variant']} | {r.get('error') or r.get('skipped')} |")
            continue
        b = base.get((r["shape"], r["seq_len"]))
        speed = f"{r['tokens_per_s'] / b:.2f}" if b else "-"
        net = r["peak_reserved_gib"] - r.get("leftover_before_build_gib", 0)
        lines.append(
            f"| {r['shape']} | {r['seq_len']} | {r['variant']} | {r['batch']} | {r['tokens_per_s']:,.0f} | {speed} | "
            f"{r['s_per_step_median']:.3f} | {r['peak_reserved_gib']:.2f} ({net:.2f}) | {100 * r['mfu']:.1f}% | "
            f"{100 * r['padding_frac']:.0f}% |")
    return "\n".join(lines)


def main() -> int:
    main_file = RESULTS / "qlora_h200.json"
    base = {}
    if main_file.exists():
        for r in json.loads(main_file.read_text())["runs"]:
            if r.get("variant") == "baseline" and "tokens_per_s" in r:
                base[(r["shape"], r["seq_len"])] = r["tokens_per_s"]
    for path in sorted(RESULTS.glob("qlora_*.json")):
        print(f"### {path.name}\n")
        print(qlora_table(path, base))
        print()
    gen = RESULTS / "generation_h200.json"
    if gen.exists():
        data = json.loads(gen.read_text())
        print(f"### {gen.name}\n\n{data['shape']} shape, NF4={data['quantized']}, {data['new_tokens']} new tokens, "
              f"mean prompt {data['prompt_tokens_mean']} tokens, {data['versions']['gpu']}, {data['date']}\n")
        print("| batch size | prompts | tokens | seconds | tokens/s | x one-at-a-time | peak reserved GiB |")
        print("|---|---|---|---|---|---|---|")
        for r in data["runs"]:
            print(f"| {r['batch_size']} | {r['prompts']} | {r['tokens']} | {r['seconds']} | {r['tokens_per_s']} | "
                  f"{r.get('speedup_vs_single', 1.0)} | {r.get('peak_reserved_gib', '-')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
