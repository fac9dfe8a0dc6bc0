"""Data-quality checks for fine-tuning data, the cleaning decisions, and the ``quality`` CLI.

Introduced in ``01_data_quality.ipynb``. Each check is one small function that takes the loaded
rows (see :mod:`helpers.data.loading`) and returns a :class:`Finding` or ``None``; :func:`run_checks`
runs them all and returns a :class:`QualityReport`. Line numbers are always 1-based lines of the
checked file. Nothing here ever writes to the checked file: cleaning produces a *new* file and a
decision log under ``runs/<run-id>/quality/`` (:func:`write_cleaned`).

Checks (names are the CLI contract in guide / COURSE_DESIGN.md): malformed_row, missing_field,
empty_output, exact_duplicate, near_duplicate, conflicting_label, inconsistent_format,
invalid_json_output, train_eval_leak, pii, too_long, distribution_shift.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Iterable, Sequence

from helpers.data.loading import DataError, LoadResult, load_rows, normalise_row

CHECKS = (
    "malformed_row", "missing_field", "empty_output", "exact_duplicate", "near_duplicate",
    "conflicting_label", "inconsistent_format", "invalid_json_output", "train_eval_leak", "pii",
    "too_long", "distribution_shift",
)

WHY = {
    "malformed_row": "A line the loader cannot read is silently lost, or worse, crashes a training job hours in.",
    "missing_field": "A row without an answer teaches nothing; a chat without an assistant turn has no loss to compute.",
    "empty_output": "Training on empty answers teaches the model that saying nothing is a good reply.",
    "exact_duplicate": "Copies weigh some examples double: the model memorises them and the data looks bigger than it is.",
    "near_duplicate": "Rephrased copies have the same effect as exact copies, but hide from a simple equality test.",
    "conflicting_label": "The same question with two different answers: the model learns to guess, and metrics look noisy.",
    "inconsistent_format": "The model copies the style it sees; mixed styles make its output format unpredictable.",
    "invalid_json_output": "A model trained on broken JSON produces broken JSON, and every parser downstream fails.",
    "train_eval_leak": "An eval question seen in training inflates the score: you measure memory, not skill.",
    "pii": "Personal data can be memorised and repeated to other users; it should not be in training data.",
    "too_long": "Rows over max_seq_len are truncated, usually cutting off the answer the model should learn.",
    "distribution_shift": "If production looks different from training, good eval numbers will not carry over.",
}

DEFAULT_ACTIONS = {
    "malformed_row": "drop", "missing_field": "drop", "empty_output": "drop",
    "exact_duplicate": "drop", "near_duplicate": "drop", "conflicting_label": "drop",
    "inconsistent_format": "fix", "invalid_json_output": "drop", "train_eval_leak": "drop",
    "pii": "drop", "too_long": "drop", "distribution_shift": "keep",
}
ACTIONS = ("keep", "drop", "fix")

NEAR_DUP_COSINE = 0.95
LEAK_COSINE = 0.98
COVERAGE_COSINE = 0.6  # a production input whose nearest train input is below this is "uncovered"
LABEL_KEYS = ("issue_type", "label", "category", "intent", "class")


# --------------------------------------------------------------------------------------------
# Report objects
# --------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One check that fired: which lines, a one-sentence message, examples and extras (01_data_quality).

    ``extra`` carries structured details: ``groups`` (lists of lines that belong together),
    ``fixes`` ({line: suggested output}), ``production_rows`` (distribution_shift).
    """

    check: str
    rows: list[int]
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contract's shape, plus JSON-safe extras (groups, production_rows)."""
        out: dict[str, Any] = {"check": self.check, "rows": self.rows, "message": self.message}
        for key in ("groups", "production_rows"):
            if key in self.extra:
                out[key] = self.extra[key]
        return out


@dataclass
class QualityReport:
    """Every finding for one file, with the rows that loaded (01_data_quality)."""

    path: str
    n_rows: int
    rows: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def finding(self, check: str) -> Finding | None:
        """The finding for one check, or None when it did not fire."""
        return next((f for f in self.findings if f.check == check), None)

    def flagged(self) -> dict[str, list[int]]:
        """{check: lines} for every finding (01_data_quality)."""
        return {f.check: list(f.rows) for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        """The CLI contract: ``{"n_rows": int, "findings": [{"check", "rows", "message"}]}``."""
        return {"n_rows": self.n_rows, "findings": [f.to_json() for f in self.findings]}

    def table(self) -> Any:
        """A pandas DataFrame, one line per finding, for notebooks (01_data_quality)."""
        import pandas as pd

        return pd.DataFrame(
            [{"check": f.check, "n_rows": len(f.rows), "rows": _short_list(f.rows), "message": f.message}
             for f in self.findings],
            columns=["check", "n_rows", "rows", "message"],
        )


def examples_table(report: "QualityReport", check: str, n: int = 4) -> Any:
    """Up to ``n`` example rows of one finding as a DataFrame, for explaining it (01_data_quality)."""
    import pandas as pd

    f = report.finding(check)
    if f is None:
        return pd.DataFrame(columns=["line", "input", "output"])
    by_line = {r["line"]: r for r in report.rows}
    lines = [x for g in f.extra.get("groups", []) for x in g][: n] or f.rows[:n]
    recs = [{"line": x, "input": _clip(by_line[x]["input"], 120), "output": _clip(by_line[x]["output"], 120)}
            for x in lines if x in by_line]
    if not recs:
        recs = [{"line": e["line"], "input": e.get("problem", ""), "output": ""} for e in f.examples]
    return pd.DataFrame(recs, columns=["line", "input", "output"])


def _short_list(lines: Sequence[int], n: int = 8) -> str:
    head = ", ".join(str(x) for x in list(lines)[:n])
    return head + (f", ... (+{len(lines) - n})" if len(lines) > n else "")


def _clip(text: str, n: int = 240) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _examples(rows_by_line: dict[int, dict[str, Any]], lines: Iterable[int], n: int = 3) -> list[dict[str, Any]]:
    out = []
    for line in list(lines)[:n]:
        r = rows_by_line.get(line)
        if r is not None:
            out.append({"line": line, "id": r["id"], "input": _clip(r["input"]), "output": _clip(r["output"])})
    return out


def _finding(check: str, lines: Iterable[int], message: str, rows_by_line: dict[int, dict[str, Any]],
             **extra: Any) -> Finding | None:
    lines = sorted(set(lines))
    if not lines and check != "distribution_shift":
        return None
    return Finding(check, lines, message, _examples(rows_by_line, lines), dict(extra))


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)
_PUNCT = re.compile(r"[^\w\s]", re.U)
_SPACE = re.compile(r"\s+")
_IDENT = re.compile(r"[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*")


