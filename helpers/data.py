"""Loading course data: JSONL (input/output or chat ``messages`` rows) and CSV, with validation.

Introduced in ``01_data_quality.ipynb``. Every row is normalised to one shape::

    {"id": str, "input": str, "output": str, "task": str | None, "meta": dict,
     "line": int,                  # 1-based line number in the file (CSV: data row + 1)
     "messages": list | None}      # the original chat turns for chat-style rows

A line that cannot be used is reported as a :class:`LoadIssue` naming its 1-based line and the
rest of the file still loads. Only a file that cannot be used at all raises :class:`DataError`,
whose message is one line saying what to fix. Files are only ever read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from helpers.paths import data_dir

SPLITS = ("train", "eval", "golden", "production_sample", "raw_train", "noisy_train")
ROLES = ("system", "user", "assistant")
DEFAULT_TASK = "support"


class DataError(ValueError):
    """A data file that cannot be used at all; the message says what to fix in one line."""


@dataclass
class LoadIssue:
    """One unusable or suspicious line: ``check`` uses the quality-check vocabulary (01_data_quality)."""

    line: int
    check: str  # "malformed_row" or "missing_field" or "empty_output"
    message: str


@dataclass
class LoadResult:
    """Rows that loaded, plus the issues found on the way (01_data_quality)."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    issues: list[LoadIssue] = field(default_factory=list)
    n_lines: int = 0

    def warnings(self) -> list[str]:
        """``file:line: message`` strings, ready to print (01_data_quality)."""
        return [f"{self.path.name}:{i.line}: {i.message}" for i in self.issues]


def _normalise_messages(obj: dict[str, Any], line: int) -> tuple[dict[str, Any] | None, LoadIssue | None]:
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return None, LoadIssue(line, "malformed_row", "'messages' must be a non-empty list")
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return None, LoadIssue(
                line, "malformed_row",
                "each message needs a role (system, user or assistant) and string content",
            )
    assistant = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    if not assistant:
        return None, LoadIssue(line, "missing_field", "conversation has no assistant turn to learn from")
    last = assistant[-1]
    users = [m["content"] for m in msgs[:last] if m["role"] == "user"]
    if not users:
        return None, LoadIssue(line, "missing_field", "conversation has no user turn before the answer")
    system = next((m["content"] for m in msgs if m["role"] == "system"), None)
    row = {
        "input": "\n\n".join(users),
        "output": msgs[last]["content"],
        "messages": msgs,
        "system": system,
    }
    return row, None


def normalise_row(obj: Any, line: int, task: str | None = None) -> tuple[dict[str, Any] | None, LoadIssue | None]:
    """Turn one parsed JSON value into the course's row shape, or say why not (01_data_quality)."""
    if not isinstance(obj, dict):
        return None, LoadIssue(line, "malformed_row", f"expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        row, issue = _normalise_messages(obj, line)
        if issue:
            return None, issue
    else:
        missing = [k for k in ("input", "output") if k not in obj or obj[k] is None]
        if missing:
            return None, LoadIssue(line, "missing_field", f"missing field(s): {', '.join(missing)}")
        bad = [k for k in ("input", "output") if not isinstance(obj[k], str)]
        if bad:
            return None, LoadIssue(line, "malformed_row", f"field(s) must be strings: {', '.join(bad)}")
        row = {"input": obj["input"], "output": obj["output"], "messages": None, "system": None}
    assert row is not None
    meta = obj.get("meta")
    row["id"] = str(obj.get("id", f"line-{line}"))
    row["task"] = obj.get("task", task)
    row["meta"] = meta if isinstance(meta, dict) else {}
    row["line"] = line
    return row, None


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise DataError(f"{path} is a folder: point at a .jsonl or .csv file inside it")
    if not path.exists():
        raise DataError(f"{path} does not exist: check the path")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raise DataError(f"{path} is gzip-compressed: decompress it first (gunzip {path.name})")
    for enc in ("utf-8-sig",):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    raise DataError(f"{path} is not UTF-8 text: re-save it as UTF-8")


def _iter_csv(text: str) -> Iterable[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"input", "output"} <= set(reader.fieldnames):
        raise DataError("CSV needs a header row with 'input' and 'output' columns")
    for i, rec in enumerate(reader, start=2):
        yield i, {k: v for k, v in rec.items() if k is not None}


def load_rows(path: str | Path, task: str | None = None) -> LoadResult:
    """Load a JSONL or CSV file into normalised rows, reporting bad lines (01_data_quality)."""
    path = Path(path)
    text = _read_text(path)
    result = LoadResult(path=path)
    if path.suffix.lower() == ".csv":
        items: Iterable[tuple[int, Any]] = _iter_csv(text)
        result.n_lines = text.count("\n")
    else:
        lines = text.splitlines()
        result.n_lines = len(lines)

        def parse() -> Iterable[tuple[int, Any]]:
            for n, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                try:
                    yield n, json.loads(raw)
                except json.JSONDecodeError as exc:
                    result.issues.append(LoadIssue(n, "malformed_row", f"not valid JSON ({exc.msg})"))

        items = parse()
    for n, obj in items:
        row, issue = normalise_row(obj, n, task)
        if issue:
            result.issues.append(issue)
        else:
            result.rows.append(row)
    if not result.rows and not result.issues:
        raise DataError(f"{path} holds no rows: add one JSON object per line")
    return result


def split_path(split: str, task: str = DEFAULT_TASK) -> Path:
    """The bundled file for one split, e.g. ``data/support/train.jsonl`` (01_data_quality)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    return data_dir() / task / f"{split}.jsonl"


def load_split(split: str, task: str = DEFAULT_TASK, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of a bundled split; any bad line is an error here, since bundled data is clean (02, 03)."""
    result = load_rows(split_path(split, task), task=task)
    if result.issues and split not in ("raw_train", "noisy_train"):
        raise DataError(f"{result.warnings()[0]} (bundled data should load cleanly)")
    rows = result.rows
    return rows[:limit] if limit is not None else rows


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` with id/input/output/task columns (03_qlora_training)."""
    from datasets import Dataset

    return Dataset.from_list(
        [{"id": r["id"], "input": r["input"], "output": r["output"], "task": r.get("task") or ""} for r in rows]
    )
