"""Every quality check: one fixture where it must fire and one where it must not; the CLI
contract; cleaning never touches the source; recall/precision against the planted defects."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.core.config import load_profile
from helpers.data import quality as q
from helpers.data.loading import load_rows
from helpers.data.quality import embeddings as qemb

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "data" / "support"
CI = load_profile("ci", check_hardware=False)  # the profile every check is run with (max_seq_len, tokenizer)


def J(**kw: Any) -> str:
    base = {"order_id": "ORD-10001", "product": "kettle", "issue_type": "damaged",
            "requested_action": "refund", "sentiment": "negative"}
    base.update(kw)
    return json.dumps(base)


def R(line: int, inp: str, out: str) -> dict[str, Any]:
    return {"id": f"r{line}", "input": inp, "output": out, "task": "extraction", "meta": {},
            "line": line, "messages": None, "system": None}


def clean_rows() -> list[dict[str, Any]]:
    topics = ["kettle arrived with a cracked lid", "blender never showed up", "charged twice for a lamp",
              "wrong colour of jacket delivered", "vacuum stopped working after a week",
              "cancel my subscription please", "toaster box was empty", "headphones missing a cable"]
    return [R(i + 1, f"Hi, order ORD-{20000 + i}: my {t}.", J(order_id=f"ORD-{20000 + i}"))
            for i, t in enumerate(topics)]


class WordTokenizer:
    """Stands in for SmolLM2's tokenizer: one token per whitespace-separated word."""

    chat_template = None

    def __call__(self, texts: list[str], **_: Any) -> dict[str, list[list[int]]]:
        return {"input_ids": [[0] * len(t.split()) for t in texts]}


def checks_of(rows: list[dict[str, Any]], **kw: Any) -> dict[str, list[int]]:
    kw.setdefault("tokenizer", WordTokenizer())
    kw.setdefault("max_seq_len", 512)
    kw.setdefault("use_embeddings", False)
    return q.run_checks(rows, profile=CI, **kw).flagged()


def test_clean_rows_have_no_findings() -> None:
    assert checks_of(clean_rows()) == {}