def normalise_text(text: str) -> str:
    """Lowercase, strip punctuation, collapse whitespace: the near-duplicate key (01_data_quality)."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower()).replace("_", " ")).strip()


def strip_fence(text: str) -> str:
    """The text inside a Markdown code fence (```json ... ```), or the text itself (01_data_quality)."""
    m = _FENCE.match(text)
    return m.group(1) if m else text


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text`` (a code fence is removed first), or None (01_data_quality)."""
    try:
        obj = json.loads(strip_fence(text).strip())
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _lower_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower_keys(v) for v in obj]
    return obj


def canonical_output(text: str) -> str:
    """A form of an output that ignores formatting: sorted lower-cased JSON, else normalised text (01)."""
    obj = parse_json_object(text)
    if obj is not None:
        return json.dumps(_lower_keys(obj), sort_keys=True, ensure_ascii=False)
    return normalise_text(text)


def outputs_agree(a: str, b: str) -> bool:
    """True when two outputs say the same thing (JSON compared parsed; long free text fuzzily) (01)."""
    ca, cb = canonical_output(a), canonical_output(b)
    if ca == cb:
        return True
    if ca.startswith("{") or cb.startswith("{"):
        return False
    if min(len(ca.split()), len(cb.split())) < 8:  # labels and short answers: any change is a conflict
        return False
    return SequenceMatcher(None, ca, cb, autojunk=False).ratio() >= 0.8


def identifiers(text: str) -> frozenset[str]:
    """Tokens holding a digit (order ids, amounts, dates): near-duplicates by meaning must share them (01)."""
    return frozenset(t.lower() for t in _IDENT.findall(text))


def json_dominant(rows: Sequence[dict[str, Any]]) -> bool:
    """True when most non-empty outputs parse as JSON objects: an extraction-style file (01)."""
    outs = [r["output"] for r in rows if r["output"].strip()]
    return bool(outs) and sum(parse_json_object(o) is not None for o in outs) > len(outs) / 2


# --------------------------------------------------------------------------------------------
# Row-level checks
# --------------------------------------------------------------------------------------------


def check_load_issues(result: LoadResult) -> list[Finding]:
    """malformed_row and missing_field, from the loader's per-line issues (01_data_quality)."""
    out = []
    for check in ("malformed_row", "missing_field"):
        issues = [i for i in result.issues if i.check == check]
        if issues:
            first = issues[0]
            msg = (f"{len(issues)} line(s) cannot be used as training rows (e.g. line {first.line}: "
                   f"{first.message}); fix or drop them")
            f = Finding(check, sorted(i.line for i in issues), msg,
                        [{"line": i.line, "id": "", "input": "", "output": "", "problem": i.message} for i in issues[:3]])
            out.append(f)
    return out


def check_empty_output(rows: Sequence[dict[str, Any]]) -> Finding | None:
    """Rows whose output is empty or whitespace only (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    lines = [r["line"] for r in rows if not r["output"].strip()]
    return _finding("empty_output", lines, f"{len(lines)} row(s) have an empty output: drop them or write the answer", by_line)


def check_exact_duplicates(rows: Sequence[dict[str, Any]]) -> Finding | None:
    """Rows with the same input and output as an earlier row; only the later copies (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    first: dict[tuple[str, str], int] = {}
    groups: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        key = (r["input"], r["output"])
        if key in first:
            groups[first[key]].append(r["line"])
        else:
            first[key] = r["line"]
    lines = [x for g in groups.values() for x in g]
    return _finding(
        "exact_duplicate", lines,
        f"{len(lines)} row(s) repeat an earlier row exactly (same input and output): keep the first copy",
        by_line, groups=[[k, *v] for k, v in sorted(groups.items())],
    )


class _UnionFind:
    def __init__(self, items: Iterable[int]) -> None:
        self.parent = {i: i for i in items}

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def similar_pairs(emb_a: Any, emb_b: Any | None, threshold: float, block: int = 1024) -> list[tuple[int, int, float]]:
    """Index pairs (i, j) with cosine >= threshold; within one set only i < j (01_data_quality).

    Blockwise so 5,000 x 5,000 rows never needs more than a few MB at a time.
    """
    import numpy as np

    same = emb_b is None
    emb_b = emb_a if same else emb_b
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(emb_a), block):
        sims = emb_a[start : start + block] @ emb_b.T
        ii, jj = np.nonzero(sims >= threshold)
        for i, j in zip(ii.tolist(), jj.tolist()):
            gi = start + i
            if same and j <= gi:
                continue
            pairs.append((gi, j, float(sims[i, j])))
    return pairs


