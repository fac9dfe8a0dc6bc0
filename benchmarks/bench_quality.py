"""Time the whole quality check on 5,000 rows, embeddings included (01_data_quality).

    python benchmarks/bench_quality.py [--rows 5000] [--path FILE] [--no-embeddings]

Reads ``data/support/noisy_train.jsonl`` (or ``--path``), repeats/cuts it to ``--rows`` rows with
each copy's inputs varied so they are not all duplicates, writes that to a temporary file and
times :func:`helpers.data.quality.run_checks` on it, model loading included. Target: <= 60 s on a
2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_rows(source: Path | None, n: int) -> list[dict]:
    """``n`` rows from ``source`` (repeated with a copy marker when short), or synthetic ones."""
    from helpers.data.loading import load_rows

    base = []
    if source is not None and source.exists():
        base = [{"id": r["id"], "input": r["input"], "output": r["output"]} for r in load_rows(source).rows]
    if not base:
        base = [{"id": f"s{i}", "input": f"Hello, order ORD-{10000 + i}: item {i % 37} arrived damaged, please help.",
                 "output": json.dumps({"order_id": f"ORD-{10000 + i}", "issue_type": "damaged"})} for i in range(n)]
    rows = []
    for i in range(n):
        r = dict(base[i % len(base)])
        copy = i // len(base)
        if copy:
            r = {**r, "id": f"{r['id']}-c{copy}", "input": f"{r['input']} (follow-up {copy})"}
        rows.append(r)
    return rows


def timed(path: Path, tmp: Path, tag: str, **kw: object) -> tuple[object, float, float]:
    """Cold then warm run of :func:`helpers.data.quality.run_checks` with an empty embedding cache."""
    from helpers.core.config import load_profile
    from helpers.data.quality import run_checks

    kw = {"profile": load_profile(check_hardware=False),
          "embedding_cache": tmp / f"embeddings-{tag}.npz", **kw}  # empty: the cold figure is honest
    t0 = time.perf_counter()
    report = run_checks(path, **kw)
    cold = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_checks(path, **kw)  # a re-run: every text cached
    return report, cold, time.perf_counter() - t1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--path", type=Path, default=ROOT / "data" / "support" / "noisy_train.jsonl")
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rows = build_rows(args.path, args.rows)
    support = ROOT / "data" / "support"
    scenarios = [("train file only", {}),
                 ("with --eval and --production", {"eval_path": support / "eval.jsonl",
                                                   "production_path": support / "production_sample.jsonl"})]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        for i, (name, extra) in enumerate(scenarios):
            report, cold, warm = timed(path, Path(tmp), str(i), use_embeddings=not args.no_embeddings, **extra)
            results.append({"scenario": name, "rows": report.n_rows, "cold_s": round(cold, 1), "warm_s": round(warm, 1),
                            "stages_s": report.seconds, "notices": [n for n in report.notices if n.startswith("embedded")],
                            "findings": {f.check: len(f.rows) for f in report.findings}})
            print(f"{name}: {report.n_rows} rows, cold {cold:.1f} s (target <= 60 s on 2 CPU cores), "
                  f"warm cache {warm:.1f} s")
            print("  stages (s): " + ", ".join(f"{k}={v}" for k, v in report.seconds.items()))
            print("  findings: " + ", ".join(f"{f.check}={len(f.rows)}" for f in report.findings))
            for n in results[-1]["notices"]:
                print("  " + n)
    source = args.path.name if args.path.exists() else "synthetic rows"
    print(f"source: {source}; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.out:
        args.out.write_text(json.dumps({"benchmark": "bench_quality", "date": time.strftime("%Y-%m-%d"),
                                        "machine": f"{os.cpu_count()} CPU cores", "source": source,
                                        "results": results}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