def test_load_issues(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = [json.dumps({"input": r["input"], "output": r["output"]}) for r in clean_rows()]
    path.write_text("\n".join(good[:3] + ["{broken", '{"input": "x"}'] + good[3:]) + "\n", encoding="utf-8")
    flagged = checks_of(str(path))
    assert flagged == {"malformed_row": [4], "missing_field": [5]}


def test_empty_output() -> None:
    rows = clean_rows()
    rows[2]["output"] = "   "
    assert checks_of(rows)["empty_output"] == [3]


def test_exact_duplicate_flags_later_copies_only() -> None:
    rows = clean_rows()
    rows.append(R(9, rows[1]["input"], rows[1]["output"]))
    flagged = checks_of(rows)
    assert flagged == {"exact_duplicate": [9]}


def test_near_duplicate_by_normalisation() -> None:
    rows = clean_rows()
    rows.append(R(9, "hi order ORD-20001   my BLENDER never showed up!!", rows[1]["output"]))
    assert checks_of(rows) == {"near_duplicate": [9]}


def test_reformatted_output_is_still_a_duplicate_not_a_conflict() -> None:
    rows = clean_rows()
    pretty = json.dumps(json.loads(rows[1]["output"]), indent=2)
    rows.append(R(9, rows[1]["input"] + " ", pretty))
    flagged = checks_of(rows)
    assert flagged.get("near_duplicate") == [9] and "conflicting_label" not in flagged


def test_conflicting_label_flags_the_whole_group() -> None:
    rows = clean_rows()
    rows.append(R(9, rows[1]["input"].upper(), J(order_id="ORD-20001", issue_type="late_delivery")))
    assert checks_of(rows) == {"conflicting_label": [2, 9]}


def test_free_text_conflict_only_when_substantially_different() -> None:
    a = "The customer reports that the kettle arrived cracked and asks for a full refund today."
    b = "The customer reports that the kettle arrived cracked and asks for a full refund now."
    c = "Customer is happy with the blender and wants to order two more of the same model."
    base = [R(1, "Kettle cracked, refund please", a), R(2, "Where is my lamp", "The lamp is late.")]
    assert "conflicting_label" not in checks_of(base + [R(3, "kettle cracked refund please!", b)])
    assert checks_of(base + [R(3, "kettle cracked refund please!", c)])["conflicting_label"] == [1, 3]


def test_inconsistent_json_format() -> None:
    rows = clean_rows()
    obj = json.loads(rows[3]["output"])
    rows[3]["output"] = json.dumps(dict(reversed(list(obj.items()))))  # key order
    rows[4]["output"] = json.dumps(json.loads(rows[4]["output"]), indent=2)  # pretty-printed
    rows[5]["output"] = "```json\n" + rows[5]["output"] + "\n```"  # code fence
    o6 = json.loads(rows[6]["output"])
    rows[6]["output"] = json.dumps({k.upper() if k == "product" else k: v for k, v in o6.items()})  # key casing
    report = q.run_checks(rows, tokenizer=WordTokenizer(), max_seq_len=512, use_embeddings=False, profile=CI)
    f = report.finding("inconsistent_format")
    assert f is not None and f.rows == [4, 5, 6, 7] and report.finding("invalid_json_output") is None
    for line, fixed in f.extra["fixes"].items():  # the suggested fix is in the dominant style
        assert fixed == rows[0]["output"].replace("20000", str(20000 + line - 1))


def test_inconsistent_text_format() -> None:
    rows = [R(i, f"message number {i} about things", "ham") for i in range(1, 11)]
    rows[3]["output"] = "Ham"
    rows[6]["output"] = "**ham**"
    assert checks_of(rows) == {"inconsistent_format": [4, 7]}


def test_invalid_json_output() -> None:
    rows = clean_rows()
    rows[2]["output"] = "{'order_id': 'ORD-20002', 'issue_type': 'late'}"
    rows[5]["output"] = "```json\n" + rows[5]["output"][:-5]  # truncated, even inside a fence
    flagged = checks_of(rows)
    assert flagged["invalid_json_output"] == [3, 6]


def test_invalid_json_needs_a_json_majority() -> None:
    rows = [R(i, f"text {i}", "free text answer.") for i in range(1, 6)] + [R(6, "x", '{"a": 1')]
    assert "invalid_json_output" not in checks_of(rows)


@pytest.mark.parametrize("text", [
    "Reach me at jane.doe+shop@example.co.uk please", "call +44 20 7946 0958 after 5",
    "my number is (555) 123-4567", "card 4111 1111 1111 1111 was charged", "phone 07700900123",
])
def test_pii_fires(text: str) -> None:
    assert q.find_pii(text), text


@pytest.mark.parametrize("text", [
    "order ORD-48213 placed 2024-03-05 for $1,299.00", "tracking 1Z9X99W20398765432 via UPS",
    "tracking TRK-558812340012", "ordered on 05/03/2024 at 14:35, total 129.99 EUR",
    "card ending 1111, amount 4111111111111112 is not luhn-valid", "order ORD-10001 and ORD-10002",
    "invoice INV-2024-000123 qty 3",
])
def test_pii_does_not_fire(text: str) -> None:
    assert q.find_pii(text) == [], text


def test_pii_check_and_redaction() -> None:
    rows = clean_rows()
    rows[1]["input"] += " Email me: bob@example.com"
    report = q.run_checks(rows, tokenizer=WordTokenizer(), max_seq_len=512, use_embeddings=False, profile=CI)
    f = report.finding("pii")
    assert f.rows == [2] and "[EMAIL]" in f.extra["fixes"][2]["input"]


def test_too_long() -> None:
    rows = clean_rows()
    rows[0]["input"] += " word" * 600
    assert checks_of(rows) == {"too_long": [1]}
    assert checks_of(rows, max_seq_len=5000) == {}


def test_train_eval_leak(tmp_path: Path) -> None:
    rows = clean_rows()
    ev = tmp_path / "eval.jsonl"
    ev.write_text(json.dumps({"input": rows[4]["input"].lower() + "!", "output": "x"}) + "\n"
                  + json.dumps({"input": "something never seen", "output": "x"}) + "\n", encoding="utf-8")
    assert checks_of(rows, eval_path=ev) == {"train_eval_leak": [5]}
    ev.write_text(json.dumps({"input": "something never seen", "output": "x"}) + "\n", encoding="utf-8")
    assert checks_of(rows, eval_path=ev) == {}


def test_distribution_shift_without_embeddings(tmp_path: Path) -> None:
    rows = clean_rows() * 1
    prod = tmp_path / "prod.jsonl"
    same = [{"input": r["input"], "output": r["output"]} for r in rows]
    prod.write_text("".join(json.dumps(x) + "\n" for x in same), encoding="utf-8")
    assert "distribution_shift" not in checks_of(rows, production_path=prod)
    shifted = [{"input": "long " * 80 + str(i), "output": J(issue_type="billing")} for i in range(8)]
    prod.write_text("".join(json.dumps(x) + "\n" for x in shifted), encoding="utf-8")
    report = q.run_checks(rows, production_path=prod, tokenizer=WordTokenizer(), max_seq_len=5000,
                          use_embeddings=False, profile=CI)
    f = report.finding("distribution_shift")
    assert f is not None and f.rows == [] and "label mix" in f.message and "lengths" in f.message


@pytest.fixture(scope="module")
def embed_report(tmp_path_factory: pytest.TempPathFactory) -> q.QualityReport:
    """One run with MiniLM: a paraphrase duplicate, a paraphrase leak and uncovered production rows."""
    tmp = tmp_path_factory.mktemp("emb")
    rows = clean_rows()
    rows.append(R(9, "Hi, order ORD-20001: my blender has never shown up.", rows[1]["output"]))
    rows.append(R(10, "Hi, order ORD-29999: my blender never showed up.", J(order_id="ORD-29999")))
    ev = tmp / "eval.jsonl"
    ev.write_text(json.dumps({"input": "Hi, order ORD-20002: I was charged two times for a lamp.", "output": "x"}) + "\n",
                  encoding="utf-8")
    prod = tmp / "prod.jsonl"
    prod.write_text("".join(json.dumps({"input": t}) + "\n" for t in [
        rows[0]["input"], "What is the capital of Mongolia?", "Write me a poem about the sea."]), encoding="utf-8")
    return q.run_checks(rows, eval_path=ev, production_path=prod, tokenizer=WordTokenizer(), max_seq_len=512, profile=CI)


def test_embedding_near_duplicate_needs_same_identifiers(embed_report: q.QualityReport) -> None:
    flagged = embed_report.flagged()
    assert flagged.get("near_duplicate") == [9]  # line 10 differs in its order id: not a copy
    assert "conflicting_label" not in flagged


def test_embedding_leak(embed_report: q.QualityReport) -> None:
    assert embed_report.flagged().get("train_eval_leak") in ([3], None)  # paraphrase; cosine may be < 0.98


def test_embedding_coverage(embed_report: q.QualityReport) -> None:
    f = embed_report.finding("distribution_shift")
    assert f is not None and f.extra["production_rows"] == [2, 3]


def test_real_tokenizer_counts() -> None:
    from helpers.data.tokens import estimate_training, get_tokenizer, summarise_tokens, token_stats
    from helpers.core.config import load_profile

    profile = load_profile("ci", check_hardware=False)
    stats = token_stats(clean_rows(), get_tokenizer(profile))
    assert (stats["templated_tokens"] > stats["total_tokens"]).all()
    est = estimate_training(stats, profile, epochs=2)
    assert est["seconds"] == pytest.approx(stats["templated_tokens"].sum() * 2 / profile.train_tokens_per_s, abs=0.1)
    assert summarise_tokens(stats, 512)["over_limit"] == 0


def test_decisions_write_new_files_only(tmp_path: Path) -> None:
    src = tmp_path / "raw.jsonl"
    rows = clean_rows()
    lines = [json.dumps({"id": r["id"], "input": r["input"], "output": r["output"]}) for r in rows]
    lines.append(lines[1])  # exact duplicate, line 9
    lines.append(json.dumps({"id": "x", "input": rows[3]["input"] + " ", "output": json.dumps(json.loads(rows[3]["output"]), indent=2)}))
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns)
    out = q.clean_file(src, run_dir=tmp_path / "run", profile=CI, tokenizer=WordTokenizer(), max_seq_len=512,
                       use_embeddings=False)
    assert (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns) == before
    cleaned = load_rows(out["paths"]["cleaned"]).rows
    assert len(cleaned) == 8 and out["paths"]["cleaned"].parent == tmp_path / "run" / "quality"
    log = [json.loads(x) for x in out["paths"]["log"].read_text().splitlines()]
    assert {(e["line"], e["action"]) for e in log} == {(9, "drop"), (10, "drop")}
    # a human decision overrides: keep the near duplicate but fix its format
    decisions = [{"check": "inconsistent_format", "rows": [10], "action": "fix",
                  "fixes": {10: out["report"].finding("inconsistent_format").extra["fixes"][10]}}]
    kept = q.apply_decisions(out["report"].rows, decisions)
    assert len(kept) == 10 and kept[-1]["output"] == rows[3]["output"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "quality", "check", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_contract_and_file_untouched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "t.jsonl"
    rows = clean_rows()
    body = "".join(json.dumps({"input": r["input"], "output": r["output"]}) + "\n" for r in rows)
    src.write_text(body + body.splitlines()[0] + "\n", encoding="utf-8")
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    proc = _cli(str(src), "--json", "--no-embeddings", "--max-seq-len", "512")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_rows"] == 9 and [(f["check"], f["rows"]) for f in out["findings"]] == [("exact_duplicate", [9])]
    assert all({"check", "rows", "message"} <= set(f) for f in out["findings"])
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before
    from helpers.__main__ import main

    src.write_text(body, encoding="utf-8")
    assert main(["quality", "check", str(src), "--json", "--no-embeddings"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n_rows": 8, "findings": []}
    assert main(["quality", "check", str(src), "--no-embeddings"]) == 0
    assert "no findings" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The bundled data: recall and precision against the planted defects
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (SUPPORT / "defects_manifest.json").exists() or not (SUPPORT / "raw_train.jsonl").exists(),
                    reason="data/support/raw_train.jsonl and defects_manifest.json are not written yet")
def test_recall_and_precision_on_raw_train() -> None:
    manifest = json.loads((SUPPORT / "defects_manifest.json").read_text(encoding="utf-8"))
    eval_path = SUPPORT / "eval.jsonl"
    report = q.run_checks(SUPPORT / "raw_train.jsonl", eval_path=eval_path if eval_path.exists() else None, profile=CI)
    scores = q.score_against_manifest(report, manifest)
    assert scores["recall"] >= 0.95, scores
    assert scores["precision"] >= 0.90, scores


def test_panel_wraps_the_plain_functions(tmp_path: Path) -> None:
    from helpers.widgets.quality_panel import finding_groups, quality_panel, render_group

    rows = clean_rows()
    rows.append(R(9, rows[1]["input"].upper(), J(order_id="ORD-20001", issue_type="late_delivery")))
    rows.append(R(10, rows[2]["input"], rows[2]["output"]))
    report = q.run_checks(rows, tokenizer=WordTokenizer(), max_seq_len=512, use_embeddings=False, profile=CI)
    assert finding_groups(report, "conflicting_label") == [[2, 9]]
    assert "line 9" in render_group(report, "conflicting_label", 0)
    panel = quality_panel(report, run_dir=tmp_path)
    panel.check.value = "conflicting_label"
    panel.set_fix("conflicting_label", 9, J(order_id="ORD-20001"))
    panel.check.value = "exact_duplicate"
    panel.action.value = "keep"
    paths = panel.write()
    cleaned = load_rows(paths["cleaned"]).rows
    assert len(cleaned) == 10 and cleaned[8]["output"] == J(order_id="ORD-20001")
    log = [json.loads(x) for x in paths["log"].read_text().splitlines()]
    assert {(e["line"], e["action"]) for e in log} == {(2, "keep"), (9, "fix"), (10, "keep")}


def test_only_inputs_that_can_pair_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rows = clean_rows()
    rows.append(R(9, "Hi, order ORD-20001: my blender has never shown up.", rows[1]["output"]))
    need_train, need_eval = q.rows_needing_embeddings(rows, [], [])
    # lines 2 and 9 share {ord-20001}; every other order id is unique, so only they need vectors
    assert [r["line"] for r, n in zip(rows, need_train) if n] == [2, 9] and need_eval == []
    seen: list[list[str]] = []
    real = qemb._embed

    def spy(texts: list[str], cache: Any = True) -> Any:
        seen.append(list(texts))
        return real(texts, cache)

    monkeypatch.setattr(qemb, "_embed", spy)
    report = q.run_checks(rows, tokenizer=WordTokenizer(), max_seq_len=512, embedding_cache=tmp_path / "cache.npz",
                          profile=CI)
    assert (tmp_path / "cache.npz").exists()  # the cache file asked for, not the course cache
    assert seen == [[rows[1]["input"], rows[8]["input"]]]
    assert report.flagged().get("near_duplicate") == [9]  # still found, as with every row embedded
    assert any("embedded 2 of 9 inputs" in n for n in report.notices)
    # an eval input with the same identifiers as a training row needs a vector too
    ev = [{"input": "order ORD-20003 charged twice", "line": 1}]
    need_train, need_eval = q.rows_needing_embeddings(rows, ev, [])
    assert need_eval == [True] and sum(need_train) == 3
    # a production sample needs every training input (drift coverage compares with all of them)
    assert all(q.rows_needing_embeddings(rows, [], [{"input": "x", "line": 1}])[0])