def similar_input_groups(rows: Sequence[dict[str, Any]], embeddings: Any = None,
                         threshold: float = NEAR_DUP_COSINE) -> list[list[int]]:
    """Groups of lines whose inputs are near-identical: equal after normalisation, or embedding
    cosine >= ``threshold`` with the same identifiers (order ids, numbers) (01_data_quality)."""
    uf = _UnionFind(r["line"] for r in rows)
    seen: dict[str, int] = {}
    for r in rows:
        key = normalise_text(r["input"])
        if key in seen:
            uf.union(seen[key], r["line"])
        else:
            seen[key] = r["line"]
    if embeddings is not None and len(rows) > 1:
        ids = [identifiers(r["input"]) for r in rows]
        for i, j, _ in similar_pairs(embeddings, None, threshold):
            if ids[i] == ids[j]:
                uf.union(rows[i]["line"], rows[j]["line"])
    groups: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        groups[uf.find(r["line"])].append(r["line"])
    return [sorted(g) for g in groups.values() if len(g) > 1]


def check_near_duplicates_and_conflicts(
    rows: Sequence[dict[str, Any]], groups: list[list[int]]
) -> tuple[Finding | None, Finding | None]:
    """near_duplicate (same answer, later copies) and conflicting_label (different answers, all
    rows) from the groups of near-identical inputs (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    near, near_groups, conflict, conflict_groups = [], [], [], []
    if json_dominant(rows):  # an unparseable answer is invalid_json_output, not a second opinion
        groups = [[x for x in g if parse_json_object(by_line[x]["output"]) is not None] for g in groups]
    groups = [[x for x in g if by_line[x]["output"].strip()] for g in groups]
    for g in groups:
        if len(g) < 2:
            continue
        outs = [by_line[x]["output"] for x in g]
        if all(outputs_agree(outs[0], o) for o in outs[1:]):
            exact = {(by_line[g[0]]["input"], outs[0])}
            later = []
            for x in g[1:]:
                key = (by_line[x]["input"], by_line[x]["output"])
                if key not in exact:
                    later.append(x)
                exact.add(key)
            if later:
                near += later
                near_groups.append(g)
        else:
            conflict += g
            conflict_groups.append(g)
    nf = _finding(
        "near_duplicate", near,
        f"{len(near)} row(s) repeat an earlier row's request in other words with the same answer: keep one",
        by_line, groups=near_groups,
    )
    cf = _finding(
        "conflicting_label", conflict,
        f"{len(conflict_groups)} group(s) of near-identical inputs have different outputs ({len(conflict)} rows): "
        f"decide which answer is right, fix or drop the others",
        by_line, groups=conflict_groups,
    )
    return nf, cf


# --------------------------------------------------------------------------------------------
# Format checks
# --------------------------------------------------------------------------------------------

_MARKDOWN = re.compile(r"```|^\s*[-*•]\s+|^\s*\d+\.\s+|\*\*[^*]+\*\*|^#+\s", re.M)


def _json_style(text: str, obj: dict[str, Any]) -> dict[str, Any]:
    inner = strip_fence(text).strip()
    return {
        "fence": "```" in text,
        "layout": "pretty" if "\n" in inner else "compact",
        "keys": tuple(str(k) for k in obj),
    }


def _text_style(text: str) -> dict[str, Any]:
    t = text.strip()
    letters = [c for c in t if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) > 1:
        case = "upper"
    elif letters and letters[0].isupper():
        case = "capitalised"
    elif letters:
        case = "lower"
    else:
        case = "none"
    return {
        "markdown": bool(_MARKDOWN.search(t)),
        "case": case,
        "end": "punct" if t[-1:] in ".!?" else "none",
    }


def _dominant(values: list[Any], share: float = 0.7) -> Any:
    """The most common value when it holds at least ``share`` of them, else None (no clear style)."""
    if not values:
        return None
    value, n = Counter(values).most_common(1)[0]
    return value if n / len(values) >= share else None


def dominant_json_style(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The file's usual JSON output style: fence, layout, key order, key spelling (01_data_quality)."""
    styles = [_json_style(r["output"], o) for r in rows if (o := parse_json_object(r["output"])) is not None]
    key_forms: dict[str, Counter] = defaultdict(Counter)
    for s in styles:
        for k in s["keys"]:
            key_forms[k.lower()][k] += 1
    spelling = {low: c.most_common(1)[0][0] for low, c in key_forms.items()}
    orders = Counter(tuple(k.lower() for k in s["keys"]) for s in styles)
    return {
        "fence": _dominant([s["fence"] for s in styles]),
        "layout": _dominant([s["layout"] for s in styles]),
        "key_spelling": spelling,
        "orders": {frozenset(o): o for o, _ in reversed(orders.most_common())},
    }


