"""Notebook 06's figures: export a trained adapter and check every artefact against it on golden.

    python benchmarks/bench_export.py ADAPTER_DIR [--profile cpu] [--out results/export_cpu.json]
                                      [--baseline-metrics METRICS.json] [--ignore-gate]

Copies ADAPTER_DIR (a finished ``final/`` folder, with its ``../metrics.json`` and
``../prompt.json``) into a fresh run folder under a temporary ``COURSE_RUNS``, then calls
:func:`helpers.export.check.export_run` with f16 + q8_0 GGUF and the server, the same function
``python -m helpers export`` and notebook 06 call. Prints and saves export_check.json and the
fuller export_report.json (times, sizes, tokens/s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("adapter", help="a finished adapter folder (.../adapter/final)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "export_cpu.json"))
    p.add_argument("--baseline-metrics", default=None, help="a baseline/metrics.json for the gate")
    p.add_argument("--ignore-gate", action="store_true", help="export without a baseline to gate against")
    args = p.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-export-"))
    os.environ["COURSE_RUNS"] = str(root)
    from helpers.core.config import load_profile
    from helpers.core.runs import read_json, write_json
    from helpers.export.check import REPORT_FILE, export_run

    src = Path(args.adapter)
    run = root / f"bench-{args.profile}"
    shutil.copytree(src, run / "adapter" / "final")
    for name in ("metrics.json", "prompt.json"):
        if (src.parent / name).exists():
            shutil.copy(src.parent / name, run / "adapter" / name)
    write_json(run / "run.json", {"run_id": run.name, "profile": args.profile, "task": "support"})
    if args.baseline_metrics:
        (run / "baseline").mkdir()
        shutil.copy(args.baseline_metrics, run / "baseline" / "metrics.json")
    try:
        t0 = time.perf_counter()
        check = export_run(run, load_profile(args.profile, check_hardware=False), gguf=("f16", "q8_0"),
                           serve=True, ignore_gate=args.ignore_gate)
        total = round(time.perf_counter() - t0, 1)
        report = read_json(run / "export" / REPORT_FILE)
        result = {"machine": f"{os.cpu_count()} CPUs", "adapter": str(src), "total_s": total,
                  "export_check": check, "report": report}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
