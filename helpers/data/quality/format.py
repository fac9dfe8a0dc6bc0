"""Output format: one style per file, and JSON outputs that parse.

Introduced in ``01_data_quality.ipynb``. A file whose outputs are mostly JSON objects is an
extraction-style file (:func:`json_dominant`): its outputs should share a fence style, layout,
key order and key spelling, and every output must parse (a code fence around it is fine). Other
files are judged by text style: Markdown, capitalisation, final punctuation.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any, Sequence

from helpers.data.quality.findings import Finding, make_finding
from helpers.data.text import parse_json_output, strip_fence

_MARKDOWN = re.compile(r"```|^\s*[-*•]\s+|^\s*\d+\.\s+|\*\*[^*]+\*\*|^#+\s", re.M)


def json_dominant(rows: Sequence[dict[str, Any]]) -> bool:
    """True when most non-empty outputs parse as JSON objects: an extraction-style file (01)."""
    outs = [r["output"] for r in rows if r["output"].strip()]
    return bool(outs) and sum(parse_json_output(o, strict=True, allow_fence=True) is not None for o in outs) > len(outs) / 2


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
    styles = [_json_style(r["output"], o) for r in rows
              if (o := parse_json_output(r["output"], strict=True, allow_fence=True)) is not None]
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
            obj = parse_json_output(r["output"], strict=True, allow_fence=True)
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
    inc = make_finding(
        "inconsistent_format", deviations,
        f"{len(deviations)} output(s) differ from the file's usual style ("
        + ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) + "): rewrite them in one style",
        by_line, fixes=fixes, reasons={k: v for k, v in deviations.items()},
    )
    bad = make_finding(
        "invalid_json_output", invalid,
        f"{len(invalid)} output(s) are not a JSON object although most outputs are: repair or drop them",
        by_line,
    )
    return inc, bad
