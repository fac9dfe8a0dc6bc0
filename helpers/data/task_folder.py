"""A task folder from one file of your own: ``python -m helpers task init``.

Introduced in ``guide/your_own_data.md``. A task folder holds ``train``, ``eval`` and ``golden``
(``.jsonl``) and ``task.json``::

    {"name": str, "view": "classification" | "extraction" | "summarisation",
     "labels": [str] (classification), "fields": [str] (extraction),
     "instructions": str, "primary_metric": str,
     "source": {"file", "sha256", "rows", "columns", "seed"}, "splits": {split: rows}}

:func:`init_task` builds one from a single CSV or JSONL file. The split is seeded and, for
classification, stratified by label; golden is drawn first, then eval, the rest is train. Rows
with the same normalised input (:func:`helpers.data.text.normalise_text`, the key of notebook 01's
duplicate and leak checks) always go to the same split, so no message is in two splits. The input
file is only read; nothing is written unless every check passes, and never into a folder that
already holds files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

from helpers.core.errors import USER_ERRORS, DataError, SettingsError
from helpers.core.runs import file_sha256, write_json, write_jsonl
from helpers.data.loading import load_rows
from helpers.data.task_spec import TASK_FILE, default_prompt
from helpers.data.tasks import PRIMARY_METRIC, check_view
from helpers.data.text import normalise_text, parse_json_output

TASK_SPLITS = ("golden", "eval", "train")  # the order rows are drawn in: golden first
MAX_LABELS = 50  # more distinct answers than this is not a label set
MAX_LABEL_CHARS = 60  # nor is an answer this long
MIN_PER_LABEL = 3  # one example each for train, eval and golden


def _view_facts(view: str, rows: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    """The label set or JSON fields the answers hold; an answer column that cannot serve ``view`` raises."""
    answers = [r["output"].strip() for r in rows]
    if view == "classification":
        counts = Counter(answers)
        long = next((a for a in counts if len(a) > MAX_LABEL_CHARS), None)
        if len(counts) > MAX_LABELS or long is not None:
            example = long or next(iter(counts))
            raise DataError(
                f"{path}: the answers are not a label set ({len(counts)} distinct, e.g. {example[:50]!r}): "
                f"use --view summarisation for free text, or pick the label column with --output-column")
        rare = sorted((n, a) for a, n in counts.items() if n < MIN_PER_LABEL)
        if rare:
            n, label = rare[0]
            raise DataError(
                f"{path}: label {label!r} has {n} example(s); every label needs at least {MIN_PER_LABEL} "
                f"(one each for train, eval and golden): add examples, merge it into another label or drop its rows")
        return {"labels": sorted(counts)}
    if view == "extraction":
        fields: set[str] = set()
        for r, a in zip(rows, answers):
            obj = parse_json_output(a, strict=True)
            if obj is None:
                raise DataError(f"{path}:{r['line']}: the answer is not a JSON object ({a[:40]!r}): "
                                f"extraction needs JSON answers; use --view classification or summarisation")
            fields |= set(obj)
        return {"fields": sorted(fields)}
    return {}


def split_groups(rows: list[dict[str, Any]], view: str, golden: int, eval_n: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Rows split into golden, eval and train by groups of equal normalised input (your_own_data).

    Seeded; for classification each label's groups are shared out in proportion (largest
    remainder), at least one group of every label to each split. Each split's rows are then
    shuffled (seeded), so a profile that reads the first N rows of a split gets the label mix too. Counts are in groups, which
    are single rows unless the file repeats a message.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[normalise_text(r["input"])].append(r)
    keys = list(groups)
    random.Random(seed).shuffle(keys)

    def stratum(k: str) -> str:
        return Counter(r["output"].strip() for r in groups[k]).most_common(1)[0][0] if view == "classification" else ""

    strata: dict[str, list[str]] = defaultdict(list)
    for k in keys:
        strata[stratum(k)].append(k)
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in TASK_SPLITS}
    remaining = dict(strata)
    for split, want in (("golden", golden), ("eval", eval_n)):
        sizes = {s: len(ks) for s, ks in remaining.items()}
        quota = _shares(sizes, want, floor=1 if view == "classification" else 0)
        for s, n in quota.items():
            out[split] += [r for k in remaining[s][:n] for r in groups[k]]
            remaining[s] = remaining[s][n:]
    out["train"] = [r for s in strata for k in remaining[s] for r in groups[k]]
    order = random.Random(seed + 1)
    for part in out.values():  # rows were gathered label by label: mix them, or the first N rows are one label
        order.shuffle(part)
    return out


def _shares(sizes: dict[str, int], total: int, floor: int) -> dict[str, int]:
    """``total`` shared out over strata in proportion to ``sizes`` (largest remainder), at least ``floor`` each."""
    whole = sum(sizes.values())
    raw = {s: total * n / whole for s, n in sizes.items()}
    quota = {s: max(floor, int(v)) for s, v in raw.items()}
    for s in sorted(raw, key=lambda s: raw[s] - int(raw[s]), reverse=True):
        if sum(quota.values()) >= total:
            break
        quota[s] += 1
    return {s: min(q, sizes[s] - 1) if sizes[s] > 1 else 0 for s, q in quota.items()}  # keep one for train


def _check_sizes(path: Path, n_groups: int, golden: int, eval_n: int) -> None:
    train = n_groups - golden - eval_n
    if golden < 1 or eval_n < 1:
        raise SettingsError("--golden and --eval must each be at least 1")
    if train < max(10, golden // 2):
        raise DataError(
            f"{path} has {n_groups} distinct inputs, but --golden {golden} and --eval {eval_n} would leave "
            f"{max(train, 0)} for training: lower --golden / --eval (train keeps at least 10 and half of golden)")


def init_task(
    source: str | Path, out_dir: str | Path, view: str, input_column: str = "input", output_column: str = "output",
    golden: int | None = None, eval_n: int | None = None, seed: int = 0, name: str | None = None,
) -> dict[str, Any]:
    """Build a task folder from ``source``; returns what ``task.json`` holds (your_own_data).

    ``golden`` / ``eval_n`` default to 10% of the distinct inputs each (at most 200). Raises
    :class:`DataError` / :class:`SettingsError` (one sentence naming the fix, nothing written) for
    missing columns, unreadable lines, empty answers, repeated ids, a label with fewer than three
    examples, too few rows for the splits, answers the view cannot use, or an ``out_dir`` that
    already holds files.
    """
    source, out = Path(source), Path(out_dir)
    check_view(view)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SettingsError(f"{out} already exists and holds files: choose a new folder (task init never overwrites)")
    loaded = load_rows(source, columns=(input_column, output_column))
    if loaded.issues:
        first = loaded.issues[0]
        raise DataError(f"{source}: {len(loaded.issues)} unusable line(s), first line {first.line}: {first.message} "
                        f"(python -m helpers quality check {source} lists them): fix or remove them")
    rows = loaded.rows
    empty = next((r for r in rows if not r["output"].strip() or not r["input"].strip()), None)
    if empty is not None:
        raise DataError(f"{source}:{empty['line']}: empty text or answer: fill it in or remove the row")
    ids = Counter(r["id"] for r in rows)
    twice = next((i for i, n in ids.items() if n > 1), None)
    if twice is not None:
        raise DataError(f"{source}: id {twice!r} is used {ids[twice]} times: give every row its own id "
                        f"(or drop the id column: line numbers are used then)")
    facts = _view_facts(view, rows, source)
    n_groups = len({normalise_text(r["input"]) for r in rows})
    golden = golden if golden is not None else min(200, max(1, n_groups // 10))
    eval_n = eval_n if eval_n is not None else min(200, max(1, n_groups // 10))
    _check_sizes(source, n_groups, golden, eval_n)
    splits = split_groups(rows, view, golden, eval_n, seed)
    seen: dict[str, str] = {}
    for split, part in splits.items():  # the guarantee the grouping gives, checked before anything is written
        for r in part:
            if seen.setdefault(normalise_text(r["input"]), split) != split:
                raise DataError(f"{source}:{r['line']}: the same input would be in {seen[normalise_text(r['input'])]} "
                                f"and {split}; nothing was written")
    spec = {"name": name or out.name, "view": view, **facts,
            "instructions": default_prompt(view, "detailed", facts.get("labels", ()), facts.get("fields", ())),
            "primary_metric": PRIMARY_METRIC[view],
            "source": {"file": str(source), "sha256": file_sha256(source), "rows": len(rows),
                       "columns": [input_column, output_column], "seed": seed},
            "splits": {s: len(splits[s]) for s in ("train", "eval", "golden")}}
    _write_folder(out, splits, spec)
    return spec


def _write_folder(out: Path, splits: dict[str, list[dict[str, Any]]], spec: dict[str, Any]) -> None:
    """Everything into a temporary sibling, then one rename: a crash leaves no half-written task."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for split, part in splits.items():
            write_jsonl(tmp / f"{split}.jsonl", [{"id": r["id"], "input": r["input"], "output": r["output"],
                                                   **({"meta": r["meta"]} if r["meta"] else {})} for r in part])
        write_json(tmp / TASK_FILE, spec)
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.replace(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cli_task(args: argparse.Namespace) -> int:
    """``python -m helpers task init OUT_DIR --from FILE --view VIEW ...`` (your_own_data)."""
    try:
        spec = init_task(args.source, args.out_dir, args.view, args.input_column, args.output_column,
                         args.golden, args.eval, args.seed)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    labels = f", labels {', '.join(spec['labels'])}" if "labels" in spec else ""
    print(f"wrote {args.out_dir}: " + ", ".join(f"{s} {n}" for s, n in spec["splits"].items())
          + f" rows ({spec['view']}{labels}; seed {spec['source']['seed']})")
    print(json.dumps(spec, indent=2) if args.json else f"edit {Path(args.out_dir) / TASK_FILE} to change the instructions")
    return 0
