"""Ship the adapter and prove each artefact answers like it (06_ship_it; ``python -m helpers export``).

:class:`Export` runs the steps one at a time (the notebook shows each); :func:`export_run` runs
them all (the command line). Every artefact answers the profile's golden rows greedily with the
course's own generation, and is compared with the adapter-on-base answers: *agreement* is the
share of rows with the identical answer, *metric* the golden primary metric of its answers.

Everything is written into ``runs/<id>/export.partial-<pid>/`` and renamed to ``export/`` only
when ``export_check.json`` is complete, so a failed export (a full disk, a damaged adapter, a
port in use) never leaves a folder that looks finished. Only an adapter that passed the golden
gate (:func:`helpers.evaluation.gate.check_gate`) is shipped unless ``ignore_gate=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from helpers.core.errors import SettingsError

CHECK_FILE = "export_check.json"
REPORT_FILE = "export_report.json"


def agreement(reference: list[str], answers: list[str]) -> float:
    """Share of rows whose answer is exactly the reference answer (06_ship_it)."""
    if len(reference) != len(answers):
        raise ValueError(f"{len(reference)} reference answers, {len(answers)} answers")
    return sum(a == b for a, b in zip(reference, answers)) / max(len(reference), 1)


def _disk_error(exc: OSError, where: Path) -> SettingsError:
    return SettingsError(
        f"writing the export under {where} failed ({exc.strerror or exc}): free disk space (a cpu-profile "
        f"export needs about 1 GB) or point COURSE_RUNS at a bigger disk, then export again"
    )


def find_adapter(run: str | Path) -> Path:
    """The finished adapter of a run: the newest training run's ``final/``, else ``adapter/final`` (06_ship_it)."""
    from helpers.training import artifacts

    root = Path(run) / "adapter"
    latest = getattr(artifacts, "final_adapter", None)  # per-run folders (adapter/runs/<name>/final)
    if latest is not None:
        try:
            return latest(root)
        except SettingsError:
            pass
    if (root / "final").is_dir():  # the single-folder layout of earlier runs
        return root / "final"
    raise SettingsError(f"no adapter in {root}: run notebooks/03_qlora_training.ipynb first")


