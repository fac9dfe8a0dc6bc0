"""Personal data: emails, phone numbers and card numbers, found and redacted.

Introduced in ``01_data_quality.ipynb``. Dates, times and prices are masked before the number
patterns run, and a card number must pass the Luhn checksum, so order ids and amounts are not
mistaken for personal data.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Sequence

from helpers.data.quality.findings import Finding, make_finding

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
    return make_finding(
        "pii", lines,
        f"{len(lines)} row(s) contain personal data ("
        + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()) + "): drop them or redact it",
        by_line, fixes=fixes,
    )