def reformat_json(obj: dict[str, Any], style: dict[str, Any]) -> str:
    """``obj`` re-written in the dominant style: key order, key spelling, layout (01_data_quality)."""
    lowered = {str(k).lower(): v for k, v in obj.items()}
    order = style["orders"].get(frozenset(lowered)) or tuple(lowered)
    spelled = {style["key_spelling"].get(k, k): lowered[k] for k in order}
    if style.get("layout") == "pretty":
        return json.dumps(spelled, ensure_ascii=False, indent=2)
    return json.dumps(spelled, ensure_ascii=False)


def _json_deviations(text: str, obj: dict[str, Any], style: dict[str, Any]) -> list[str]:
    s = _json_style(text, obj)
    why = []
    if style["fence"] is not None and s["fence"] != style["fence"]:
        why.append("code fence" if s["fence"] else "no code fence")
    if style["layout"] is not None and s["layout"] != style["layout"]:
        why.append(f"{s['layout']} layout")
    if any(style["key_spelling"].get(k.lower(), k) != k for k in s["keys"]):
        why.append("key casing")
    lowered = tuple(k.lower() for k in s["keys"])
    usual = style["orders"].get(frozenset(lowered))
    if usual is not None and usual != lowered:
        why.append("key order")
    return why


def check_format(rows: Sequence[dict[str, Any]]) -> tuple[Finding | None, Finding | None]:
    """inconsistent_format (outputs unlike the file's dominant style) and invalid_json_output
    (when most outputs are JSON, those that do not parse even without a code fence) (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    live = [r for r in rows if r["output"].strip()]
    deviations: dict[int, list[str]] = {}
    fixes: dict[int, str] = {}
    invalid: list[int] = []
    if json_dominant(live):
        style = dominant_json_style(live)
        for r in live:
            obj = parse_json_object(r["output"])
            if obj is None:
                invalid.append(r["line"])
                continue
            why = _json_deviations(r["output"], obj, style)
            if why:
                deviations[r["line"]] = why
                fixes[r["line"]] = reformat_json(obj, style)
    else:
        styles = {r["line"]: _text_style(r["output"]) for r in live}
        for feature in ("markdown", "case", "end"):
            usual = _dominant([s[feature] for s in styles.values()], share=0.8)
            if usual is None:
                continue
            for line, s in styles.items():
                if s[feature] != usual and s[feature] != "none":
                    deviations.setdefault(line, []).append(f"{feature}={s[feature]} (usual: {usual})")
    reasons = Counter(w.split(" (")[0] for ws in deviations.values() for w in ws)
    inc = _finding(
        "inconsistent_format", deviations,
        f"{len(deviations)} output(s) differ from the file's usual style ("
        + ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) + "): rewrite them in one style",
        by_line, fixes=fixes, reasons={k: v for k, v in deviations.items()},
    )
    bad = _finding(
        "invalid_json_output", invalid,
        f"{len(invalid)} output(s) are not a JSON object although most outputs are: repair or drop them",
        by_line,
    )
    return inc, bad


# --------------------------------------------------------------------------------------------
# PII
# --------------------------------------------------------------------------------------------

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
PHONE = re.compile(r"(?<![\w/.,:-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}(?![\w/,-])")
_DATE_TIME = re.compile(
    r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"
)
_MONEY = re.compile(r"[$€£¥]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:usd|eur|gbp|dollars|euros)\b", re.I)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that real card numbers satisfy (01_data_quality)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pii(text: str) -> list[tuple[str, str]]:
    """(kind, match) for emails, phone numbers and Luhn-valid card numbers in ``text`` (01).

    Dates, times and prices are masked first; ids glued to letters or dashes (ORD-48213,
    TRK-..., 1Z9X...) never match because the patterns require a clean boundary.
    """
    found = [("email", m.group()) for m in EMAIL.finditer(text)]
    masked = EMAIL.sub(lambda m: " " * len(m.group()), text)
    masked = _DATE_TIME.sub(lambda m: " " * len(m.group()), masked)
    masked = _MONEY.sub(lambda m: " " * len(m.group()), masked)
    for m in CARD.finditer(masked):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append(("card", m.group()))
            masked = masked[: m.start()] + " " * len(m.group()) + masked[m.end():]
    for m in PHONE.finditer(masked):
        s = m.group()
        digits = re.sub(r"\D", "", s)
        separated = bool(re.search(r"[ .()-]", s)) or s.startswith("+")
        if 9 <= len(digits) <= 15 and (separated or len(digits) >= 10) and len(set(digits)) > 2:
            found.append(("phone", s))
    return found


def redact_pii(text: str) -> str:
    """``text`` with each email, phone and card number replaced by [EMAIL], [PHONE], [CARD] (01)."""
    for kind, value in find_pii(text):
        text = text.replace(value, f"[{kind.upper()}]")
    return text


def check_pii(rows: Sequence[dict[str, Any]]) -> Finding | None:
    """Rows whose input or output holds an email, phone number or card number (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    kinds: Counter = Counter()
    lines, fixes = [], {}
    for r in rows:
        hits = find_pii(r["input"]) + find_pii(r["output"])
        if hits:
            lines.append(r["line"])
            kinds.update(k for k, _ in hits)
            fixes[r["line"]] = {"input": redact_pii(r["input"]), "output": redact_pii(r["output"])}
    return _finding(
        "pii", lines,
        f"{len(lines)} row(s) contain personal data ("
        + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()) + "): drop them or redact it",
        by_line, fixes=fixes,
    )


# --------------------------------------------------------------------------------------------
# Leakage, length, drift
# --------------------------------------------------------------------------------------------


