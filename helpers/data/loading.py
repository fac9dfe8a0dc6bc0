"""Loading course data: JSONL (input/output or chat ``messages`` rows) and CSV, with validation.

Introduced in ``01_data_quality.ipynb``. Every row is normalised to one shape::

    {"id": str, "input": str, "output": str, "task": str | None, "meta": dict,
     "line": int,                  # 1-based line number in the file (CSV: the record's first line)
     "messages": list | None,      # the original chat turns for chat-style rows
     "system": str | None}

A line that cannot be used is reported as a :class:`LoadIssue` naming its 1-based line and the
rest of the file still loads. Things worth knowing that do not cost a row (a file decoded from
UTF-16 or Latin-1, duplicate ids, mixed row styles) are *notices*: ``LoadResult.notices``.
Only a file that cannot be used at all raises :class:`DataError`, whose message is one line
saying what to fix. Files are only ever read, never written.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from helpers.core.errors import DataError  # noqa: F401 - raised here, defined with the others
from helpers.data.task_spec import task_dir

SPLITS = ("train", "eval", "golden", "production_sample", "raw_train", "noisy_train")
ROLES = ("system", "user", "assistant")
ROW_COLUMNS = ("input", "output")  # the text and the answer of a row
MAX_LINE_CHARS = 2_000_000  # a longer line is no training example; reported, never parsed
MAX_FILE_BYTES = 2_000_000_000  # refuse (rather than hang on) anything larger, gzip included
_LINE_BREAK = re.compile(r"\r\n|\n|\r")  # not str.splitlines(): JSON strings may hold U+2028 etc.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class LoadIssue:
    """One unusable or suspicious line: ``check`` uses the quality-check vocabulary (01_data_quality).

    ``line`` is 1-based; 0 means the whole file (used by notices such as an encoding fallback).
    """

    line: int
    check: str  # issues: "malformed_row" or "missing_field"; notices: "encoding", "duplicate_id", ...
    message: str


@dataclass
class LoadResult:
    """Rows that loaded, the lines that did not (``issues``) and file-level notices (01_data_quality)."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    issues: list[LoadIssue] = field(default_factory=list)
    n_lines: int = 0
    notices: list[LoadIssue] = field(default_factory=list)
    encoding: str = "utf-8"

    def warnings(self) -> list[str]:
        """``file:line: message`` strings for issues then notices, ready to print (01_data_quality)."""
        out = []
        for i in self.issues + self.notices:
            where = f"{self.path.name}:{i.line}" if i.line else self.path.name
            out.append(f"{where}: {i.message}")
        return out


def _has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _normalise_messages(obj: dict[str, Any], line: int) -> tuple[dict[str, Any] | None, LoadIssue | None]:
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return None, LoadIssue(line, "malformed_row", "'messages' must be a non-empty list of turns")
    for m in msgs:
        if not isinstance(m, dict):
            return None, LoadIssue(line, "malformed_row", "each message must be an object with role and content")
        role = m.get("role")
        if role not in ROLES:
            return None, LoadIssue(
                line, "malformed_row", f"unknown chat role {role!r}: use system, user or assistant"
            )
        if not isinstance(m.get("content"), str):
            return None, LoadIssue(line, "malformed_row", f"the {role} turn's content must be a string")
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


def normalise_row(
    obj: Any, line: int, task: str | None = None, require_output: bool = True
) -> tuple[dict[str, Any] | None, LoadIssue | None]:
    """Turn one parsed JSON value into the course's row shape, or say why not (01_data_quality).

    ``require_output=False`` accepts input-only rows (a production sample) with output ``""``.
    """
    if not isinstance(obj, dict):
        kind = "array" if isinstance(obj, list) else type(obj).__name__
        return None, LoadIssue(line, "malformed_row", f"expected a JSON object, got a {kind}")
    if not require_output and "messages" not in obj and obj.get("output") is None:
        obj = {**obj, "output": ""}
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
            hint = " (store JSON answers as a string: json.dumps(obj))" if isinstance(obj.get("output"), (dict, list)) else ""
            return None, LoadIssue(line, "malformed_row", f"field(s) must be strings: {', '.join(bad)}{hint}")
        row = {"input": obj["input"], "output": obj["output"], "messages": None, "system": None}
    assert row is not None
    if _has_lone_surrogate(row["input"]) or _has_lone_surrogate(row["output"]):
        return None, LoadIssue(line, "malformed_row", "text holds an invalid unicode escape (lone surrogate)")
    meta = obj.get("meta")
    row["id"] = str(obj.get("id", f"line-{line}"))
    row["task"] = obj.get("task", task)
    row["meta"] = meta if isinstance(meta, dict) else {}
    row["line"] = line
    return row, None


