"""The run summary: ``summary.json`` (a contract other tools read) and a go/no-go ``summary.md``.

Introduced in ``04_evaluation.ipynb``; ``make course`` ends with it. ``summary.json`` holds
exactly these keys, metrics on a 0-1 scale::

    {"profile": str, "task": str,
     "baseline":  {"eval": {metric: float}, "golden": {...}},
     "finetuned": {"eval": {metric: float}, "golden": {...}},
     "primary_metric": str,
     "seconds": {notebook file name: float}}

``task`` is the run's data task from ``run.json`` (e.g. "support"), falling back to the metric
task. ``seconds`` is merged with what an earlier write already recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.core.errors import SettingsError
from helpers.core.runs import read_json, write_json, write_text
from helpers.evaluation.compare import STAGES, load_stage, numeric_metrics
from helpers.evaluation.gate import check_gate
from helpers.evaluation.metrics import task_for_metrics

SUMMARY_KEYS = ("profile", "task", "baseline", "finetuned", "primary_metric", "seconds")
MIN_GAIN = 0.02


def _stage_or_empty(run: Path, stage: str) -> dict[str, Any]:
    """A stage's metrics, or ``{}`` when that stage has not finished (a partial course run)."""
    try:
        return load_stage(run, stage)
    except SettingsError:
        return {}


def build_summary(run_dir: str | Path, seconds: dict[str, float] | None = None) -> dict[str, Any]:
    """The ``summary.json`` object for a run, without writing it (04_evaluation).

    A stage that has not finished contributes empty ``eval``/``golden`` dicts, so a course run
    that stopped half-way still leaves a summary (whose verdict is "incomplete").
    """
    run = Path(run_dir)
    base, adapter = _stage_or_empty(run, "baseline"), _stage_or_empty(run, "adapter")
    info: dict[str, Any] = {}
    if (run / "run.json").exists():
        info = read_json(run / "run.json")
    old_seconds: dict[str, float] = {}
    if (run / "summary.json").exists():
        try:
            old_seconds = dict(read_json(run / "summary.json").get("seconds") or {})
        except (OSError, ValueError, AttributeError):
            old_seconds = {}
    merged = {str(k): float(v) for k, v in {**old_seconds, **(seconds or {})}.items()}
    profile = info.get("profile") or run.name.rsplit("-", 1)[-1]
    return {
        "profile": str(profile),
        "task": str(info.get("task") or (task_for_metrics(adapter or base) if (adapter or base) else "")),
        "baseline": {"eval": numeric_metrics(base.get("eval")), "golden": numeric_metrics(base.get("golden"))},
        "finetuned": {"eval": numeric_metrics(adapter.get("eval")), "golden": numeric_metrics(adapter.get("golden"))},
        "primary_metric": str(adapter.get("primary_metric") or base.get("primary_metric") or ""),
        "seconds": merged,
    }


def go_no_go(
    summary: dict[str, Any],
    speed: dict[str, dict[str, float]] | None = None,
    gate: Any = None,
    min_gain: float = MIN_GAIN,
) -> tuple[str, list[str]]:
    """Ship the adapter ("go") or keep the prompt ("no-go"), with one sentence per reason (04_evaluation).

    Rules, in order: "incomplete" when the baseline or the adapter has no metrics yet; a failed regression gate (``gate``, a :class:`helpers.evaluation.gate.GateResult`)
    is a no-go; so is a golden primary-metric gain below ``min_gain`` (prompting is enough, and
    it is cheaper to run and maintain). Otherwise go. ``speed`` (``{"baseline": {...},
    "adapter": {...}}`` from each stage's metrics.json) only adds latency and cost sentences.
    """
    primary = summary["primary_metric"]
    missing = [name for name, key in (("notebooks/02_prompting_baseline.ipynb", "baseline"),
                                      ("notebooks/03_qlora_training.ipynb", "finetuned"))
               if primary not in summary[key].get("golden", {}) and primary not in summary[key].get("eval", {})]
    if not primary or missing:
        return "incomplete", [f"no {primary or 'primary'} metric for a stage yet: run {', '.join(missing) or 'notebooks 02 and 03'}"]
    split = "golden" if primary in summary["finetuned"].get("golden", {}) else "eval"
    b = summary["baseline"][split].get(primary, float("nan"))
    f = summary["finetuned"][split].get(primary, float("nan"))
    gain = f - b
    reasons = [f"{split} {primary}: baseline {b:.3f}, adapter {f:.3f} (change {gain:+.3f})"]
    verdict = "go"
    if gate is not None and not gate.passed:
        verdict = "no-go"
        reasons.append("the golden-set regression gate failed: " + "; ".join(gate.reasons))
    if not gain >= min_gain:
        verdict = "no-go"
        reasons.append(f"the adapter gains less than {min_gain:.2f} on {primary}: keep the prompting baseline")
    elif verdict == "go":
        passes = " and passes the regression gate" if gate is not None else " (gate not checked)"
        reasons.append(f"the adapter gains at least {min_gain:.2f} on {primary}{passes}")
    if speed and "baseline" in speed and "adapter" in speed:
        lb, la = speed["baseline"].get("latency_s_per_request"), speed["adapter"].get("latency_s_per_request")
        if lb and la:
            reasons.append(f"latency per request: baseline {lb:.2f} s, adapter {la:.2f} s ({la / lb:.2f}x)")
        cb, ca = speed["baseline"].get("cost_per_1k_requests_usd"), speed["adapter"].get("cost_per_1k_requests_usd")
        if cb is not None and ca is not None:
            reasons.append(f"cost per 1,000 requests: baseline ${cb:.4f}, adapter ${ca:.4f}")
    return verdict, reasons