def check_leak(rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]],
               emb: Any = None, eval_emb: Any = None, threshold: float = LEAK_COSINE) -> Finding | None:
    """Training rows whose input also appears in the eval file: normalised text, or embedding
    cosine >= ``threshold`` with the same identifiers (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    eval_keys: dict[str, int] = {}
    for e in eval_rows:
        eval_keys.setdefault(normalise_text(e["input"]), e["line"])
    pairs: dict[int, int] = {}
    for r in rows:
        k = normalise_text(r["input"])
        if k in eval_keys:
            pairs[r["line"]] = eval_keys[k]
    if emb is not None and eval_emb is not None and len(rows) and len(eval_rows):
        for i, j, _ in similar_pairs(emb, eval_emb, threshold):
            if rows[i]["line"] not in pairs and identifiers(rows[i]["input"]) == identifiers(eval_rows[j]["input"]):
                pairs[rows[i]["line"]] = eval_rows[j]["line"]
    return _finding(
        "train_eval_leak", pairs,
        f"{len(pairs)} training row(s) have the same input as an eval row: drop them from training",
        by_line, eval_lines={k: v for k, v in sorted(pairs.items())},
    )


def check_too_long(rows: Sequence[dict[str, Any]], max_seq_len: int, tokenizer: Any) -> Finding | None:
    """Rows whose input + output exceed ``max_seq_len`` tokens of the profile's tokenizer (01)."""
    from helpers.data.tokens import token_stats

    by_line = {r["line"]: r for r in rows}
    stats = token_stats(rows, tokenizer, chat_template=False)
    over = stats[stats["total_tokens"] > max_seq_len]
    longest = int(over["total_tokens"].max()) if len(over) else 0
    return _finding(
        "too_long", over["line"].tolist(),
        f"{len(over)} row(s) exceed max_seq_len={max_seq_len} tokens (longest {longest}): "
        f"shorten or drop them, or raise max_seq_len",
        by_line, tokens={int(a): int(b) for a, b in zip(over["line"], over["total_tokens"])},
    )


def label_of(output: str) -> str | None:
    """The label an output carries: a JSON label field (issue_type, label, ...) or a short answer (01)."""
    obj = parse_json_object(output)
    if obj is not None:
        low = {str(k).lower(): v for k, v in obj.items()}
        for key in LABEL_KEYS:
            if isinstance(low.get(key), str):
                return low[key].strip().lower()
        return None
    text = normalise_text(output)
    return text if text and len(text.split()) <= 3 else None