class Export:
    """One export of a run's adapter, step by step, into a temporary folder (06_ship_it)."""

    def __init__(self, run: str | Path, profile: Any = None, ignore_gate: bool = False) -> None:
        from helpers.core.config import load_profile
        from helpers.core.runs import run_data_task
        from helpers.evaluation.compare import load_stage
        from helpers.evaluation.gate import check_gate
        from helpers.evaluation.scoring import scored_rows
        from helpers.export.merge import check_adapter
        from helpers.prompting.prompts import PromptConfig, build_conversations, finetune_config

        self.run = Path(run)
        if not self.run.is_dir():
            raise SettingsError(f"run folder {self.run} does not exist: pass runs/<run-id> (see runs/CURRENT)")
        self.profile = profile or load_profile()
        self.adapter_dir = check_adapter(find_adapter(self.run))
        try:
            self.gate = check_gate(self.run)
            passed, why = bool(self.gate.passed), "; ".join(list(getattr(self.gate, "reasons", []))[:1])
        except SettingsError as exc:  # no baseline to gate against (e.g. an adapter copied from elsewhere)
            if not ignore_gate:
                raise
            self.gate, passed, why = None, False, f"the gate could not run: {exc}"
        if not passed:
            if not ignore_gate:
                raise SettingsError(f"the adapter failed the golden gate ({why}): improve it (notebooks 03-04), "
                                    f"or pass --ignore-gate (ignore_gate=True) to ship it anyway")
            warnings.warn(f"shipping an adapter that FAILED the golden gate ({why})", stacklevel=2)
        stage = load_stage(self.run, "adapter")
        self.view = stage.get("view", "extraction")
        self.primary = stage.get("primary_metric")
        prompt_file = self.run / "adapter" / "prompt.json"
        task = run_data_task(self.run)  # the task folder the run was made for
        self.prompt = (PromptConfig(**json.loads(prompt_file.read_text(encoding="utf-8")))
                       if prompt_file.exists() else finetune_config(self.view, task))
        self.rows = scored_rows(self.profile, "golden", self.view, task)
        self.conversations = build_conversations(self.rows, self.prompt, task=task)
        self.final = self.run / "export"
        self.folder = self.run / f"export.partial-{os.getpid()}"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.texts: dict[str, list[str]] = {}  # artefact -> its golden answers, in row order
        self.check: dict[str, Any] = {"rows": len(self.rows), "gguf": {}}
        self.report: dict[str, Any] = {"profile": self.profile.name, "primary_metric": self.primary,
                                       "gate_passed": passed, "rows": len(self.rows), "seconds": {}}

    # --- scoring --------------------------------------------------------------------------
    def _generate(self, model: Any, tokenizer: Any) -> Any:
        from helpers.evaluation.scoring import answer_tokens
        from helpers.prompting.generation import generate

        return generate(model, tokenizer, self.conversations, max_new_tokens=answer_tokens(self.profile, self.view),
                        batch_size=self.profile.gen_batch_size, progress=False)

    def _load(self, folder: Path, **kwargs: Any) -> Any:
        """An exported model loaded with plain ``from_pretrained``, in the profile's dtypes, as the adapter ran."""
        import torch
        from transformers import AutoModelForCausalLM

        from helpers.core.models import set_compute_dtype, weights_dtype

        if self.profile.device == "cuda":
            kwargs["device_map"] = {"": 0}
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, weights_dtype(self.profile)), **kwargs)
        return set_compute_dtype(model, self.profile.compute_dtype)

    def _score(self, name: str, gen: Any) -> dict[str, Any]:
        """Agreement with the adapter and the golden metric of one artefact's answers."""
        from helpers.evaluation.metrics import score

        self.texts[name] = list(gen.texts)
        metric = score(self.view, gen.texts, [r["output"] for r in self.rows])[self.primary]
        out = {"metric": round(float(metric), 4), "s_per_request": round(gen.latency_s_per_request, 4),
               "tokens_per_s": round(gen.tokens_per_s, 2)}
        if name != "adapter":
            out["agreement"] = round(agreement(self.texts["adapter"], gen.texts), 4)
        self.report[name] = {**self.report.get(name, {}), **out}
        return out

    def _timed(self, key: str, t0: float) -> None:
        self.report["seconds"][key] = round(time.perf_counter() - t0, 2)

    # --- steps ----------------------------------------------------------------------------
    def adapter_answers(self) -> dict[str, Any]:
        """Golden answers of the adapter on the profile's base, as it was evaluated (06_ship_it)."""
        from helpers.core.models import load_causal_lm, load_tokenizer
        from helpers.training.artifacts import load_adapter

        t0 = time.perf_counter()
        model = load_adapter(load_causal_lm(self.profile), self.adapter_dir)
        out = self._score("adapter", self._generate(model, load_tokenizer(self.profile.model)))
        self._timed("adapter_answers", t0)
        return out

    def merge(self) -> dict[str, Any]:
        """Merge in the weights' precision, save, reload with plain from_pretrained and compare (06_ship_it)."""
        from transformers import AutoTokenizer

        from helpers.export.merge import merge_adapter

        if "adapter" not in self.texts:
            self.adapter_answers()
        t0 = time.perf_counter()
        try:
            result = merge_adapter(self.profile, self.adapter_dir, self.folder / "merged")
        except OSError as exc:
            raise _disk_error(exc, self.run) from None
        self.report["merged"] = {"bytes": result.bytes, "dtype": result.dtype, "merge_s": result.seconds}
        model = self._load(result.path, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(result.path))
        out = self._score("merged", self._generate(model, tokenizer))
        self.check["merged_agreement"] = out["agreement"]
        self._timed("merge", t0)
        return self.report["merged"]

    def gguf(self, quant: str = "f16") -> dict[str, Any]:
        """Write the merged model as GGUF, read it back with transformers' GGUF loader, compare (06_ship_it)."""
        from transformers import AutoTokenizer

        from helpers.export.gguf import write_gguf

        merged = self.folder / "merged"
        if not (merged / "config.json").exists():
            self.merge()
        t0 = time.perf_counter()
        try:
            info = write_gguf(merged, self.folder / f"model-{quant}.gguf", quant, name=f"{self.run.name}-{quant}")
        except OSError as exc:
            raise _disk_error(exc, self.run) from None
        model = self._load(self.folder, gguf_file=info.path.name)
        out = self._score(f"gguf_{quant}", self._generate(model, AutoTokenizer.from_pretrained(str(merged))))
        out["vs_merged"] = round(agreement(self.texts["merged"], self.texts[f"gguf_{quant}"]), 4)
        self.report[f"gguf_{quant}"].update(bytes=info.bytes, write_s=info.seconds, vs_merged=out["vs_merged"])
        self.check["gguf"][quant] = {"agreement": out["agreement"], "metric": out["metric"], "bytes": info.bytes}
        self._timed(f"gguf_{quant}", t0)
        return self.report[f"gguf_{quant}"]

    def modelfile(self) -> Path:
        """An Ollama Modelfile next to the smallest GGUF written (06_ship_it)."""
        from transformers import AutoTokenizer

        from helpers.export.modelfile import write_modelfile

        if not self.check["gguf"]:
            raise SettingsError("no GGUF written yet: call gguf('q8_0') (or --gguf q8_0) before the Modelfile")
        quant = "q8_0" if "q8_0" in self.check["gguf"] else next(iter(self.check["gguf"]))
        tokenizer = AutoTokenizer.from_pretrained(str(self.folder / "merged"))
        return write_modelfile(self.folder, f"model-{quant}.gguf", tokenizer)

    def server(self, port: int = 0) -> Any:
        """A :class:`~helpers.export.serve.LocalServer` for the merged model (use it in a ``with``) (06_ship_it)."""
        from helpers.export.serve import LocalServer

        if not (self.folder / "merged" / "config.json").exists():
            self.merge()
        # in the compute dtype: the weights generation answers with (a bf16 copy on a CPU that computes in bf16)
        return LocalServer(self.folder / "merged", port=port, device=self.profile.device, dtype=self.profile.compute_dtype)

    def serve(self, port: int = 0, server: Any = None) -> dict[str, Any]:
        """Score golden through the server with evaluate_stage; starts and stops one unless given (06_ship_it)."""
        if server is None:
            with self.server(port) as own:
                return self.serve(server=own)
        from helpers.evaluation.scoring import evaluate_stage
        from helpers.evaluation.scoring import answer_tokens
        from helpers.export.serve import server_predict
        from helpers.prompting.prompts import build_conversations

        t0 = time.perf_counter()
        record = evaluate_stage(
            None, None, self.profile, self.folder / "server", self.prompt, splits=("golden",),
            predict_fn=lambda rows: server_predict(server, build_conversations(rows, self.prompt),
                                                   answer_tokens(self.profile, self.view)))
        startup = server.startup_s
        gen = self.texts["server"] = self._server_result()
        self.report["server"] = {"metric": round(float(record["golden"][self.primary]), 4),
                                 "s_per_request": record["speed"]["latency_s_per_request"],
                                 "tokens_per_s": record["speed"]["tokens_per_s"], "startup_s": startup,
                                 "agreement": round(agreement(self.texts["adapter"], gen), 4)}
        self.check["server"] = {k: self.report["server"][k] for k in ("metric", "s_per_request")}
        self._timed("server", t0)
        return self.report["server"]

    def _server_result(self) -> list[str]:
        from helpers.core.runs import read_jsonl

        by_id = {r["id"]: r["prediction"] for r in read_jsonl(self.folder / "server" / "predictions_golden.jsonl")}
        return [by_id[r["id"]] for r in self.rows]

    def finish(self) -> dict[str, Any]:
        """Write export_check.json and the answers, then rename the folder to ``export/`` (06_ship_it)."""
        from helpers.core.runs import write_json, write_jsonl

        if "merged_agreement" not in self.check:
            raise SettingsError("nothing merged yet: call merge() before finish()")
        try:
            write_jsonl(self.folder / "answers_golden.jsonl", [
                {"id": r["id"], "reference": r["output"], **{n: t[i] for n, t in self.texts.items()}}
                for i, r in enumerate(self.rows)])
            write_json(self.folder / REPORT_FILE, self.report)
            write_json(self.folder / CHECK_FILE, self.check)  # last: its presence means complete
            old = self.run / f"export.old-{os.getpid()}"
            if self.final.exists():
                self.final.replace(old)
            self.folder.replace(self.final)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise _disk_error(exc, self.run) from None
        return self.check

    def discard(self) -> None:
        """Remove the temporary folder (after an error or when you stop halfway) (06_ship_it)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def summary_table(report: dict[str, Any]) -> Any:
    """One row per artefact: golden metric, agreement with the adapter, speed, size (06_ship_it)."""
    import pandas as pd

    rows = []
    for name in ("adapter", "merged", "gguf_f16", "gguf_bf16", "gguf_f32", "gguf_q8_0", "server"):
        if name in report:
            r = report[name]
            rows.append({"artefact": name, "golden " + str(report.get("primary_metric")): r.get("metric"),
                         "agreement with adapter": r.get("agreement", 1.0 if name == "adapter" else None),
                         "s/request": r.get("s_per_request"), "tokens/s": r.get("tokens_per_s"),
                         "MB": round(r["bytes"] / 1e6, 1) if r.get("bytes") else None})
    return pd.DataFrame(rows).set_index("artefact")


def export_run(run: str | Path, profile: Any = None, gguf: tuple[str, ...] = ("f16", "q8_0"),
               serve: bool = False, ignore_gate: bool = False, port: int = 0) -> dict[str, Any]:
    """Every export step for a run; returns the content of ``export/export_check.json`` (06_ship_it)."""
    exp = Export(run, profile, ignore_gate=ignore_gate)
    try:
        exp.adapter_answers()
        exp.merge()
        for quant in gguf:
            exp.gguf(quant)
        if gguf:
            exp.modelfile()
        if serve:
            exp.serve(port=port)
        return exp.finish()
    finally:
        exp.discard()


def cli_export(args: Any) -> int:
    """``python -m helpers export --run DIR [--gguf f16,q8_0] [--serve] [--ignore-gate] [--json]`` (06_ship_it)."""
    from helpers.evaluation.gate import _resolve_run

    quants = tuple(q.strip() for q in (args.gguf or "").split(",") if q.strip())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check = export_run(_resolve_run(args.run), gguf=quants, serve=bool(args.serve),
                           ignore_gate=bool(args.ignore_gate), port=int(args.port or 0))
    for w in caught:
        if "golden gate" in str(w.message):
            print(f"warning: {w.message}", file=sys.stderr)
    print(json.dumps(check) if args.json else f"wrote {Path(args.run) / 'export' / CHECK_FILE}: {json.dumps(check)}")
    return 0
