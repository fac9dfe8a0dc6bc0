"""The golden audit (data/audit_golden.py): rules from GUIDELINES.md alone, able to find wrong labels, shipped up to date."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def A():
    spec = importlib.util.spec_from_file_location("audit_golden", ROOT / "data" / "audit_golden.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_golden"] = module
    spec.loader.exec_module(module)
    return module


def _golden() -> list[dict]:
    return [json.loads(line) for line in (ROOT / "data" / "support" / "golden.jsonl").read_text().splitlines()]


def test_the_checker_does_not_use_the_generator():
    tree = ast.parse((ROOT / "data" / "audit_golden.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names <= {"__future__", "argparse", "json", "re", "sys", "pathlib", "typing"}, names  # standard library only


def test_shipped_audit_is_a_fresh_run_and_every_disagreement_is_resolved(A):
    fresh = A.audit()
    shipped = json.loads((ROOT / "data" / "support" / "golden_audit.json").read_text())
    assert json.loads(json.dumps(fresh, ensure_ascii=False)) == shipped  # rerun: python data/audit_golden.py --write
    assert shipped["rows_checked"] == 60 and shipped["unresolved"] == 0
    assert all(d["resolution"] for d in shipped["disagreements"])
    assert shipped["field_values_determined"] >= 100  # the rules decide a real share of the 300 values


def _set(row: dict, **fields) -> dict:
    row = copy.deepcopy(row)
    obj = json.loads(row["output"])
    obj.update(fields)
    row["output"] = json.dumps(obj, ensure_ascii=False)
    return row


def _flags(A, row) -> set[str]:
    return {rule.split(" ")[0].rstrip(":") for rule, gold, checker in A.rule_checks(row, A.schema()) if gold != checker}


def test_planted_label_errors_are_found(A):
    golden = _golden()
    assert all(not _flags(A, r) for r in golden)  # the shipped labels pass
    quoted = next(r for r in golden if "quoted_order_id" in r["meta"]["tags"] and json.loads(r["output"])["order_id"] is None)
    old_id = "ORD-" + __import__("re").search(r"(\d{5})", quoted["input"].split("wrote")[-1]).group(1)
    assert "order_id" in _flags(A, _set(quoted, order_id=old_id))  # an id from the quoted message is never the label
    named = next(r for r in golden if json.loads(r["output"])["product"] and "multi_issue" not in r["meta"]["tags"]
                 and json.loads(r["output"])["issue_type"] not in ("wrong_item", "account_access")
                 and any(rule.startswith("product: the one") for rule, *_ in A.rule_checks(r, A.schema())))
    assert "product" in _flags(A, _set(named, product=json.loads(named["output"])["product"].lower()))  # spelling
    assert "product" in _flags(A, _set(named, product=None))
    negative = next(r for r in golden if any(rule.startswith("sentiment") for rule, *_ in A.rule_checks(r, A.schema())))
    assert "sentiment" in _flags(A, _set(negative, sentiment="positive"))
    cued = next(r for r in golden if any(rule.startswith("issue_type") for rule, *_ in A.rule_checks(r, A.schema())))
    other = "product_question" if json.loads(cued["output"])["issue_type"] != "product_question" else "wrong_item"
    assert {"issue_type", "category"} <= _flags(A, _set(cued, issue_type=other))
    shuffled = copy.deepcopy(golden[0])
    obj = json.loads(shuffled["output"])
    shuffled["output"] = json.dumps(dict(reversed(list(obj.items()))))
    assert "format" in _flags(A, shuffled)  # keys out of the schema's order
    styled = copy.deepcopy(golden[0])
    styled["meta"]["summary"] = "Customer mentions order ORD-12345."
    assert "summary" in _flags(A, styled)


def test_quoted_text_is_cut_at_every_marker_the_guideline_names(A):
    for header in ("On 3 March, Larkspur Goods Support wrote:", "Sam from Larkspur Goods wrote on 2 May:",
                   "-----Original message-----"):
        text = f"Where is my parcel? Order 12345.\n\n{header}\nYour order ORD-99999 has shipped."
        assert A.current_message(text).strip() == "Where is my parcel? Order 12345."
    assert "99999" not in A.current_message("It broke.\n> about order ORD-99999\nThanks")
