#!/usr/bin/env python3
"""Audit golden.jsonl against data/GUIDELINES.md with rules written from the guideline alone.

Usage::

    python data/audit_golden.py                 # print the audit
    python data/audit_golden.py --write         # also write data/support/golden_audit.json

The checker is independent of the generator: it never imports ``data/generate.py`` (a test
checks) and knows only what the guideline says: its quote markers, order-id forms, catalogue,
label wording, priority list, sentiment cues and summary style. Each rule re-derives a field
**only where the guideline's rules determine it from the text** (for example: exactly one order
id in the customer's current message; a sentiment cue the guideline lists); everywhere else the
field is counted as "not determined", never as agreement. Every disagreement is listed with how
it was resolved (``RESOLUTIONS``, written by a person after reading the row and the guideline).

Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUPPORT = HERE / "support"
AUDIT_FILE = SUPPORT / "golden_audit.json"

# §1: where an earlier message starts (everything from here on is quoted and ignored)
QUOTE_HEADER = re.compile(r"^(On .+ wrote:|.+ wrote on .+:|-----Original message-----)\s*$")
# §4: the forms an order id is written in; tracking numbers (1Z..., TRK-...) have no 5-digit form
ORDER_ID = re.compile(r"(?i)(?:\bord-?|#|\b(?:order|reference)(?: no\.?| number(?: is)?| #)?:?\s*)(\d{5})\b")
OTHER_ORDER = re.compile(r"(?i)\b(other|another|second|different) order\b[^.?!\n]{0,20}$")
# §2: the priority list and the "typical wording" of each label (with the definitions' own words)
PRIORITY = ["damaged_item", "wrong_item", "delivery_delay", "billing_problem", "return_request",
            "order_change", "account_access", "product_question"]
ISSUE_CUES: dict[str, list[str]] = {
    "damaged_item": ["arrived cracked", "cracked", "stopped working", "coming apart", "arrived damaged", "broken",
                     "broke", "faulty", "arrived bent", "won't turn on", "doesn't work", "torn"],
    "wrong_item": ["instead of", "i ordered navy", "missing from the box", "missing from the parcel",
                   "wrong item", "not what i ordered"],
    "delivery_delay": ["still hasn't arrived", "hasn't arrived", "has not arrived", "tracking hasn't moved",
                       "says delivered", "marked delivered", "marked as delivered", "stuck in transit", "still not here"],
    "billing_problem": ["charged twice", "double charge", "code didn't apply", "discount", "still no refund",
                        "refund hasn't", "wrong amount", "overcharged"],
    "return_request": ["i'd like to return", "i would like to return", "want to return", "want to send it back",
                       "return it"],
    "order_change": ["change the delivery address", "ordered it twice", "wrong address", "change the address"],
    "account_access": ["can't log in", "cannot log in", "can't log into", "reset email", "reset link", "account locked",
                       "locked out", "verification code", "get back into my account", "unlock my account"],
    "product_question": ["machine washable", "do you ship to", "in stock", "warranty"],
}
# §6: negative cues (rule 1), from the guideline's examples and its three words
NEGATIVE_CUES = ["this is ridiculous", "ridiculous", "not impressed", "ugh", "so annoyed", "annoyed", "frustrat",
                 "disappoint", "angry", "great, just great", "fantastic job as always", "love that for me",
                 "five stars (not)", "thanks for nothing", "love waiting"]
SIDE_ISSUE = re.compile(r"(?i)\b(also|unrelated|separately|another thing|by the way|btw|p\.?s\.?)\b")
SUMMARY_MAX_WORDS = 40  # §7: "at most about 35 words"

# Resolutions of the disagreements the audit lists, by (row id, rule): written by a person.
RESOLUTIONS: dict[tuple[str, str], str] = {}


def schema() -> dict[str, Any]:
    return json.loads((SUPPORT / "schema.json").read_text(encoding="utf-8"))


def _cue(text: str, cues: list[str]) -> bool:
    """A cue at the start of a word ("ugh" is not in "through"), case ignored."""
    return any(re.search(r"\b" + re.escape(c), text) for c in cues)


def current_message(text: str) -> str:
    """The customer's own text: lines before the first quote header, without '>' lines (§1)."""
    out = []
    for line in text.splitlines():
        if QUOTE_HEADER.match(line.strip()):
            break
        if not line.lstrip().startswith(">"):
            out.append(line)
    return "\n".join(out)


def _shouts(text: str, known: set[str]) -> bool:
    """A word of four or more capitals that is no id, product word or acronym: shouting (§6)."""
    text = re.sub(r"\b(TRK-\w+|1Z\w{8})\b", " ", text)  # tracking numbers are not shouting
    for word in re.findall(r"\b[A-Z]{4,}\b", text):
        if word not in known:
            return True
    return False


