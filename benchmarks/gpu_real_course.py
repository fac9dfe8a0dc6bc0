"""The course notebooks on one CUDA GPU, headless, with a GPU profile: seconds and peak GPU memory each.

    python benchmarks/gpu_real_course.py --out R.json --profile gpu-24gb --model smollm2-135m [--only 00 01 ...]
    python benchmarks/gpu_real_course.py --out R.json --profile gpu-40gb --random-shape qwen2.5-14b --only 00 03

It runs the notebooks with the course's own functions (``helpers.course.execute_notebook`` in a fresh
kernel each, ``helpers.evaluation.summary.write_summary``), the profile from ``COURSE_PROFILE`` and the
model from ``COURSE_MODEL``: a model key (``smollm2-135m``: the real offline weights) or, with
``--random-shape``, a random-weight bf16 checkpoint of a shape in ``benchmarks/configs/`` that the
notebooks load in NF4 like any model (speed and memory do not depend on the values; answers do).

Calls may be split (a lent machine allows 10 minutes a command): ``--state DIR`` keeps the run id and
the seconds so far, so a second call with ``--only 04 05 06`` continues the same run folder. GPU memory
is sampled through NVML every 0.2 s while each notebook runs (device-wide, the kernel's CUDA context
included); the training's own peak (``torch.cuda.max_memory_reserved``) is in the run card.
The results JSON is rewritten after every notebook, so a call cut short still reports what ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class MemorySampler:
    """Peak device-wide GPU memory in use (NVML), sampled in a thread; no CUDA context of its own."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle, self._nvml = pynvml.nvmlDeviceGetHandleByIndex(0), pynvml
        except Exception:  # noqa: BLE001 - no NVML: memory is not sampled, the run still goes on
            self._handle = None

    def used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used) if self._handle else 0

    def __enter__(self) -> "MemorySampler":
        self.baseline, self.peak = self.used(), 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.used())
            self._stop.wait(self.interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def build_random_checkpoint(shape_name: str, target: Path, tokenizer_dir: Path) -> dict[str, Any]:
    """Random bf16 weights of a benchmark shape, saved as safetensors with a tokenizer (SmolLM2's ids fit)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from randmodel import load_shape, make_config

    t0 = time.perf_counter()
    if (target / "config.json").exists():
        return {"model_dir": str(target), "reused": True}
    torch.manual_seed(0)
    config = make_config(load_shape(shape_name))
    config.use_cache = True
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(target), safe_serialization=True, max_shard_size="5GB")
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(str(target))
    del model
    torch.cuda.empty_cache()
    return {"model_dir": str(target), "params": params, "build_and_save_s": round(time.perf_counter() - t0, 1)}


def notebook_error(path: Path) -> str | None:
    """The first error output of an executed notebook, as ``Name: value``."""
    import nbformat

    if not path.exists():
        return None
    for cell in nbformat.read(str(path), as_version=4).cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {str(out.get('evalue'))[:400]}"
    return None


def run_facts(run: Path) -> dict[str, Any]:
    """What the run folder says: golden/eval scores of both stages, the decision, the training run card."""
    facts: dict[str, Any] = {}
    summary = run / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text(encoding="utf-8"))
        facts["summary"] = {k: s.get(k) for k in ("profile", "primary_metric", "baseline", "finetuned", "decision", "seconds")}
    cards = sorted(run.rglob("run_card.json"))
    facts["run_cards"] = {}
    for card in cards:
        c = json.loads(card.read_text(encoding="utf-8"))
        keep = ("status", "wall_seconds", "peak_memory_gb", "global_step", "final_losses", "versions", "hardware")
        facts["run_cards"][str(card.parent.relative_to(run))] = {
            **{k: c.get(k) for k in keep},
            "settings": {k: (c.get("settings") or {}).get(k) for k in (
                "batch_size", "grad_accum", "max_seq_len", "gradient_checkpointing", "quantization", "eval_steps",
                "save_steps", "adapter_dtype", "liger", "packing", "fixed_shape_rows", "max_steps")},
        }
    return facts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="results JSON (rewritten after every notebook)")
    ap.add_argument("--profile", default="gpu-24gb")
    ap.add_argument("--model", default="smollm2-135m", help="COURSE_MODEL: a model key or folder")
    ap.add_argument("--random-shape", default="", help="a benchmarks/configs name: random weights of that shape")
    ap.add_argument("--tokenizer", default=str(ROOT / ".devcarry" / "tok"), help="tokenizer for --random-shape")
    ap.add_argument("--only", nargs="*", default=[], help="notebook names or their two-digit prefixes")
    ap.add_argument("--state", default="/tmp/gpu_course_state", help="keeps the run across split calls")
    ap.add_argument("--executed", default="", help="where executed copies go (default STATE/executed)")
    ap.add_argument("--fresh", action="store_true", help="start a new run even if STATE holds one")
    args = ap.parse_args()

    state_dir = Path(args.state)
    if args.fresh:
        shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    os.environ["COURSE_RUNS"] = str(state_dir / "runs")
    os.environ.setdefault("COURSE_CACHE", str(state_dir / "cache"))
    state_file = state_dir / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"notebooks": {}}
    out = Path(args.out)
    results: dict[str, Any] = {"benchmark": "gpu_real_course", "date": time.strftime("%Y-%m-%d"),
                               "command": " ".join(sys.argv), "profile": args.profile}
    if args.random_shape:
        results["random_model"] = build_random_checkpoint(
            args.random_shape, state_dir / f"model-{args.random_shape}", Path(args.tokenizer))
        os.environ["COURSE_MODEL"] = results["random_model"]["model_dir"]
    else:
        os.environ["COURSE_MODEL"] = args.model
    os.environ["COURSE_PROFILE"] = args.profile

    from helpers.core.config import load_profile
    from helpers.core.runs import library_versions, new_run, runs_dir
    from helpers.course import execute_notebook, notebook_paths
    from helpers.evaluation.summary import write_summary

    profile = load_profile(args.profile)
    if not state.get("run_id"):
        state["run_id"] = new_run(profile.name).name
    os.environ["COURSE_RUN_ID"] = state["run_id"]
    run = runs_dir() / state["run_id"]
    executed = Path(args.executed) if args.executed else state_dir / "executed"
    wanted = [p for p in notebook_paths() if not args.only or any(p.name == o or p.name[:2] == o for o in args.only)]
    import torch

    results.update(run_id=state["run_id"], model=os.environ["COURSE_MODEL"], versions=library_versions(),
                   gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                   gpu_memory_gib=round(torch.cuda.mem_get_info()[1] / 2**30, 1) if torch.cuda.is_available() else None,
                   profile_settings={k: getattr(profile, k) for k in (
                       "batch_size", "grad_accum", "max_seq_len", "gradient_checkpointing", "quantization",
                       "compute_dtype", "eval_steps", "save_steps", "experiment_steps")})
    sampler = MemorySampler()
    for nb in wanted:
        print(f"{time.strftime('%H:%M:%S')} {nb.name} ...", flush=True)
        row: dict[str, Any] = {}
        try:
            with sampler:
                row["seconds"] = round(execute_notebook(nb, executed / nb.name), 1)
            row["ok"] = True
        except Exception as exc:  # noqa: BLE001 - recorded with the notebook's own error; the next one still runs
            row.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}",
                       cell_error=notebook_error(executed / nb.name), trace=traceback.format_exc()[-1500:])
        row["peak_gpu_used_gib"] = round(sampler.peak / 2**30, 2)
        row["gpu_used_before_gib"] = round(sampler.baseline / 2**30, 2)
        state["notebooks"][nb.name] = row
        state_file.write_text(json.dumps(state, indent=1))
        print(f"{time.strftime('%H:%M:%S')} {nb.name}: {json.dumps(row)[:400]}", flush=True)
        seconds = {k: v["seconds"] for k, v in state["notebooks"].items() if v.get("ok")}
        try:
            write_summary(run, seconds)
        except Exception as exc:  # noqa: BLE001 - an early notebook has no scores yet
            results["summary_error"] = f"{type(exc).__name__}: {exc}"
        results.update(notebooks=state["notebooks"], all_ran=all(v.get("ok") for v in state["notebooks"].values()),
                       **run_facts(run))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str))
    return 0 if all(v.get("ok") for v in state["notebooks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
