"""The task in force: which task folder every notebook reads, and what its ``task.json`` says.

Introduced in ``00_setup.ipynb`` and ``guide/your_own_data.md``. A task folder holds ``train``,
``eval`` and ``golden`` (and optionally ``production_sample``, ``raw_train``, ``noisy_train``) as
JSONL, plus ``task.json`` (its contract: :mod:`helpers.data.task_folder`). The task in force is
resolved like the profile:

1. ``COURSE_TASK``: a folder name under ``data/`` or a path to a task folder;
2. the choice saved by notebook 00 (``.course_task.json`` in the course folder);
3. the course's bundled task, named in ``data/default_task.txt``.

Every helper that reads a split, a label set or a prompt takes ``task=None`` and means this
task, so the notebooks run unchanged on a learner's own data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from helpers.core.errors import SettingsError
from helpers.core.paths import course_home, data_dir

TASK_ENV = "COURSE_TASK"
TASK_CHOICE_FILE = ".course_task.json"
TASK_FILE = "task.json"
DEFAULT_TASK_FILE = "default_task.txt"  # in data/: the bundled task's folder name
PROMPT_KINDS = ("bare", "detailed", "finetune")  # rung 1, rungs 2-3, the adapter's prompt
_BARE = {"extraction": "Extract the key facts from this message as JSON.",
         "classification": "What is this message about? Answer with one label.",
         "summarisation": "Summarise this message."}
_FINETUNE = {"extraction": "Extract the fields as JSON.", "classification": "Classify the message.",
             "summarisation": "Summarise the message in one sentence."}


def default_prompt(view: str, kind: str, labels: Sequence[str] = (), fields: Sequence[str] = ()) -> str:
    """The wording a task without its own uses for one prompt ``kind`` (02, 03, guide/your_own_data.md)."""
    if kind == "bare":
        return _BARE[view]
    if kind == "finetune":
        return _FINETUNE[view]
    if view == "classification":
        return f"Classify the message. Answer with exactly one label from: {', '.join(labels)}."
    if view == "extraction":
        return (f"Extract these fields from the message as one JSON object: {', '.join(fields)}. "
                f"Use null for a field the message does not give.")
    return "Summarise the message in one sentence."


def default_task() -> str:
    """The bundled task's folder name, from ``data/default_task.txt`` (00_setup)."""
    path = data_dir() / DEFAULT_TASK_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{path} is missing: set {TASK_ENV} to a task folder, or restore the file") from exc


def saved_task_path() -> Path:
    """Where notebook 00 saves the learner's task choice (00_setup)."""
    return course_home() / TASK_CHOICE_FILE


def resolve_task() -> tuple[str, str]:
    """The task in force (a name or a path) and where it came from: env, saved choice or default (00_setup)."""
    env = os.environ.get(TASK_ENV, "").strip()
    if env:
        return env, f"environment variable {TASK_ENV}"
    path = saved_task_path()
    if path.exists():
        try:
            return str(json.loads(path.read_text(encoding="utf-8"))["task"]), f"saved choice in {path.name}"
        except (ValueError, KeyError, TypeError):
            pass  # a damaged choice file falls back to the default
    return default_task(), f"the course's bundled task ({DEFAULT_TASK_FILE})"


def task_dir(task: str | Path | None = None) -> Path:
    """The folder of ``task`` (a name under ``data/`` or a path), the task in force if None (01-06)."""
    if task is None:
        task = resolve_task()[0]
    text = str(task)
    looks_like_path = isinstance(task, Path) or os.sep in text or "/" in text or text.startswith((".", "~"))
    folder = Path(text).expanduser().resolve() if looks_like_path else data_dir() / text
    if not folder.is_dir():
        raise SettingsError(
            f"task folder {folder} not found: set {TASK_ENV} to a folder made by "
            f"'python -m helpers task init', or to a name under {data_dir()}")
    return folder