def _read_bytes(path: Path) -> tuple[bytes, list[LoadIssue]]:
    """The file's bytes (gunzipped when gzip), refusing folders, missing paths and pipes."""
    if not path.exists():
        raise DataError(f"{path} does not exist: check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder: point at a .jsonl or .csv file inside it")
    if not path.is_file():
        raise DataError(f"{path} is not a regular file (a pipe or device?): copy the data to a file first")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path} is larger than 2 GB: split it or sample it first")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror}): check its permissions") from None
    notices: list[LoadIssue] = []
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path} is a damaged gzip file ({exc}): re-download or re-compress it") from None
        if len(raw) > MAX_FILE_BYTES:
            raise DataError(f"{path} decompresses to more than 2 GB: split it or sample it first")
        notices.append(LoadIssue(0, "encoding", "gzip-compressed file, read decompressed (the file is unchanged)"))
    return raw, notices


def _decode(path: Path, raw: bytes) -> tuple[str, str, list[LoadIssue]]:
    """Decode bytes as UTF-8 (BOM allowed), UTF-16/32 with a BOM, or Latin-1 as a warned fallback."""
    if raw[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        enc = "utf-32"
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        enc = "utf-16"
    else:
        enc = ""
    if enc:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            raise DataError(f"{path} starts with a {enc.upper()} mark but does not decode: re-save it as UTF-8") from None
        return text, enc, [LoadIssue(0, "encoding", f"file is {enc.upper()}, decoded it; UTF-8 is the usual choice")]
    if raw.count(b"\x00") > max(8, len(raw) // 100):
        raise DataError(f"{path} looks binary (many NUL bytes), not JSONL or CSV: export the data as UTF-8 text")
    try:
        return raw.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
    for enc in ("cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if len(_CONTROL.findall(text)) > max(8, len(text) // 200):
            break  # decodes, but as gibberish: binary, not text
        return text, enc, [LoadIssue(
            bad_line, "encoding",
            f"not valid UTF-8 (first bad byte on this line): decoded as {enc}; check accented "
            f"characters and re-save the file as UTF-8",
        )]
    raise DataError(f"{path} is not text (binary data?): export the data as UTF-8 JSONL or CSV")


def _parse_line(text: str, n: int) -> tuple[Any, LoadIssue | None]:
    """One JSONL line -> a parsed value, or the issue saying why it is unusable."""
    if len(text) > MAX_LINE_CHARS:
        return None, LoadIssue(n, "malformed_row", f"line is {len(text):,} characters long; not read (limit {MAX_LINE_CHARS:,})")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        truncated = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        return None, LoadIssue(n, "malformed_row", f"not valid JSON: {exc.msg} at column {exc.colno}{truncated}")
    except RecursionError:
        return None, LoadIssue(n, "malformed_row", "JSON nested too deeply to read")
    except ValueError as exc:  # e.g. an integer with thousands of digits
        return None, LoadIssue(n, "malformed_row", f"not usable JSON: {str(exc).splitlines()[0]}")


def _iter_jsonl(text: str, result: LoadResult) -> Iterable[tuple[int, Any]]:
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    result.n_lines = len(lines)
    for n, raw in enumerate(lines, start=1):
        raw = raw.lstrip("\ufeff")  # a BOM left in the middle by concatenating files
        if not raw.strip():
            continue
        obj, issue = _parse_line(raw, n)
        if issue:
            result.issues.append(issue)
        else:
            yield n, obj


def _whole_document(path: Path, text: str) -> None:
    """Refuse a single JSON document (an array, or one pretty-printed object) with the fix."""
    head = text.lstrip()[:1]
    if head not in "[{" or not head:
        return
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return
    if isinstance(doc, list):
        raise DataError(
            f"{path} is one JSON array, not one object per line: convert it to JSONL, e.g. "
            f"[json.dumps(r) for r in json.load(f)] written one per line"
        )
    if isinstance(doc, dict) and "\n" in text.strip():
        raise DataError(f"{path} is one multi-line JSON object: write one compact object per line (JSONL)")


def _iter_csv(path: Path, text: str, result: LoadResult, delimiter: str,
              columns: tuple[str, str] = ROW_COLUMNS) -> Iterable[tuple[int, Any]]:
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        header = next(reader, None)
    except csv.Error as exc:
        raise DataError(f"{path} is not readable CSV ({exc}): re-export it as CSV with a header row") from None
    cols = [c.strip().lstrip("\ufeff") for c in header or []]
    missing = [c for c in columns if c not in cols]
    if missing:
        found = ", ".join(repr(c) for c in cols[:6]) or "nothing"
        fix = ("add a header row with 'input' and 'output' columns" if columns == ROW_COLUMNS else
               "name the text and answer columns with --input-column and --output-column")
        raise DataError(f"{path} lacks column(s) {', '.join(missing)} (header has {found}): {fix}")
    start = reader.line_num + 1
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.issues.append(LoadIssue(start, "malformed_row", f"unreadable CSV record ({exc})"))
            break
        line, start = start, reader.line_num + 1
        if not any(v.strip() for v in rec):
            continue
        if len(rec) > len(cols):
            result.issues.append(LoadIssue(
                line, "malformed_row", f"{len(rec)} fields but the header has {len(cols)}: quote fields that contain '{delimiter}'"
            ))
            continue
        obj: dict[str, Any] = {c: (rec[i] if i < len(rec) else None) for i, c in enumerate(cols)}
        if isinstance(obj.get("meta"), str):
            obj.pop("meta")
        yield line, _renamed(obj, columns)
    result.n_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def _renamed(obj: Any, columns: tuple[str, str]) -> Any:
    """A record whose ``columns`` (text, answer) are called ``input`` and ``output``; chat rows unchanged."""
    if columns == ROW_COLUMNS or not isinstance(obj, dict) or "messages" in obj:
        return obj
    keep = {k: v for k, v in obj.items() if k not in (*columns, *ROW_COLUMNS)}
    return {**keep, **{name: obj[c] for name, c in zip(ROW_COLUMNS, columns) if c in obj}}


def _add_notices(result: LoadResult) -> None:
    """File-level warnings that do not cost a row: duplicate ids, mixed row styles."""
    seen: dict[str, int] = {}
    for row in result.rows:
        first = seen.setdefault(row["id"], row["line"])
        if first != row["line"]:
            result.notices.append(LoadIssue(row["line"], "duplicate_id", f"id {row['id']!r} already used on line {first}"))
    styles = Counter("chat" if r["messages"] is not None else "input/output" for r in result.rows)
    if len(styles) > 1:
        result.notices.append(LoadIssue(0, "mixed_styles", (
            f"file mixes chat rows ({styles['chat']}) and input/output rows ({styles['input/output']}); "
            f"both were loaded, but one style per file is clearer"
        )))


def _collect(result: LoadResult, items: Iterable[tuple[int, Any]], task: str | None, require_output: bool) -> None:
    """Normalise each (line, parsed value) into ``result``: a row, or the issue saying why not."""
    for n, obj in items:
        row, issue = normalise_row(obj, n, task, require_output)
        if issue:
            result.issues.append(issue)
        else:
            result.rows.append(row)


def _is_loaded_row(obj: Any) -> bool:
    return isinstance(obj, dict) and "line" in obj and "input" in obj and "output" in obj


def load_objects(objs: Iterable[Any], task: str | None = None, require_output: bool = True) -> LoadResult:
    """Rows held in memory, validated like a file's lines: item ``i`` counts as line ``i`` (01_data_quality).

    Each item is a parsed JSON value (normalised as :func:`load_rows` does) or a row that
    :func:`load_rows` already returned (kept as it is, with its own ``line``).
    """
    result = LoadResult(path=Path("<rows>"))
    for i, obj in enumerate(objs, start=1):
        if _is_loaded_row(obj):
            result.rows.append(obj)
        else:
            _collect(result, [(i, obj)], task, require_output)
    result.n_lines = len(result.rows) + len(result.issues)
    return result


def load_rows(path: str | Path, task: str | None = None, require_output: bool = True,
              columns: tuple[str, str] = ROW_COLUMNS) -> LoadResult:
    """Load a JSONL or CSV file into normalised rows, reporting bad lines (01_data_quality).

    ``require_output=False`` accepts rows without an answer (a production sample of inputs).
    ``columns`` names the text and answer columns (CSV) or keys (JSONL) when they are not
    ``input`` and ``output`` (``python -m helpers task init --input-column ...``).
    Never modifies the file. Raises :class:`DataError` (one line naming the fix) only when
    nothing usable can be read.
    """
    path = Path(path)
    raw, notices = _read_bytes(path)
    if not raw.strip():
        raise DataError(f"{path} is empty: add one JSON object per line")
    text, encoding, enc_notices = _decode(path, raw)
    result = LoadResult(path=path, encoding=encoding, notices=notices + enc_notices)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in (".csv", ".tsv"):
        items = _iter_csv(path, text, result, "\t" if suffix == ".tsv" else ",", columns)
    else:
        _whole_document(path, text)
        items = ((n, _renamed(obj, columns)) for n, obj in _iter_jsonl(text, result))
    _collect(result, items, task, require_output)
    if not result.rows:
        if not result.issues:
            raise DataError(f"{path} holds no rows: add one JSON object per line")
        first = result.issues[0]
        raise DataError(
            f"{path} has no usable row ({len(result.issues)} bad line(s); line {first.line}: "
            f"{first.message}): fix the format, one JSON object per line with input and output"
        )
    result.issues.sort(key=lambda i: i.line)
    _add_notices(result)
    return result


def split_path(split: str, task: str | Path | None = None) -> Path:
    """The file of one split of a task folder, e.g. ``data/support/train.jsonl``; the task in force if None (03_qlora_training)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    return task_dir(task) / f"{split}.jsonl"


def load_split(split: str, task: str | Path | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of a task's split; any bad line is an error here, since split files are clean (02, 03)."""
    path = split_path(split, task)
    if not path.exists():
        raise DataError(f"{path} does not exist: this task has no {split!r} split (task init writes train, eval, golden)")
    result = load_rows(path)
    if result.issues and split not in ("raw_train", "noisy_train"):
        raise DataError(f"{result.warnings()[0]} (bundled data should load cleanly)")
    rows = result.rows
    return rows[:limit] if limit is not None else rows

