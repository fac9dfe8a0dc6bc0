"""Time the whole quality check on 5,000 rows, embeddings included (01_data_quality).

    python benchmarks/bench_quality.py [--rows 5000] [--path FILE] [--no-embeddings]

Reads ``data/support/noisy_train.jsonl`` (or ``--path``), repeats/cuts it to ``--rows`` rows with
each copy's inputs varied so they are not all duplicates, writes that to a temporary file and
times :func:`helpers.quality.run_checks` on it, model loading included. Target: <= 60 s on a
2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_rows(source: Path | None, n: int) -> list[dict]:
    """``n`` rows from ``source`` (repeated with a copy marker when short), or synthetic ones."""
    from helpers.data import load_rows

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--path", type=Path, default=ROOT / "data" / "support" / "noisy_train.jsonl")
    parser.add_argument("--no-embeddings", action="store_true")
    args = parser.parse_args()
    from helpers import quality
    from helpers.quality import run_checks

    rows = build_rows(args.path, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        cache = Path(tmp) / "embeddings.npz"
        quality._embedding_cache_path = lambda: cache  # an empty cache: the cold figure is honest
        t0 = time.perf_counter()
        report = run_checks(path, use_embeddings=not args.no_embeddings)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        run_checks(path, use_embeddings=not args.no_embeddings)  # a re-run: every text cached
        warm = time.perf_counter() - t1
    source = args.path.name if args.path.exists() else "synthetic rows"
    print(f"rows: {report.n_rows} (from {source})")
    print("findings: " + ", ".join(f"{f.check}={len(f.rows)}" for f in report.findings))
    print("stages (s): " + ", ".join(f"{k}={v}" for k, v in report.seconds.items()))
    print(f"total: {seconds:.1f} s for {report.n_rows} rows, cold (target <= 60 s on 2 CPU cores)")
    print(f"re-run with a warm embedding cache: {warm:.1f} s")
    try:
        import os

        print(f"load average while running: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