def _tvd(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return 0.0
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _ks(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two length CDFs."""
    import numpy as np

    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if not len(a) or not len(b):
        return 0.0
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b))))


def check_distribution_shift(rows: Sequence[dict[str, Any]], prod_rows: Sequence[dict[str, Any]],
                             emb: Any = None, prod_emb: Any = None,
                             coverage: float = COVERAGE_COSINE) -> Finding | None:
    """Production vs training: label mix (total variation), input length (KS statistic) and
    embedding coverage (production inputs with no close training input) (01_data_quality)."""
    import numpy as np

    stats: dict[str, Any] = {}
    reasons = []
    train_labels = Counter(x for r in rows if (x := label_of(r["output"])) is not None)
    prod_labels = Counter(x for r in prod_rows if (x := label_of(r["output"])) is not None)
    if train_labels and prod_labels:
        stats["label_tvd"] = round(_tvd(train_labels, prod_labels), 3)
        new = sorted(set(prod_labels) - set(train_labels))
        stats["new_labels"] = new
        if stats["label_tvd"] >= 0.15 or new:
            pt, tt = sum(prod_labels.values()), sum(train_labels.values())
            gaps = sorted(set(prod_labels) | set(train_labels), key=lambda k: -abs(prod_labels[k] / pt - train_labels[k] / tt))
            top = ", ".join(f"{k} {prod_labels[k] / pt:.0%} in production vs {train_labels[k] / tt:.0%} in training"
                            for k in gaps[:2])
            reasons.append(f"label mix differs (total variation {stats['label_tvd']}; {top}"
                           + (f"; unseen labels {', '.join(new)}" if new else "") + ")")
    tl = [len(r["input"]) for r in rows]
    pl = [len(r["input"]) for r in prod_rows]
    stats["length_ks"] = round(_ks(tl, pl), 3)
    stats["median_chars"] = {"train": float(np.median(tl)) if tl else 0.0, "production": float(np.median(pl)) if pl else 0.0}
    if stats["length_ks"] >= 0.25:
        reasons.append(f"input lengths differ (KS {stats['length_ks']}; median {stats['median_chars']['production']:.0f} "
                       f"vs {stats['median_chars']['train']:.0f} characters)")
    uncovered: list[int] = []
    if emb is not None and prod_emb is not None and len(rows) and len(prod_rows):
        nearest = np.max(prod_emb @ emb.T, axis=1)
        uncovered = [prod_rows[i]["line"] for i in np.nonzero(nearest < coverage)[0].tolist()]
        stats["uncovered_share"] = round(len(uncovered) / len(prod_rows), 3)
        stats["coverage_threshold"] = coverage
        if stats["uncovered_share"] >= 0.1:
            reasons.append(f"{len(uncovered)} of {len(prod_rows)} production inputs ({stats['uncovered_share']:.0%}) have no "
                           f"training input with cosine >= {coverage} (production lines {_short_list(uncovered)})")
    if not reasons:
        return None
    return Finding(
        "distribution_shift", [],
        "production differs from training: " + "; ".join(reasons) + ": add training rows like the uncovered ones",
        [{"line": x, "id": "", "input": _clip(r["input"]), "output": ""} for r in prod_rows for x in [r["line"]] if x in uncovered][:3],
        {"production_rows": uncovered, "stats": stats},
    )


# --------------------------------------------------------------------------------------------
# Running everything
# --------------------------------------------------------------------------------------------


def _as_result(path_or_rows: Any) -> LoadResult:
    if isinstance(path_or_rows, LoadResult):
        return path_or_rows
    if isinstance(path_or_rows, (str, Path)):
        return load_rows(path_or_rows)
    result = LoadResult(path=Path("<rows>"))
    for i, obj in enumerate(path_or_rows, start=1):
        if isinstance(obj, dict) and "line" in obj and "output" in obj and "input" in obj:
            result.rows.append(obj)
            continue
        row, issue = normalise_row(obj, i)
        if issue:
            result.issues.append(issue)
        else:
            result.rows.append(row)
    result.n_lines = len(result.rows) + len(result.issues)
    return result


EMBED_CACHE_MAX = 50_000  # texts kept in the on-disk embedding cache


def _embedding_cache_path() -> Path:
    from helpers.core.paths import cache_dir

    return cache_dir() / "embeddings" / "minilm-l6_quality.npz"


def _embed_cached(texts: list[str], use_cache: bool = True) -> Any:
    """MiniLM embeddings of distinct texts, reusing an on-disk cache keyed by each text's hash.

    Re-running the checks after a few edits (or the CLI after the notebook) only encodes new
    texts. The cache lives under the course cache folder; deleting it is always safe.
    """
    import numpy as np

    from helpers.core.models import get_embedder

    digests = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    path = _embedding_cache_path()
    known: dict[str, Any] = {}
    if use_cache and path.exists():
        try:
            with np.load(path) as z:
                known = dict(zip(z["keys"].tolist(), z["vectors"]))
        except (OSError, ValueError, KeyError):
            known = {}  # a damaged cache is rebuilt
    missing = [i for i, d in enumerate(digests) if d not in known]
    if missing:
        new = get_embedder().encode([texts[i] for i in missing])
        for i, vec in zip(missing, new):
            known[digests[i]] = vec
        if use_cache:
            if len(known) > EMBED_CACHE_MAX:  # keep the cache bounded: only this call's texts
                known = {d: known[d] for d in digests}
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())).astype(np.float32))
            tmp.replace(path)
    return np.stack([known[d] for d in digests]).astype(np.float32)


def _embed(texts: list[str], use_cache: bool = True) -> Any:
    """MiniLM embeddings, each text distinct after normalisation encoded once (01_data_quality)."""
    import numpy as np

    keys = [normalise_text(t) for t in texts]
    first: dict[str, str] = {}
    for k, t in zip(keys, texts):
        first.setdefault(k, t)  # texts equal after normalisation are encoded once
    if not first:
        return np.zeros((0, 384), dtype=np.float32)
    emb = _embed_cached(list(first.values()), use_cache)
    index = {k: i for i, k in enumerate(first)}
    return emb[[index[k] for k in keys]]


def rows_needing_embeddings(
    rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]], prod_rows: Sequence[dict[str, Any]],
) -> tuple[list[bool], list[bool]]:
    """Which training and eval inputs an embedding can matter for (01_data_quality).

    A near-duplicate or leak pair found by embeddings must also share its identifier set (order
    ids, numbers; see :func:`identifiers`). So a training input whose identifier set no other
    training or eval input has can never be part of such a pair, and needs no embedding. The
    exception is a production sample: drift coverage compares every production input with every
    training input, so then all of them are embedded.
    """
    if prod_rows:
        return [True] * len(rows), [True] * len(eval_rows)
    train_ids = [identifiers(r["input"]) for r in rows]
    eval_ids = [identifiers(e["input"]) for e in eval_rows]
    counts = Counter(train_ids)
    eval_set, train_set = set(eval_ids), set(train_ids)
    return [counts[i] > 1 or i in eval_set for i in train_ids], [i in train_set for i in eval_ids]


def _embed_needed(rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]],
                  prod_rows: Sequence[dict[str, Any]], need_train: list[bool], need_eval: list[bool],
                  use_cache: bool = True) -> tuple[Any, Any, Any]:
    """Embeddings of the inputs that need one; the others get zero vectors, which match nothing (01)."""
    import numpy as np

    parts = [(rows, need_train), (eval_rows, need_eval), (prod_rows, [True] * len(prod_rows))]
    sub = _embed([r["input"] for part, need in parts for r, n in zip(part, need) if n], use_cache)
    out, start = [], 0
    for _, need in parts:
        mask = np.array(need, dtype=bool)
        full = np.zeros((len(need), sub.shape[1]), dtype=np.float32)
        full[mask] = sub[start : start + int(mask.sum())]
        start += int(mask.sum())
        out.append(full)
    return out[0], out[1], out[2]


def run_checks(
    path_or_rows: Any,
    eval_path: str | Path | None = None,
    production_path: str | Path | None = None,
    max_seq_len: int | None = None,
    use_embeddings: bool = True,
    tokenizer: Any = None,
    profile: Any = None,
    embedding_cache: bool = True,
) -> QualityReport:
    """Run every check on a file (or rows) and return a :class:`QualityReport` (01_data_quality).

    ``eval_path`` enables train_eval_leak, ``production_path`` distribution_shift. ``max_seq_len``
    defaults to the profile's. ``use_embeddings=False`` skips MiniLM (text rules only);
    ``embedding_cache=False`` encodes every text afresh instead of reusing the on-disk cache.
    The checked file is only read.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        t0 = now

    result = _as_result(path_or_rows)
    rows = result.rows
    report = QualityReport(path=str(result.path), n_rows=len(rows) + len(result.issues), rows=rows)
    report.notices = [w for w, i in zip(result.warnings(), result.issues + result.notices) if i in result.notices]
    findings: list[Finding | None] = list(check_load_issues(result))
    findings.append(check_empty_output(rows))
    findings.append(check_exact_duplicates(rows))
    lap("load+basic")
    eval_rows = load_rows(eval_path).rows if eval_path else []
    prod_rows = load_rows(production_path, require_output=False).rows if production_path else []
    emb = eval_emb = prod_emb = None
    if use_embeddings:
        need_train, need_eval = rows_needing_embeddings(rows, eval_rows, prod_rows)
        emb, eval_emb, prod_emb = _embed_needed(rows, eval_rows, prod_rows, need_train, need_eval, embedding_cache)
        n_texts = len(rows) + len(eval_rows) + len(prod_rows)
        n_embedded = sum(need_train) + sum(need_eval) + len(prod_rows)
        if n_embedded < n_texts:
            report.notices.append(
                f"embedded {n_embedded} of {n_texts} inputs: the others share their identifiers (order ids, "
                "numbers) with no other row, so no embedding pair can involve them")
        lap("embeddings")
    findings += check_near_duplicates_and_conflicts(rows, similar_input_groups(rows, emb))
    findings += check_format(rows)
    findings.append(check_pii(rows))
    lap("duplicates+format+pii")
    if eval_path:
        findings.append(check_leak(rows, eval_rows, emb, eval_emb))
    if max_seq_len is None or tokenizer is None:
        from helpers.core.config import load_profile

        profile = profile or load_profile(check_hardware=False)
        max_seq_len = max_seq_len or profile.max_seq_len
    try:
        if tokenizer is None:
            from helpers.data.tokens import get_tokenizer

            tokenizer = get_tokenizer(profile)
        findings.append(check_too_long(rows, max_seq_len, tokenizer))
    except Exception as exc:  # noqa: BLE001 - a missing tokenizer skips one check, not all of them
        report.notices.append(f"too_long skipped: tokenizer unavailable ({str(exc).splitlines()[0]})")
    lap("too_long")
    if production_path:
        findings.append(check_distribution_shift(rows, prod_rows, emb, prod_emb))
        lap("distribution_shift")
    order = {c: i for i, c in enumerate(CHECKS)}
    report.findings = sorted((f for f in findings if f is not None), key=lambda f: order[f.check])
    report.seconds = timings
    return report


# --------------------------------------------------------------------------------------------
# Decisions and the cleaned file
# --------------------------------------------------------------------------------------------


def default_decisions(report: QualityReport) -> list[dict[str, Any]]:
    """One decision per finding: drop what cannot be trusted, fix formats, keep drift (01_data_quality).

    Each decision is ``{"check", "rows", "action": "keep"|"drop"|"fix", "fixes": {line: output}}``;
    a fix is a corrected output string, or ``{"input": ..., "output": ...}``.
    """
    out = []
    for f in report.findings:
        action = DEFAULT_ACTIONS.get(f.check, "keep")
        fixes = dict(f.extra.get("fixes", {})) if action == "fix" else {}
        out.append({"check": f.check, "rows": list(f.rows), "action": action, "fixes": fixes})
    return out


def _row_actions(decisions: Sequence[dict[str, Any]]) -> dict[int, tuple[str, str, Any]]:
    """line -> (action, check, fix); drop beats fix beats keep when checks disagree."""
    rank = {"keep": 0, "fix": 1, "drop": 2}
    out: dict[int, tuple[str, str, Any]] = {}
    for d in decisions:
        action = d.get("action", "keep")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} for {d.get('check')}: use keep, drop or fix")
        fixes = {int(k): v for k, v in (d.get("fixes") or {}).items()}
        for line in d.get("rows", []):
            a = action
            if a == "fix" and line not in fixes:
                a = "keep"  # nothing to apply
            prev = out.get(line)
            if prev is None or rank[a] > rank[prev[0]]:
                out[line] = (a, d["check"], fixes.get(line))
    return out


def apply_decisions(rows: Sequence[dict[str, Any]], decisions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that survive the decisions, with fixes applied; inputs are not changed (01_data_quality)."""
    actions = _row_actions(decisions)
    out = []
    for r in rows:
        action, _, fix = actions.get(r["line"], ("keep", "", None))
        if action == "drop":
            continue
        new = dict(r)
        if action == "fix":
            if isinstance(fix, dict):
                new.update({k: v for k, v in fix.items() if k in ("input", "output")})
            else:
                new["output"] = str(fix)
        out.append(new)
    return out


def decision_log(rows: Sequence[dict[str, Any]], decisions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per row that a decision touched: line, id, check, action, old and new output (01)."""
    by_line = {r["line"]: r for r in rows}
    log = []
    for line, (action, check, fix) in sorted(_row_actions(decisions).items()):
        r = by_line.get(line)
        entry = {"line": line, "id": r["id"] if r else None, "check": check, "action": action}
        if action == "fix" and r is not None:
            entry["old_output"] = r["output"]
            entry["new_output"] = fix["output"] if isinstance(fix, dict) else fix
        log.append(entry)
    return log


def _export_row(r: dict[str, Any]) -> dict[str, Any]:
    out = {"id": r["id"], "input": r["input"], "output": r["output"]}
    if r.get("task"):
        out["task"] = r["task"]
    if r.get("meta"):
        out["meta"] = r["meta"]
    return out


def write_cleaned(
    rows: Sequence[dict[str, Any]],
    decisions: Sequence[dict[str, Any]],
    run_dir: str | Path | None = None,
    source: str | Path | None = None,
    name: str = "cleaned_train.jsonl",
) -> dict[str, Path]:
    """Write the cleaned rows, the decision log and a summary to ``runs/<id>/quality/`` (01).

    Always a NEW file: the source is only read (to record its hash). Returns the three paths.
    """
    from helpers.core.runs import current_run, write_json, write_jsonl

    if run_dir is None:
        from helpers.core.config import load_profile

        run_dir = current_run(load_profile(check_hardware=False).name)
    folder = Path(run_dir) / "quality"
    if source is not None and (folder / name).resolve() == Path(source).resolve():
        raise DataError(f"refusing to overwrite the source file {source}: choose another name")
    cleaned = apply_decisions(rows, decisions)
    log = decision_log(rows, decisions)
    data_path = write_jsonl(folder / name, [_export_row(r) for r in cleaned])
    log_path = write_jsonl(folder / "decisions.jsonl", log)
    summary = {
        "source": str(source) if source else None,
        "source_sha256": hashlib.sha256(Path(source).read_bytes()).hexdigest() if source and Path(source).is_file() else None,
        "rows_in": len(rows),
        "rows_out": len(cleaned),
        "actions": dict(Counter(e["action"] for e in log)),
        "by_check": {d["check"]: {"action": d["action"], "rows": len(d.get("rows", []))} for d in decisions},
        "cleaned": str(data_path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    summary_path = write_json(folder / "summary.json", summary)
    return {"cleaned": data_path, "log": log_path, "summary": summary_path}


def clean_file(path: str | Path, eval_path: str | Path | None = None, run_dir: str | Path | None = None,
               decisions: Sequence[dict[str, Any]] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Check a file, apply (default) decisions and write the cleaned copy: the no-UI path (01).

    Returns ``{"report", "decisions", "paths"}``.
    """
    report = run_checks(path, eval_path=eval_path, **kwargs)
    decisions = list(decisions) if decisions is not None else default_decisions(report)
    paths = write_cleaned(report.rows, decisions, run_dir=run_dir, source=path)
    return {"report": report, "decisions": decisions, "paths": paths}


def score_against_manifest(report: QualityReport, manifest: dict[str, list[int]]) -> dict[str, Any]:
    """Recall and precision of the findings against planted defects ``{check: [lines]}`` (01).

    Pairs are (check, line); checks the manifest does not plant are ignored for precision, and so
    is ``distribution_shift`` (it has no lines).
    """
    truth = {(c, int(x)) for c, lines in manifest.items() if isinstance(lines, list) for x in lines}
    planted = {c for c, _ in truth}
    found = {(f.check, x) for f in report.findings if f.check in planted for x in f.rows}
    hit = truth & found
    per_check = {}
    for c in sorted(planted | {f.check for f in report.findings if f.rows}):
        t = {p for p in truth if p[0] == c}
        fo = {(f.check, x) for f in report.findings if f.check == c for x in f.rows}
        per_check[c] = {"planted": len(t), "found": len(fo), "hit": len(t & fo),
                        "missed": sorted(x for _, x in t - fo), "extra": sorted(x for _, x in fo - t)}
    return {
        "recall": round(len(hit) / len(truth), 4) if truth else 1.0,
        "precision": round(len(hit) / len(found), 4) if found else 1.0,
        "planted": len(truth), "found": len(found), "hit": len(hit), "per_check": per_check,
    }


def format_table(report: QualityReport) -> str:
    """A plain-text table of the findings, for the terminal (01_data_quality)."""
    lines = [f"{report.path}: {report.n_rows} rows, {len(report.findings)} finding(s)"]
    lines += [f"  note: {n}" for n in report.notices[:10]]
    if report.findings:
        lines.append(f"  {'check':<20} {'rows':>5}  lines / message")
        for f in report.findings:
            lines.append(f"  {f.check:<20} {len(f.rows):>5}  {_short_list(f.rows)}")
            lines.append(f"  {'':<20} {'':>5}  {f.message}")
    else:
        lines.append("  no findings: the file looks clean")
    return "\n".join(lines)


def cli_quality(args: Any) -> int:
    """``python -m helpers quality check PATH ...``: 0 clean, 1 findings, 2 unusable (01_data_quality)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep stderr for the one-line errors
    report = run_checks(
        args.path, eval_path=args.eval_path, production_path=args.production,
        max_seq_len=args.max_seq_len, use_embeddings=not args.no_embeddings,
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(format_table(report))
    return 1 if report.findings else 0


__all__ = [
    "CHECKS", "Finding", "QualityReport", "run_checks", "default_decisions", "apply_decisions",
    "decision_log", "write_cleaned", "clean_file", "cli_quality", "find_pii", "redact_pii",
]
