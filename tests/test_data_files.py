"""Checks on the bundled customer-support data (data/support/), its manifest and its generator.

Every planted defect in raw_train.jsonl is re-checked here with simple, independent logic, so a
wrong manifest fails here rather than in the quality checker's tests.
"""

from __future__ import annotations

import importlib.util
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
def gen() -> Any:
    """data/generate.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("support_generate", ROOT / "data" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["support_generate"] = module
    spec.loader.exec_module(module)
    return module


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
        if set(row["meta"]["noise"]) & set(stats["systematic"]):
            continue  # rule-based noise, recounted in test_systematic_noise_follows_its_stated_rules
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


def _camel_keys(out: str, fields: list[str]) -> bool:
    obj = parse_obj(out)
    return obj is not None and list(obj) == ["".join(p.capitalize() for p in f.split("_")) for f in fields]


def test_systematic_noise_follows_its_stated_rules(splits: dict[str, list[dict[str, Any]]], schema: dict[str, Any]) -> None:
    """Each systematic kind is on exactly the rows without random noise that its rule matches."""
    stats = json.loads((SUPPORT / "noisy_stats.json").read_text(encoding="utf-8"))
    systematic = stats["systematic"]
    assert sorted(systematic) == ["annotator_swap", "batch_format_drift", "hard_null"]
    rows = splits["noisy_train"]
    fields = schema["fields"]
    swap, drift = systematic["annotator_swap"], systematic["batch_format_drift"]
    carried = {kind: 0 for kind in systematic}
    for i, row in enumerate(rows):
        meta = row["meta"]
        assert meta["annotator"] == "ABCD"[(i // 50) % 4], row["id"]  # A-D by batches of 50 rows
        noise = meta["noise"]
        random_kinds = [k for k in noise if k in stats["stated_rates"]]
        clean = json.loads(meta["clean_output"])
        rules = {
            "annotator_swap": meta["annotator"] == swap["annotator"] and clean["issue_type"] == swap["from"],
            "hard_null": clean["order_id"] is not None and "#" + clean["order_id"][4:] in row["input"],
            "batch_format_drift": drift["rows"][0] <= i + 1 <= drift["rows"][1],
        }
        for kind, matches in rules.items():
            if kind in noise:
                carried[kind] += 1
                assert matches and not random_kinds, (row["id"], kind)  # only on untouched rows it matches
            else:
                assert random_kinds or not matches, (row["id"], kind)  # every untouched row it matches has it
        if not set(noise) & set(systematic):
            continue
        obj = parse_obj(row["output"])
        assert obj is not None, row["id"]
        if "batch_format_drift" in noise:
            assert _camel_keys(row["output"], fields) and "\n" not in row["output"], row["id"]
        else:
            assert list(obj) == fields and row["output"] == json.dumps(obj, ensure_ascii=False), row["id"]
        values = dict(zip(fields, obj.values()))
        expected = dict(clean)
        if "annotator_swap" in noise:
            expected["issue_type"] = swap["to"]
        if "hard_null" in noise:
            expected["order_id"] = None
        assert values == expected, row["id"]
        assert meta["category"] == values["issue_type"], row["id"]
    for kind, spec in systematic.items():
        assert carried[kind] == spec["planted_count"], kind
        assert abs(carried[kind] / len(rows) - spec["stated_rate"]) <= 0.005, kind
    assert stats["rows_with_systematic_noise"] == sum(1 for r in rows if set(r["meta"]["noise"]) & set(systematic))
    assert stats["rows_clean"] == sum(1 for r in rows if not r["meta"]["noise"])


# ------------------------------------------------------------------ templates
def _inputs(name: str) -> list[str]:
    """Every message of a bundled file (raw_train: the lines that parse as a row with an input)."""
    texts = []
    for line in (SUPPORT / name).read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("input"), str):
            texts.append(obj["input"])
    return texts


def test_long_sentence_detector_sees_a_template(gen: Any) -> None:
    planted = "I checked your help pages but couldn't find an answer."
    varied = [f"Hi,\n\nMy order number {k} is late by {k % 9 + 2} days, sorry to say. Where is parcel {k} now?" for k in range(100)]
    rows = [t + (" " + planted if k % 10 == 0 else "") for k, t in enumerate(varied)]
    sentence, share = gen.most_repeated_sentence(rows)
    assert sentence == "i checked your help pages but couldn't find an answer" and share == 0.10
    quoted = [t + "\n> I checked your help PAGES but couldn't find an answer!" if k < 7 else t for k, t in enumerate(rows)]
    assert gen.most_repeated_sentence(quoted)[1] == 0.16  # quoted, shouted and punctuated copies count too
    assert gen.most_repeated_sentence(varied)[1] <= 0.01  # every sentence differs: no template
    short = [t + " Thanks so much, really." for t in varied]  # five words: too short to count
    assert gen.most_repeated_sentence(short)[1] <= 0.01
    assert gen.most_repeated_sentence([]) == ("", 0.0)


@pytest.mark.parametrize("name", ["train.jsonl", "eval.jsonl", "golden.jsonl", "production_sample.jsonl",
                                  "noisy_train.jsonl", "raw_train.jsonl"])
def test_no_long_sentence_is_in_more_than_5_percent_of_a_split(name: str, gen: Any) -> None:
    sentence, share = gen.most_repeated_sentence(_inputs(name))
    assert share <= 0.05, f"{name}: {share:.1%} of the messages hold {sentence!r}"


# ------------------------------------------------------------------ generator
def test_generator_is_reproducible(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "data" / "generate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, env={"PYTHONHASHSEED": "random", "PATH": ""})
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SUPPORT / name).read_bytes(), name