def next_steps(verdict: str, summary: dict[str, Any]) -> list[str]:
    """What to try next, given the verdict (04_evaluation)."""
    if verdict == "incomplete":
        return ["finish notebooks 02 and 03, then run notebook 04 (or make course) again"]
    if verdict == "go":
        return [
            "read the worst examples again: a higher metric can hide new failure kinds",
            "grow the golden set with the production cases you rated, then re-run the gate",
            "try a smaller rank or fewer target modules: if quality holds, training gets cheaper",
        ]
    return [
        "check the data first (notebook 01): label conflicts and duplicates cap what training can reach",
        "train longer or on more clean rows (notebook 03), and compare clean vs noisy data (notebook 05)",
        "if the baseline is already close, improve the prompt or few-shot examples instead of training",
    ]


def _markdown(summary: dict[str, Any], verdict: str, reasons: list[str], gate: Any) -> str:
    primary = summary["primary_metric"]
    lines = [f"# Run summary: {summary['task']} ({summary['profile']} profile)", "",
             f"**Verdict: {verdict.upper()}**", ""]
    lines += [f"- {r}" for r in reasons]
    lines += ["", "## Quality (0-1, higher is better)", "", "| split | metric | baseline | adapter |", "|---|---|---|---|"]
    for split in ("eval", "golden"):
        fin = summary["finetuned"][split]
        for metric in [m for m in fin if "." not in m and m in summary["baseline"][split]]:
            star = " *" if metric == primary else ""
            lines.append(f"| {split} | {metric}{star} | {summary['baseline'][split][metric]:.3f} | {fin[metric]:.3f} |")
    if gate is not None:
        lines += ["", f"## Regression gate: {'PASS' if gate.passed else 'FAIL'} (tolerance {gate.tolerance:.3f})", ""]
        lines += [f"- {r}" for r in gate.reasons]
    if summary["seconds"]:
        lines += ["", "## Time per notebook", ""]
        lines += [f"- {name}: {sec:.0f} s" for name, sec in summary["seconds"].items()]
    lines += ["", "## What to try next", ""] + [f"- {s}" for s in next_steps(verdict, summary)]
    return "\n".join(lines) + "\n"


def write_summary(run_dir: str | Path, seconds: dict[str, float] | None = None) -> Path:
    """Write ``summary.json`` (the contract) and ``summary.md`` (go/no-go); returns the JSON path (04_evaluation)."""
    run = Path(run_dir)
    summary = build_summary(run, seconds)
    speed = {stage: _stage_or_empty(run, stage).get("speed") or {} for stage in STAGES}
    try:
        gate = check_gate(run)
    except SettingsError:
        gate = None
    verdict, reasons = go_no_go(summary, speed=speed, gate=gate)
    path = write_json(run / "summary.json", summary)
    write_text(run / "summary.md", _markdown(summary, verdict, reasons, gate))
    return path