def save_task_choice(task: str | Path) -> Path:
    """Save the learner's task so later notebooks and commands use it (00_setup)."""
    spec = load_task(task)  # validate before writing anything
    path = saved_task_path()
    tmp = path.with_suffix(".tmp")
    value = spec.name if spec.folder == data_dir() / spec.name else str(spec.folder)
    tmp.write_text(json.dumps({"task": value}) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class TaskSpec:
    """What ``task.json`` says about a task folder (00_setup, guide/your_own_data.md)."""

    name: str
    folder: Path
    view: str
    primary_metric: str
    labels: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    instructions: str | None = None
    prompts: dict[str, dict[str, str]] = field(default_factory=dict)  # {view: {kind: text}}

    def path(self, split: str) -> Path:
        """The file of one split, e.g. ``<folder>/train.jsonl`` (01_data_quality)."""
        return self.folder / f"{split}.jsonl"

    def has(self, split: str) -> bool:
        """True when the task ships ``split`` (production_sample, raw_train, noisy_train are optional) (01, 04, 05)."""
        return self.path(split).exists()

    def prompt(self, kind: str, view: str | None = None) -> str:
        """The wording of one prompt ``kind`` (bare, detailed, finetune) for ``view`` (02, 03).

        ``task.json``'s ``prompts[view][kind]`` if given; for ``detailed`` in the task's own
        view, its ``instructions``; else :func:`default_prompt`.
        """
        if kind not in PROMPT_KINDS:
            raise SettingsError(f"unknown prompt kind {kind!r}: use one of {', '.join(PROMPT_KINDS)}")
        view = view or self.view
        text = self.prompts.get(view, {}).get(kind)
        if text is None and kind == "detailed" and view == self.view:
            text = self.instructions
        return text or default_prompt(view, kind, self.labels, self.fields)


def load_task(task: str | Path | None = None) -> TaskSpec:
    """The :class:`TaskSpec` of ``task`` (the task in force if None); one sentence if ``task.json`` is unusable (00-06)."""
    # imported here: helpers.data.tasks reads this module's load_schema at import time
    from helpers.data.tasks import PRIMARY_METRIC, check_view

    folder = task_dir(task)
    path = folder / TASK_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"{folder} has no {TASK_FILE}: build the folder with 'python -m helpers task init', "
                            f"or write {TASK_FILE} as guide/your_own_data.md shows") from exc
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}): fix it, or rebuild the folder with task init") from exc
    if not isinstance(spec, dict) or "view" not in spec:
        raise SettingsError(f"{path} needs a \"view\" key (classification, extraction or summarisation)")
    view = check_view(str(spec["view"]))
    return TaskSpec(
        name=str(spec.get("name") or folder.name), folder=folder, view=view,
        primary_metric=str(spec.get("primary_metric") or PRIMARY_METRIC[view]),
        labels=tuple(spec.get("labels") or ()), fields=tuple(spec.get("fields") or ()),
        instructions=spec.get("instructions"), prompts=dict(spec.get("prompts") or {}),
    )


def task_name(task: str | Path | None = None) -> str:
    """The name a run records for ``task`` (``run.json``'s ``task``) (00_setup)."""
    folder = task_dir(task)
    try:
        return load_task(folder).name
    except SettingsError:
        return folder.name


def load_schema(task: str | Path | None = None) -> dict[str, Any]:
    """The task's fields and label sets (02, 04): ``schema.json`` if the folder has one, else ``task.json``'s.

    Always returns a dict with ``task``, ``fields`` (extraction field names), ``labels`` (allowed
    values per field) and ``classification_labels``; other keys of ``schema.json`` pass through.
    """
    folder = task_dir(task)
    schema: dict[str, Any] = {"task": folder.name, "fields": [], "labels": {}, "classification_labels": []}
    if (folder / TASK_FILE).exists():
        spec = load_task(folder)
        schema.update(task=spec.name, fields=list(spec.fields), classification_labels=list(spec.labels))
    path = folder / "schema.json"
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SettingsError(f"{path} is not valid JSON ({exc}): fix it or delete it") from exc
        if isinstance(loaded, dict):
            schema.update({k: v for k, v in loaded.items() if k != "task"})
            fields = loaded.get("fields")
            if isinstance(fields, dict):  # {"field": {...}} style
                schema["fields"] = list(fields)
            elif isinstance(fields, list):
                schema["fields"] = [f["name"] if isinstance(f, dict) else str(f) for f in fields]
    return schema
