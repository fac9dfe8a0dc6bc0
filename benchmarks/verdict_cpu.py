"""The honest verdict on one profile, from a shell: what notebooks 02, 04 and 05 compute, in one script.

    python benchmarks/verdict_cpu.py --adapter runs/<id>/adapter/<run>/final [--profile cpu] [--out FILE]
                                     [--phases ladder,decision,experiment,lr]

It calls the course's own functions (``compare_prompts``, ``evaluate_stage``, ``check_gate``,
``decide``, ``drift_table``, ``run_experiment``, ``learning_curve``), in a fresh run folder
under ``COURSE_RUNS`` (default: a temporary folder), with an adapter trained by notebook 03 /
``python -m helpers train`` (training it again would add the 20 minutes notebook 03 takes on
the cpu profile). Phases:

* ``ladder``: the prompt ladder on eval, the best rung picked on eval, the baseline scored on
  eval, golden and the production sample; the adapter scored the same way.
* ``decision``: the gate, the paired golden decision, the drift table.
* ``experiment``: notebook 05's clean vs noisy arms (paired on eval) and the learning curve.
* ``lr``: the learning rate re-picked **on eval** at notebook 05's budget (200 clean rows,
  ``experiment_steps`` steps): the profile's rate against x0.3 and x3; golden is not read.

Every figure lands in ``--out`` (JSON) as soon as its phase ends, so a long run that is
stopped keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _save(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapter", required=True, help="folder of a finished adapter (adapter_model.safetensors)")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--out", default="benchmarks/results/verdict_cpu.json")
    ap.add_argument("--phases", default="ladder,decision,experiment,lr")
    ap.add_argument("--run", default=None, help="continue in this run folder (its baseline/ and adapter/ are reused)")
    args = ap.parse_args()
    os.environ.setdefault("COURSE_RUNS", tempfile.mkdtemp(prefix="verdict-runs-"))

    from helpers.core.config import get_profile
    from helpers.core.models import load_causal_lm, load_tokenizer
    from helpers.core.runs import new_run
    from helpers.data.loading import load_split
    from helpers.evaluation import compare, gate
    from helpers.evaluation.decision import decide
    from helpers.evaluation.experiment import experiment_settings, paired_table, run_arm, run_experiment
    from helpers.evaluation.learning_curve import crossover_sentence, learning_curve
    from helpers.evaluation.scoring import compare_prompts, evaluate_stage, ladder_answers, scored_rows
    from helpers.evaluation.summary import write_summary
    from helpers.prompting.prompts import finetune_config, prompt_ladder
    from helpers.training.artifacts import load_adapter

    phases = set(args.phases.split(","))
    profile = get_profile(args.profile)
    run = Path(args.run) if args.run else new_run(profile.name)
    out = Path(args.out)
    result: dict = {"profile": profile.name, "run": str(run), "adapter": args.adapter, "seconds": {}}
    if args.run and out.exists():
        result = json.loads(out.read_text(encoding="utf-8"))
    tok = load_tokenizer(profile.model)
    pool = load_split("train")
    if "ladder" in phases:
        t = time.perf_counter()
        model = load_causal_lm(profile)
        sample = scored_rows(profile, "eval")
        ladder = prompt_ladder("extraction", k=profile.few_shot_k)
        results, result["ladder_eval"] = {}, {}
        for name, cfg in ladder.items():  # one rung at a time, saved as it ends
            table, res = compare_prompts(model, tok, sample, {name: cfg}, profile, pool)
            results.update(res)
            result["ladder_eval"].update(json.loads(table.to_json(orient="index")))
            result["seconds"][f"ladder {name}"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            _save(out, result)
        metric = next(iter(next(iter(result["ladder_eval"].values()))))
        best = max(result["ladder_eval"], key=lambda n: result["ladder_eval"][n][metric])
        result["best_rung_on_eval"] = best
        _save(out, result)
        t = time.perf_counter()
        rec = evaluate_stage(model, tok, profile, run / "baseline", ladder[best], pool,
                             known=ladder_answers(ladder, results, ladder[best]))
        result["baseline"] = {s: rec[s] for s in ("eval", "golden", "production_sample")}
        result["seconds"]["baseline_scoring"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        adapted = load_adapter(load_causal_lm(profile), Path(args.adapter))
        rec = evaluate_stage(adapted, tok, profile, run / "adapter", finetune_config())
        result["adapter_scores"] = {s: rec[s] for s in ("eval", "golden", "production_sample")}
        result["seconds"]["adapter_scoring"] = round(time.perf_counter() - t, 1)
        _save(out, result)
    if "decision" in phases:
        g = gate.check_gate(run)
        result["gate"] = {"passed": g.passed, "reasons": g.reasons, "table": g.table}
        d = decide(run, gate=g)
        result["decision"] = {**d.to_summary(), "reasons": d.reasons}
        result["drift"] = json.loads(compare.drift_table(run).to_json(orient="records"))
        write_summary(run)
        _save(out, result)
    eval_rows = load_split("eval")
    budget = experiment_settings(profile)
    clean = load_split("train", limit=profile.experiment_clean_rows)
    if "experiment" in phases:
        t = time.perf_counter()
        noisy = load_split("noisy_train", limit=profile.experiment_noisy_rows)
        arms = run_experiment(profile, tok, {"clean": clean, "noisy": noisy}, eval_rows, run / "experiment", budget)
        result["experiment"] = {"arms": [{"name": a.name, "seed": a.seed, "rows": a.n_rows, "steps": a.steps,
                                          "seconds": round(a.seconds), "eval": a.scores} for a in arms],
                                "paired": json.loads(paired_table(arms, "clean", "noisy").to_json(orient="records"))}
        result["seconds"]["experiment"] = round(time.perf_counter() - t, 1)
        _save(out, result)
        t = time.perf_counter()
        curve = learning_curve(profile, tok, clean, eval_rows, run, budget,
                               reuse=[a for a in arms if a.name == "clean" and a.seed == budget.seed])
        result["learning_curve"] = {**curve, "sentence": crossover_sentence(curve)}
        result["seconds"]["learning_curve"] = round(time.perf_counter() - t, 1)
        write_summary(run)
        _save(out, result)
    if "lr" in phases:
        result["lr_on_eval"] = result.get("lr_on_eval", {})
        for factor in (0.3, 3.0):
            t = time.perf_counter()
            lr = profile.learning_rate * factor
            arm = run_arm(f"lr-{lr:g}", profile, tok, clean, eval_rows, run / "experiment" / f"lr-{lr:g}",
                          budget.replace(learning_rate=lr))
            result["lr_on_eval"][f"{lr:g}"] = {"eval": arm.scores, "seconds": round(time.perf_counter() - t, 1)}
            _save(out, result)
        clean_arm = next((a for a in result.get("experiment", {}).get("arms", []) if a["name"] == "clean"), None)
        if clean_arm:
            result["lr_on_eval"][f"{profile.learning_rate:g}"] = {"eval": clean_arm["eval"], "seconds": clean_arm["seconds"]}
        _save(out, result)
    print(json.dumps({k: result[k] for k in result if k in ("best_rung_on_eval", "decision", "seconds")}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
