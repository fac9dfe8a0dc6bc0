"""Label noise planted on purpose: notebook 05's noisy arm for a task that ships no noisy file.

Introduced in ``05_clean_vs_noisy.ipynb``. The bundled task ships ``noisy_train.jsonl`` (its
noise and rates are in ``noisy_stats.json``); a learner's own task does not. :func:`add_label_noise`
corrupts a *copy* of the clean rows at a stated rate, so the two arms see the same inputs and
differ only in answers: the comparison measures what label noise costs on *your* task.

Two kinds, as annotation goes wrong in practice:

* ``random`` - a careless annotator: a chosen row gets another label (classification), one
  field takes another row's value (extraction), or another row's summary (summarisation);
* ``systematic`` - one annotator's habit: the most common label is written as the second most
  common, a field is left null whenever it is set, or summaries are cut to their first half.

The bundled ``noisy_train.jsonl`` records what was done to each row (``meta.noise``, with the
correct answer in ``meta.clean_output``), so :func:`noise_kind_rows` can keep one kind of noise and
undo the others: notebook 05's optional arm per noise kind.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any, Iterable, Sequence

from helpers.core.errors import SettingsError
from helpers.data.loading import load_split
from helpers.data.task_spec import load_task
from helpers.data.tasks import check_view
from helpers.data.text import parse_json_output, strip_fence

NOISE_KINDS = ("random", "systematic")


def _corrupt_json(output: str, rng: random.Random, pool: Sequence[dict[str, Any]], systematic_field: str | None) -> str | None:
    obj = parse_json_output(output, strict=True)
    if not isinstance(obj, dict) or not obj:
        return None
    if systematic_field is not None:
        if obj.get(systematic_field) is None:
            return None
        obj[systematic_field] = None
        return json.dumps(obj, ensure_ascii=False)
    field = rng.choice(sorted(obj))
    values = [v for v in pool if field in v and v[field] != obj[field]]
    if not values:
        return None
    obj[field] = rng.choice(values)[field]
    return json.dumps(obj, ensure_ascii=False)


def add_label_noise(
    rows: Sequence[dict[str, Any]], view: str, rate: float = 0.3, kind: str = "random", seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Copies of ``rows`` with about ``rate`` of their answers corrupted, and what was done (05).

    Returns ``(noisy_rows, stats)``; ``stats`` holds the kind, the rate asked for, the rows
    changed and their ids. The input rows are never modified.
    """
    check_view(view)
    if kind not in NOISE_KINDS:
        raise SettingsError(f"unknown noise kind {kind!r}: use one of {', '.join(NOISE_KINDS)}")
    if not 0 <= rate <= 1:
        raise SettingsError(f"noise rate {rate} is outside 0-1: use e.g. 0.3 for 30% of the rows")
    rng = random.Random(seed)
    out = [dict(r) for r in rows]
    outputs = [str(r["output"]) for r in out]
    changed: list[str] = []
    target = round(rate * len(out))
    order = list(range(len(out)))
    rng.shuffle(order)
    common = [lab for lab, _ in Counter(o.strip() for o in outputs).most_common(2)]
    field = None
    parsed: list[dict[str, Any]] = []  # every answer parsed once, not once per corrupted row
    if view == "extraction":
        parsed = [p for p in (parse_json_output(o, strict=True) for o in outputs) if isinstance(p, dict)]
    if view == "extraction" and kind == "systematic":
        filled = Counter(k for p in parsed for k, v in p.items() if v is not None)
        field = filled.most_common(1)[0][0] if filled else None
    for i in order:
        if len(changed) >= target:
            break
        old = outputs[i]
        new: str | None
        if view == "classification":
            if kind == "systematic":
                new = common[1] if len(common) == 2 and old.strip() == common[0] else None
            else:
                others = sorted({o.strip() for o in outputs} - {old.strip()})
                new = rng.choice(others) if others else None
        elif view == "extraction":
            new = _corrupt_json(old, rng, parsed, field if kind == "systematic" else None)
        elif kind == "systematic":
            words = old.split()
            new = " ".join(words[: max(1, len(words) // 2)]) if len(words) > 1 else None
        else:
            others = [o for o in outputs if o != old]
            new = rng.choice(others) if others else None
        if new is not None and new != old:
            out[i]["output"] = new
            changed.append(str(out[i].get("id")))
    stats = {"kind": kind, "rate_asked": rate, "rows": len(out), "changed": len(changed),
             "rate": round(len(changed) / max(len(out), 1), 4), "seed": seed, "changed_ids": changed}
    return out, stats


def noisy_arm_rows(
    clean: Sequence[dict[str, Any]], noisy_limit: int | None, task: Any = None,
    rate: float = 0.3, kind: str = "random", seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Notebook 05's noisy arm: the task's ``noisy_train`` split if it ships one, else ``clean`` with planted noise (05).

    Returns ``(rows, stats)``: the bundled file's ``noisy_stats.json``, or :func:`add_label_noise`'s
    stats (without the changed ids).
    """
    spec = load_task(task)
    if spec.has("noisy_train"):
        stats_file = spec.folder / "noisy_stats.json"
        stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
        return load_split("noisy_train", spec.folder, limit=noisy_limit), stats
    rows, stats = add_label_noise(clean, spec.view, rate=rate, kind=kind, seed=seed)
    return rows, {k: v for k, v in stats.items() if k != "changed_ids"}


def noise_kinds(stats: dict[str, Any]) -> list[str]:
    """The noise kinds a ``noisy_stats.json`` names: the random ones, then the systematic ones (05_clean_vs_noisy)."""
    return list(stats.get("stated_rates", {})) + list(stats.get("systematic", {}))


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _in_layout(noisy_text: str, noisy_obj: dict[str, Any], values: dict[str, Any]) -> str:
    """``values`` written the way ``noisy_text`` is: its keys, their order, its indent and fence."""
    obj = {key: values[_snake(key)] for key in noisy_obj}
    body = strip_fence(noisy_text).strip()
    dumped = json.dumps(obj, ensure_ascii=False, indent=2 if "\n" in body else None)
    return noisy_text.replace(body, dumped) if body != noisy_text else dumped


def noise_kind_rows(
    rows: Sequence[dict[str, Any]], stats: dict[str, Any], keep: str | Iterable[str],
) -> list[dict[str, Any]]:
    """Copies of the noisy set's rows keeping only the noise kinds in ``keep``, the others undone (05_clean_vs_noisy).

    ``rows`` are ``noisy_train`` rows whose ``meta.noise`` lists what was done and whose
    ``meta.clean_output`` keeps the correct answer; ``stats`` is their ``noisy_stats.json`` (it
    names the kinds and, for a systematic kind, the field it changes). A row's field changed by a
    kind not kept takes its value from ``meta.clean_output``, and its layout (fence, key order or
    case, indent) stays only if a format kind on it is kept; ``meta.noise`` lists the kinds kept and
    ``meta.category`` follows ``issue_type``. ``keep=[]`` gives the same inputs with clean answers.
    The rows passed in are never modified.
    """
    keep = [keep] if isinstance(keep, str) else list(keep)
    known = noise_kinds(stats)
    unknown = [k for k in keep if k not in known]
    if unknown:
        raise SettingsError(f"unknown noise kind(s) {', '.join(unknown)}: use some of {', '.join(known)}")
    systematic = stats.get("systematic", {})
    out: list[dict[str, Any]] = []
    for row in rows:
        meta = row.get("meta") or {}
        if "clean_output" not in meta:
            raise SettingsError(f"row {row.get('id')!r} has no meta.clean_output: noise_kind_rows needs the "
                                "bundled noisy_train rows, which record what was done to each row")
        kinds = list(meta.get("noise") or [])
        kept = [k for k in kinds if k in keep]
        new = dict(row)
        new["meta"] = {**meta, "noise": kept}
        if kept == kinds:
            out.append(new)
            continue
        clean = parse_json_output(meta["clean_output"], strict=True) or {}
        noisy = parse_json_output(str(row["output"]), strict=True, allow_fence=True) or {}
        noisy_values = {_snake(k): v for k, v in noisy.items()}
        values = dict(clean)
        fields = {k: (k if k in clean else systematic.get(k, {}).get("field")) for k in kept}
        for field in fields.values():
            if field is not None:
                values[field] = noisy_values.get(field)
        if not kept:
            new["output"] = meta["clean_output"]
        elif any(field is None for field in fields.values()):  # a format kind is kept: keep the layout
            new["output"] = _in_layout(str(row["output"]), noisy, values)
        else:
            new["output"] = json.dumps(values, ensure_ascii=False)
        if "category" in meta and "issue_type" in values:
            new["meta"]["category"] = values["issue_type"]
        out.append(new)
    return out
