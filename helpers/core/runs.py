"""Run folders: everything a course run produces lives under ``runs/<run-id>/``.

Introduced in ``00_setup.ipynb``. Layout (each stage writes its ``metrics.json`` *last*, through
an atomic rename, so a half-written stage is never mistaken for a finished one)::

    runs/<run-id>/
      run.json                      profile, task, created, versions
      quality/                      cleaned data + decision log (01)
      baseline/                     prompting baseline (02)
        predictions_eval.jsonl      {"id", "prediction", "reference", "latency_s"}
        predictions_golden.jsonl, predictions_production.jsonl
        prompt.json                 the prompt settings used
        metrics.json                {"eval": {metric: float}, "golden": {...}, "primary_metric",
                                     "speed": {"latency_s_per_request", "tokens_per_s",
                                               "cost_per_1k_requests_usd"}}
      adapter/                      QLoRA training (03) and its evaluation (04); layout in
        runs/<name>/                helpers.training.artifacts: one folder per training run
        LATEST                      (checkpoints/, final/, run_card.json, loss.png), LATEST names
        predictions_*.jsonl         the newest finished one, metrics.json the same shape as baseline's
        metrics.json
      experiment/                   clean vs noisy arms and the learning curve's adapters (05)
      learning_curve.json           adapter vs prompt on eval by training rows (05)
      review.jsonl                  human ratings (04)
      export/                       merged weights, GGUF files, Modelfile, export_check.json (06)
      summary.json, summary.md      the course summary with the decision (04 / make course)
      timing.json                   seconds per notebook and per cell (make course)

Each stage that a widget or a fallback cell can make also has ``origin.json`` (helpers.core.origin).

The current run is ``COURSE_RUN_ID`` if set, else the id saved in ``runs/CURRENT`` by the last
call to :func:`new_run` (notebook 00), else a new run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import time
from pathlib import Path
from typing import Any, Iterable

from helpers.core.errors import DataError, SettingsError
from helpers.core.paths import runs_dir

RUN_ENV = "COURSE_RUN_ID"
CURRENT_FILE = "CURRENT"


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (temp file + rename), like :func:`write_json` (04_evaluation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON atomically (temp file + rename): readers never see half a file (00_setup)."""
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write JSON lines atomically (02_prompting_baseline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_json(path: Path) -> Any:
    """Read a JSON file (02_prompting_baseline)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def append_jsonl(path: Path, row: dict[str, Any]) -> Path:
    """Append one JSON line with a single write, so two processes never interleave half lines (04_evaluation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def read_jsonl(path: Path, skip_bad_lines: bool = False, require: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Read a JSON-lines file of objects, one a line; blank lines are skipped (04_evaluation).

    The one reader for the files runs and tools exchange (predictions, references, ratings); a
    learner's training data goes through :func:`helpers.data.loading.load_rows`, which reports
    every bad line instead. A line that is not a JSON object, or lacks a key of ``require``,
    raises :class:`DataError` naming ``file:line``; with ``skip_bad_lines=True`` it is skipped
    (a ratings file another process may be appending to). A UTF-8 byte-order mark is allowed.
    """
    path = Path(path)
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                problem = "" if isinstance(obj, dict) else f"expected a JSON object, got {type(obj).__name__}"
            except (ValueError, RecursionError) as exc:
                obj, problem = None, f"not valid JSON ({getattr(exc, 'msg', type(exc).__name__)})"
            missing = [k for k in require if k not in obj] if not problem else []
            if missing:
                problem = f"the row has no {', '.join(repr(k) for k in missing)}"
            if problem:
                if skip_bad_lines:
                    continue
                raise DataError(f"{path.name}:{n}: {problem}: fix or remove that line")
            rows.append(obj)
    return rows


def make_run_id(profile: str) -> str:
    """A sortable, readable run id such as ``20261129-161500-cpu`` (00_setup)."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{profile}"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide results, for run cards (00_setup)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "evaluate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks: a run card's data files, a task's source (03, your_own_data)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _task_record(task: str | Path | None) -> dict[str, str]:
    """``run.json``'s task keys: the task's name and its folder (the task in force if None) (00_setup)."""
    from helpers.data.task_spec import task_dir, task_name  # core imports no data module at import time

    return {"task": task_name(task), "task_dir": str(task_dir(task))}


def run_data_task(run: str | Path) -> str | None:
    """The task folder a run was made for (``run.json``'s ``task_dir``, else its ``task``), None if unknown (04, 06)."""
    info = Path(run) / "run.json"
    if not info.exists():
        return None
    record = read_json(info)
    return record.get("task_dir") or record.get("task") or None


def new_run(profile: str, task: str | Path | None = None) -> Path:
    """Start a run folder for ``task`` (the task in force if None) and make it the current one (00_setup)."""
    run_id = make_run_id(profile)
    path = runs_dir() / run_id
    n = 1
    while path.exists():
        n += 1
        path = runs_dir() / f"{run_id}-{n}"
    path.mkdir(parents=True)
    write_json(path / "run.json", {
        "run_id": path.name, "profile": profile, **_task_record(task),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": library_versions(),
    })
    write_text(runs_dir() / CURRENT_FILE, path.name + "\n")
    return path


def current_run(profile: str, task: str | Path | None = None) -> Path:
    """The run folder notebooks write into: ``COURSE_RUN_ID``, else ``runs/CURRENT``, else new (01-05)."""
    env = os.environ.get(RUN_ENV, "").strip()
    if env:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]*", env):
            raise SettingsError(f"{RUN_ENV}={env!r} is not a plain folder name: use letters, digits, '.', '_' or '-'")
        path = runs_dir() / env
        if not (path / "run.json").exists():
            path.mkdir(parents=True, exist_ok=True)
            write_json(path / "run.json", {
                "run_id": env, "profile": profile, **_task_record(task),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": library_versions(),
            })
        return path
    pointer = runs_dir() / CURRENT_FILE
    if pointer.exists():
        path = runs_dir() / pointer.read_text(encoding="utf-8").strip()
        if (path / "run.json").exists():
            return path
    return new_run(profile, task)


def stage_done(run: Path, stage: str) -> bool:
    """True when a stage (``baseline``, ``adapter``) finished: its metrics.json exists (04_evaluation)."""
    return (Path(run) / stage / "metrics.json").exists()


def start_course_run(profile: str, task: str | Path | None = None) -> Path:
    """Notebook 00's run: the one ``make course`` set in ``COURSE_RUN_ID``, else a new one (00_setup)."""
    if os.environ.get(RUN_ENV, "").strip():
        return current_run(profile, task)
    return new_run(profile, task)