def rule_checks(row: dict[str, Any], sch: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(rule, golden value, checker value) for every rule the guideline determines on this row."""
    out: list[tuple[str, Any, Any]] = []
    raw = row["output"]
    obj = json.loads(raw)
    fields = sch["fields"]
    well_formed = (list(obj) == fields and raw == json.dumps(obj, ensure_ascii=False)
                   and obj["issue_type"] in sch["labels"]["issue_type"] and obj["sentiment"] in sch["labels"]["sentiment"]
                   and (obj["requested_action"] is None or obj["requested_action"] in sch["labels"]["requested_action"])
                   and (obj["order_id"] is None or re.fullmatch(sch["order_id_pattern"], obj["order_id"]) is not None))
    out.append(("format (§1)", True, well_formed))
    text = current_message(row["input"])
    low = text.lower()

    ids = []
    for m in ORDER_ID.finditer(text):
        if not OTHER_ORDER.search(text[max(0, m.start() - 40):m.start()]):
            ids.append(f"ORD-{m.group(1)}")
    ids = list(dict.fromkeys(ids))
    if len(ids) <= 1:
        out.append(("order_id (§4)", obj["order_id"], ids[0] if ids else None))

    catalogue = [p for line in sch["products"].values() for p in line]
    named = [p for p in catalogue if p.lower() in low]
    if obj["issue_type"] == "account_access":
        out.append(("product: account_access is null (§5)", obj["product"], None))
    elif not named:
        out.append(("product: none named is null (§5)", obj["product"], None))
    elif len(named) == 1 and not SIDE_ISSUE.search(text) and obj["issue_type"] != "wrong_item":  # wrong_item: the ordered one
        out.append(("product: the one named, catalogue spelling (§5)", obj["product"], named[0]))

    matched = [lab for lab in PRIORITY if _cue(low, ISSUE_CUES[lab])]
    if matched == ["product_question"] and SIDE_ISSUE.search(text):
        matched = []  # a product question beside another issue: the other one wins, but no cue named it
    if matched:
        out.append(("issue_type: highest-priority cue (§2)", obj["issue_type"], matched[0]))
    if obj["issue_type"] == "product_question":
        out.append(("requested_action: product_question is information (§3)", obj["requested_action"], "information"))

    known = {w for p in catalogue for w in re.findall(r"[A-Z]{4,}", p.upper())} | {"ORD", "USB", "TRK", "ASAP", "FYI", "ETA"}
    if _cue(low, NEGATIVE_CUES) or _shouts(text, known):
        out.append(("sentiment: a negative cue wins (§6)", obj["sentiment"], "negative"))

    meta = row.get("meta") or {}
    out.append(("category is issue_type (views table)", meta.get("category"), obj["issue_type"]))
    summary = str(meta.get("summary", ""))
    opener = "Unhappy customer" if obj["sentiment"] == "negative" else "Customer"
    styled = (summary.startswith(opener + " ") and summary.endswith(".") and summary.count(". ") == 0
              and len(summary.split()) <= SUMMARY_MAX_WORDS and not re.search(r"ORD-\d|#\d{5}|\b1Z[A-Z0-9]{8}\b|TRK-", summary))
    out.append(("summary style (§7)", True, styled))
    return out


def audit(path: Path = SUPPORT / "golden.jsonl") -> dict[str, Any]:
    """Rows checked, per rule how often it applied and agreed, and every disagreement with its resolution."""
    sch = schema()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rules: dict[str, dict[str, int]] = {}
    disagreements = []
    for row in rows:
        for rule, gold, checker in rule_checks(row, sch):
            stat = rules.setdefault(rule, {"determined": 0, "agree": 0, "disagree": 0})
            stat["determined"] += 1
            if gold == checker:
                stat["agree"] += 1
            else:
                stat["disagree"] += 1
                disagreements.append({"id": row["id"], "rule": rule, "golden": gold, "checker": checker,
                                      "resolution": RESOLUTIONS.get((row["id"], rule))})
    fields_determined = sum(s["determined"] for r, s in rules.items() if r.split(":")[0].split(" ")[0] in
                            ("order_id", "product", "issue_type", "requested_action", "sentiment"))
    return {"file": path.name, "rows_checked": len(rows), "rules": rules,
            "field_values_determined": fields_determined, "field_values_total": len(rows) * len(sch["fields"]),
            "disagreements": disagreements,
            "unresolved": sum(1 for d in disagreements if not d["resolution"]),
            "what_checked_means": (
                "every row was run through rules written from GUIDELINES.md alone (not the generator's code); "
                "a field counts as checked only where a rule determines it from the text; the rest of the "
                "values were read against the guideline by a person only when a rule disagreed")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {AUDIT_FILE.relative_to(HERE.parent)}")
    args = ap.parse_args(argv)
    result = audit()
    for rule, s in result["rules"].items():
        print(f"{rule:58s} determined {s['determined']:3d}  agree {s['agree']:3d}  disagree {s['disagree']:3d}")
    print(f"field values determined by a rule: {result['field_values_determined']} of {result['field_values_total']}")
    for d in result["disagreements"]:
        print(f"  {d['id']}  {d['rule']}: golden {d['golden']!r}, rules {d['checker']!r} -> {d['resolution'] or 'UNRESOLVED'}")
    if args.write:
        AUDIT_FILE.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"written {AUDIT_FILE}")
    return 1 if result["unresolved"] else 0


if __name__ == "__main__":
    sys.exit(main())
