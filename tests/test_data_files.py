"""Checks on the bundled customer-support data (data/support/), its manifest and its generator.

Every planted defect in raw_train.jsonl is re-checked here with simple, independent logic, so a
wrong manifest fails here rather than in the quality checker's tests.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.data.loading import load_rows

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "data" / "support"
CLEAN = ["train", "eval", "golden", "production_sample"]
MIN_ROWS = {"train": 600, "eval": 100, "golden": 50, "production_sample": 200, "noisy_train": 2000}
CHECKS = ["malformed_row", "missing_field", "empty_output", "exact_duplicate", "near_duplicate",
          "conflicting_label", "inconsistent_format", "invalid_json_output", "train_eval_leak", "pii", "too_long"]
FILES = ["train.jsonl", "eval.jsonl", "golden.jsonl", "production_sample.jsonl", "raw_train.jsonl",
         "noisy_train.jsonl", "train_chat.jsonl", "defects_manifest.json", "schema.json", "noisy_stats.json"]

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE_RE = re.compile(r"(?:\+\d{1,3}[\s-]?)?(?:\(\d{2,4}\)[\s-]?)?\d{2,5}[\s-]\d{3,4}[\s-]?\d{3,4}")
LONG_DIGITS_RE = re.compile(r"\d[\d\s().-]{5,}\d")


def norm(text: str) -> str:
    """Lowercase, punctuation to spaces, collapse whitespace."""
    table = str.maketrans({c: " " for c in string.punctuation})
    return " ".join(text.lower().translate(table).split())


def word_diff(a: str, b: str) -> int:
    """Size of the symmetric difference of the normalised word multisets (a trivial edit gives <= 4)."""
    wa, wb = norm(a).split(), norm(b).split()
    rest = list(wb)
    missing = 0
    for w in wa:
        if w in rest:
            rest.remove(w)
        else:
            missing += 1
    return missing + len(rest)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def has_card(text: str) -> bool:
    """A 13-19 digit run (spaces/dashes allowed) that passes Luhn."""
    for m in re.finditer(r"\d[\d -]{11,22}\d", text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return True
    return False


def has_pii(text: str) -> bool:
    """E-mail address, phone number or card-like number."""
    return bool(EMAIL_RE.search(text) or PHONE_RE.search(text) or has_card(text))


def strip_fence(text: str) -> str:
    """Remove a surrounding ```json ... ``` fence, if any."""
    m = re.fullmatch(r"\s*```(?:json)?\s*\n?(.*?)\n?```\s*", text, flags=re.S)
    return m.group(1) if m else text


def parse_obj(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text`` after removing a fence, or None."""
    try:
        obj = json.loads(strip_fence(text))
    except (json.JSONDecodeError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


def read_jsonl(name: str) -> list[dict[str, Any]]:
    """All rows of a bundled file (must parse)."""
    return [json.loads(line) for line in (SUPPORT / name).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads((SUPPORT / "schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict[str, Any]]]:
    return {s: read_jsonl(f"{s}.jsonl") for s in CLEAN + ["noisy_train"]}


@pytest.fixture(scope="module")
def raw() -> tuple[list[str], dict[str, list[int]]]:
    lines = (SUPPORT / "raw_train.jsonl").read_text(encoding="utf-8").splitlines()
    manifest = json.loads((SUPPORT / "defects_manifest.json").read_text(encoding="utf-8"))
    return lines, manifest


def test_every_file_exists() -> None:
    for name in FILES:
        assert (SUPPORT / name).is_file(), name
    for doc in ("GUIDELINES.md", "README.md", "generate.py"):
        assert (ROOT / "data" / doc).is_file(), doc


def test_row_counts(splits: dict[str, list[dict[str, Any]]], raw: tuple[list[str], dict[str, list[int]]]) -> None:
    for split, n in MIN_ROWS.items():
        assert len(splits[split]) >= n, split
    assert len(splits["noisy_train"]) >= 3 * len(splits["train"])
    lines, manifest = raw
    flagged = {n for rows in manifest.values() for n in rows}
    assert len(flagged) >= 0.10 * len(lines)
    assert sorted(manifest) == sorted(CHECKS)
    for check in CHECKS:
        assert len(manifest[check]) >= 5, check


@pytest.mark.parametrize("split", CLEAN + ["train_chat"])
def test_clean_split_loads_without_issues(split: str) -> None:
    result = load_rows(SUPPORT / f"{split}.jsonl")
    assert result.issues == []
    assert len(result.rows) == result.n_lines


def test_ids_unique_and_well_formed(splits: dict[str, list[dict[str, Any]]]) -> None:
    seen: set[str] = set()
    for split, rows in splits.items():
        prefix = "support-" + ("production" if split == "production_sample" else split.replace("_train", ""))
        for row in rows:
            assert re.fullmatch(re.escape(prefix) + r"-\d{4}", row["id"]), row["id"]
            assert row["id"] not in seen
            seen.add(row["id"])


@pytest.mark.parametrize("split", CLEAN)
def test_clean_outputs_match_schema(split: str, splits: dict[str, list[dict[str, Any]]], schema: dict[str, Any]) -> None:
    products = {p for items in schema["products"].values() for p in items}
    for row in splits[split]:
        obj = json.loads(row["output"])
        assert list(obj) == schema["fields"], row["id"]
        assert row["output"] == json.dumps(obj, ensure_ascii=False), row["id"]
        for field, labels in schema["labels"].items():
            allowed = labels + ([None] if field in schema["nullable"] else [])
            assert obj[field] in allowed, (row["id"], field, obj[field])
        assert obj["order_id"] is None or re.fullmatch(schema["order_id_pattern"], obj["order_id"])
        assert obj["product"] is None or obj["product"] in products
        assert row["task"] == "extraction"
        meta = row["meta"]
        assert meta["category"] == obj["issue_type"] and meta["category"] in schema["classification_labels"]
        assert meta["channel"] in ("email", "chat")
        summary = meta["summary"]
        assert summary.endswith(".") and summary.count(". ") == 0 and len(summary.split()) <= 45, summary


def test_order_ids_and_products_come_from_the_text(splits: dict[str, list[dict[str, Any]]]) -> None:
    for split in CLEAN:
        for row in splits[split]:
            obj = json.loads(row["output"])
            text = row["input"].lower()
            if obj["order_id"]:
                assert obj["order_id"][4:] in text, row["id"]
            if obj["product"]:
                assert obj["product"].lower() in text, row["id"]


def test_no_input_shared_between_clean_splits(splits: dict[str, list[dict[str, Any]]]) -> None:
    owner: dict[str, str] = {}
    for split in CLEAN:
        for row in splits[split]:
            key = norm(row["input"])
            assert key not in owner, (row["id"], owner.get(key))
            owner[key] = row["id"]


def test_noisy_shares_no_input_with_eval_golden_production(splits: dict[str, list[dict[str, Any]]]) -> None:
    held_out = {norm(r["input"]) for s in ("eval", "golden", "production_sample") for r in splits[s]}
    assert not [r["id"] for r in splits["noisy_train"] if norm(r["input"]) in held_out]


@pytest.mark.parametrize("split", CLEAN + ["noisy_train"])
def test_no_pii_in_clean_inputs(split: str, splits: dict[str, list[dict[str, Any]]]) -> None:
    for row in splits[split]:
        assert not has_pii(row["input"]), row["id"]
        assert "@" not in row["input"] and not LONG_DIGITS_RE.search(row["input"]), row["id"]


def test_production_sample_is_shifted(splits: dict[str, list[dict[str, Any]]]) -> None:
    def share(rows: list[dict[str, Any]], key: str, value: str) -> float:
        return sum(1 for r in rows if r["meta"][key] == value) / len(rows)

    assert share(splits["train"], "product_line", "pet") == 0
    assert share(splits["production_sample"], "product_line", "pet") > 0.35
    assert share(splits["production_sample"], "channel", "chat") > 0.6 > share(splits["train"], "channel", "chat")


def test_train_chat_mirrors_train(splits: dict[str, list[dict[str, Any]]], schema: dict[str, Any]) -> None:
    chat = read_jsonl("train_chat.jsonl")
    assert [r["id"] for r in chat] == [r["id"] for r in splits["train"]]
    for c, t in zip(chat, splits["train"]):
        roles = [m["role"] for m in c["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert c["messages"][0]["content"] == schema["system_prompt"]
        assert c["messages"][1]["content"] == t["input"] and c["messages"][2]["content"] == t["output"]


# ------------------------------------------------------------------ raw_train and its manifest
def test_manifest_malformed_missing_empty(raw: tuple[list[str], dict[str, list[int]]]) -> None:
    lines, manifest = raw
    for n in manifest["malformed_row"]:
        try:
            obj = json.loads(lines[n - 1])
        except json.JSONDecodeError:
            continue
        assert not isinstance(obj, dict), n
    for n in manifest["missing_field"]:
        obj = json.loads(lines[n - 1])
        assert obj.get("input") is None or obj.get("output") is None, n
    for n in manifest["empty_output"]:
        obj = json.loads(lines[n - 1])
        assert isinstance(obj["output"], str) and not obj["output"].strip() and obj["input"].strip(), n


def test_manifest_duplicates_and_conflicts(raw: tuple[list[str], dict[str, list[int]]]) -> None:
    lines, manifest = raw
    rows = {}
    for n, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("input"), str) and isinstance(obj.get("output"), str):
            rows[n] = obj
    for n in manifest["exact_duplicate"]:
        assert any(rows[m]["input"] == rows[n]["input"] and rows[m]["output"] == rows[n]["output"]
                   for m in rows if m < n), n
    for n in manifest["near_duplicate"]:
        earlier = [m for m in rows if m < n and rows[m]["output"] == rows[n]["output"]
                   and rows[m]["input"] != rows[n]["input"]
                   and (norm(rows[m]["input"]) == norm(rows[n]["input"]) or word_diff(rows[m]["input"], rows[n]["input"]) <= 4)]
        assert earlier, n
    group = manifest["conflicting_label"]
    for n in group:
        partners = [m for m in group if m != n and rows[m]["output"] != rows[n]["output"]
                    and (norm(rows[m]["input"]) == norm(rows[n]["input"]) or word_diff(rows[m]["input"], rows[n]["input"]) <= 4)]
        assert partners, n


def test_manifest_output_format_defects(raw: tuple[list[str], dict[str, list[int]]], schema: dict[str, Any]) -> None:
    lines, manifest = raw
    for n in manifest["inconsistent_format"]:
        out = json.loads(lines[n - 1])["output"]
        obj = parse_obj(out)
        assert obj is not None, n
        canonical_keys = list(obj) == schema["fields"]
        compact = out == json.dumps(obj, ensure_ascii=False)
        assert not (canonical_keys and compact), n
    for n in manifest["invalid_json_output"]:
        out = json.loads(lines[n - 1])["output"]
        assert isinstance(out, str) and out.strip() and parse_obj(out) is None, n


def test_manifest_leak_and_pii(raw: tuple[list[str], dict[str, list[int]]], splits: dict[str, list[dict[str, Any]]]) -> None:
    lines, manifest = raw
    eval_inputs = {norm(r["input"]) for r in splits["eval"]}
    for n in manifest["train_eval_leak"]:
        assert norm(json.loads(lines[n - 1])["input"]) in eval_inputs, n
    for n in manifest["pii"]:
        assert has_pii(json.loads(lines[n - 1])["input"]), n


def test_too_long_rows_are_clearly_long(raw: tuple[list[str], dict[str, list[int]]]) -> None:
    lines, manifest = raw
    for n in manifest["too_long"]:
        obj = json.loads(lines[n - 1])
        assert len(obj["input"]) + len(obj["output"]) > 2500, n


def test_clean_raw_rows_are_exactly_train(raw: tuple[list[str], dict[str, list[int]]],
                                          splits: dict[str, list[dict[str, Any]]]) -> None:
    lines, manifest = raw
    flagged = {n for rows in manifest.values() for n in rows}
    kept = [json.loads(line) for n, line in enumerate(lines, start=1) if n not in flagged]
    assert kept == splits["train"]
    # a flagged line carries one defect only: no line is listed under two checks
    listed = [n for rows in manifest.values() for n in rows]
    assert len(listed) == len(set(listed))


def test_defects_are_spread_through_the_file(raw: tuple[list[str], dict[str, list[int]]]) -> None:
    lines, manifest = raw
    flagged = sorted(n for rows in manifest.values() for n in rows)
    third = len(lines) / 3
    assert all(any(k * third < n <= (k + 1) * third for n in flagged) for k in range(3))


@pytest.mark.slow
def test_token_lengths_with_smollm2_tokenizer(raw: tuple[list[str], dict[str, list[int]]],
                                              splits: dict[str, list[dict[str, Any]]]) -> None:
    from helpers.core.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")

    def n_tokens(row: dict[str, Any]) -> int:
        return len(tok(row["input"])["input_ids"]) + len(tok(row["output"])["input_ids"])

    lines, manifest = raw
    for n in manifest["too_long"]:
        assert n_tokens(json.loads(lines[n - 1])) > 700, n
    for split in CLEAN:
        assert max(n_tokens(r) for r in splits[split]) < 400, split


# ------------------------------------------------------------------ noisy_train
def test_noisy_stats_match_a_recount(splits: dict[str, list[dict[str, Any]]], schema: dict[str, Any]) -> None:
    stats = json.loads((SUPPORT / "noisy_stats.json").read_text(encoding="utf-8"))
    rows = splits["noisy_train"]
    n = len(rows)
    assert stats["n_rows"] == n
    fields = schema["fields"]
    counts = {k: 0 for k in stats["stated_rates"]}
    for row in rows:
        out = row["output"]
        clean = json.loads(row["meta"]["clean_output"])
        if out.lstrip().startswith("```"):
            counts["code_fence"] += 1
        elif "\n" in out:
            counts["pretty"] += 1
        obj = parse_obj(out)
        assert obj is not None, row["id"]
        lowered = {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in obj.items()}
        if list(obj) != fields and set(obj) == set(fields):
            counts["key_order"] += 1
        if set(obj) != set(fields):
            counts["key_case"] += 1
        assert set(lowered) == set(fields), row["id"]
        for field in ("issue_type", "requested_action", "sentiment", "order_id"):
            if lowered[field] != clean[field]:
                counts[field] += 1
    assert counts == stats["planted_counts"]
    for kind, rate in stats["stated_rates"].items():
        assert abs(counts[kind] / n - rate) < 0.002, kind


# ------------------------------------------------------------------ generator
def test_generator_is_reproducible(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "data" / "generate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, env={"PYTHONHASHSEED": "random", "PATH": ""})
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SUPPORT / name).read_bytes(), name
