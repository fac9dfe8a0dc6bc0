"""The run summary: ``summary.json`` (a contract other tools read) and the decision record ``summary.md``.

Introduced in ``04_evaluation.ipynb``; ``make course`` ends with it. ``summary.json`` holds
exactly these keys, metrics on a 0-1 scale::

    {"profile": str, "task": str,
     "baseline":  {"eval": {metric: float}, "golden": {...}},
     "finetuned": {"eval": {metric: float}, "golden": {...}},
     "primary_metric": str,
     "seconds": {notebook file name: float},
     "decision": {"metric", "split": "golden", "baseline", "finetuned", "diff", "ci95": [lo, hi],
                  "verdict": "GO" | "NO-GO" | "NOT SHOWN"},          # when both stages finished
     "learning_curve": {"metric", "split": "eval", "prompt", "points": [...]}}  # after notebook 05

``task`` is the run's data task from ``run.json`` (e.g. "support"), falling back to the metric
task. ``seconds`` is merged with what an earlier write already recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.core.errors import DataError, SettingsError
from helpers.core.runs import read_json, write_json, write_text
from helpers.evaluation.compare import STAGES, load_stage, numeric_metrics
from helpers.evaluation.decision import DECISION_RULE, Decision, decide
from helpers.evaluation.gate import check_gate
from helpers.evaluation.metrics import task_for_metrics

SUMMARY_KEYS = ("profile", "task", "baseline", "finetuned", "primary_metric", "seconds")
OPTIONAL_KEYS = ("decision", "learning_curve")  # present once the run has what they need
LEARNING_CURVE_FILE = "learning_curve.json"  # written by notebook 05 (helpers.evaluation.learning_curve)


def _stage_or_empty(run: Path, stage: str) -> dict[str, Any]:
    """A stage's metrics, or ``{}`` when that stage has not finished (a partial course run)."""
    try:
        return load_stage(run, stage)
    except SettingsError:
        return {}


def _gate_or_none(run: Path) -> Any:
    try:
        return check_gate(run)
    except (SettingsError, DataError):
        return None


def build_summary(run_dir: str | Path, seconds: dict[str, float] | None = None, gate: Any = None,
                  decision: Decision | None = None) -> dict[str, Any]:
    """The ``summary.json`` object for a run, without writing it (04_evaluation).

    A stage that has not finished contributes empty ``eval``/``golden`` dicts, so a course run
    that stopped half-way still leaves a summary (whose verdict is "incomplete", and which has
    no ``decision``). ``gate`` and ``decision`` are passed when the caller has computed them already.
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
    summary: dict[str, Any] = {
        "profile": str(profile),
        "task": str(info.get("task") or (task_for_metrics(adapter or base) if (adapter or base) else "")),
        "baseline": {"eval": numeric_metrics(base.get("eval")), "golden": numeric_metrics(base.get("golden"))},
        "finetuned": {"eval": numeric_metrics(adapter.get("eval")), "golden": numeric_metrics(adapter.get("golden"))},
        "primary_metric": str(adapter.get("primary_metric") or base.get("primary_metric") or ""),
        "seconds": merged,
    }
    if decision is None:
        decision = _decision_or_none(run, gate if gate is not None else _gate_or_none(run))
    if decision is not None:
        summary["decision"] = decision.to_summary()
    if (run / LEARNING_CURVE_FILE).exists():
        summary["learning_curve"] = read_json(run / LEARNING_CURVE_FILE)
    return summary


def _decision_or_none(run: Path, gate: Any) -> Decision | None:
    """The paired golden decision, or None while a stage (or its predictions) is missing."""
    try:
        return decide(run, gate=gate)
    except (SettingsError, DataError):
        return None


def speed_reasons(speed: dict[str, dict[str, float]] | None) -> list[str]:
    """Latency and cost sentences for the decision record (04_evaluation)."""
    reasons: list[str] = []
    if speed and "baseline" in speed and "adapter" in speed:
        lb, la = speed["baseline"].get("latency_s_per_request"), speed["adapter"].get("latency_s_per_request")
        if lb and la:
            reasons.append(f"latency per request: baseline {lb:.2f} s, adapter {la:.2f} s ({la / lb:.2f}x)")
        cb, ca = speed["baseline"].get("cost_per_1k_requests_usd"), speed["adapter"].get("cost_per_1k_requests_usd")
        if cb is not None and ca is not None:
            reasons.append(f"cost per 1,000 requests: baseline ${cb:.4f}, adapter ${ca:.4f}")
    return reasons


def next_steps(verdict: str) -> list[str]:
    """What to try next, given the verdict (GO, NO-GO, NOT SHOWN or incomplete) (04_evaluation)."""
    if verdict == "incomplete":
        return ["finish notebooks 02 and 03, then run notebook 04 (or make course) again"]
    if verdict == "NOT SHOWN":
        return [
            "keep the prompt for now: it is cheaper to run and to change, and the adapter is not shown to be better",
            "add golden rows (the interval narrows roughly with the square root of their number) and decide again",
            "train on more clean rows (notebook 05's learning curve says whether more rows still help)",
        ]
    if verdict == "GO":
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
    reasons = reasons + ([f"rule: {DECISION_RULE}"] if verdict != "incomplete" else [])
    lines = [f"# Run summary: {summary['task']} ({summary['profile']} profile)", "",
             f"**Verdict: {verdict}**", ""]
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
    curve = summary.get("learning_curve")
    if curve:
        lines += ["", f"## Learning curve ({curve['split']} {curve['metric']}; prompt {curve['prompt']:.3f})", "",
                  "| train rows | adapter | 95% interval |", "|---|---|---|"]
        lines += [f"| {p['rows']} | {p['score']:.3f} | [{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}] |" for p in curve["points"]]
    lines += ["", "## What to try next", ""] + [f"- {s}" for s in next_steps(verdict)]
    return "\n".join(lines) + "\n"


def write_summary(run_dir: str | Path, seconds: dict[str, float] | None = None) -> Path:
    """Write ``summary.json`` (the contract) and ``summary.md`` (the decision record); returns the JSON path (04_evaluation)."""
    run = Path(run_dir)
    gate = _gate_or_none(run)
    decision = _decision_or_none(run, gate)  # computed once: summary.json and summary.md share it
    summary = build_summary(run, seconds, gate=gate, decision=decision)
    speed = {stage: _stage_or_empty(run, stage).get("speed") or {} for stage in STAGES}
    if decision is None:
        verdict, reasons = "incomplete", ["no paired golden predictions for both stages yet: run notebooks 02 and 03"]
    else:
        verdict, reasons = decision.verdict, list(decision.reasons)
    path = write_json(run / "summary.json", summary)
    write_text(run / "summary.md", _markdown(summary, verdict, reasons + speed_reasons(speed), gate))
    return path
