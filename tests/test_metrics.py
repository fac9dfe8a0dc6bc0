"""helpers.evaluation metrics (metrics, field_metrics, label_metrics, text_metrics, evaluate_cli):
hand-computed values, agreement with rouge-score, id matching in the CLI."""

from __future__ import annotations

import json
import random

import pytest

from helpers.__main__ import main
from helpers.data.tasks import reference_text
from helpers.evaluation import metrics as M
from helpers.evaluation import text_metrics as T
from helpers.evaluation.field_metrics import normalise_value

R1 = {"order_id": "A-1", "product": "kettle", "issue_type": "damaged", "requested_action": None, "sentiment": "negative"}
R2 = {"order_id": None, "product": "mug", "issue_type": "other", "requested_action": "refund", "sentiment": "positive"}
P1 = '```json\n{"order_id": "a-1", "product": "Kettle.", "issue_type": "damaged", "requested_action": null, "sentiment": "negative"}\n```'
P2 = '{"order_id": "X-9", "product": "mug", "issue_type": "billing", "requested_action": null, "sentiment": "positive"}'
P3 = "sorry, I cannot help"
EX_PRED = [P1, P2, P3]
EX_REF = [json.dumps(R1), json.dumps(R2), json.dumps(R1)]


def test_extraction_hand_computed():
    m = M.score("extraction", EX_PRED, EX_REF)
    assert m["json_valid_strict"] == pytest.approx(1 / 3)   # only P2 is bare JSON
    assert m["json_valid"] == pytest.approx(2 / 3)          # P1 (fenced) and P2
    assert m["field_accuracy"] == pytest.approx(7 / 15)     # 5 + 2 + 0 right of 15 cells
    assert m["exact_match"] == pytest.approx(1 / 3)
    # TP: 4 (P1) + 2 (P2: product, sentiment); FP: 2 (P2 order_id, issue_type); FN: 0 + 2 + 4
    assert m["field_f1"] == pytest.approx(2 * 6 / (2 * 6 + 2 + 6))
    assert m["field_accuracy.order_id"] == pytest.approx(1 / 3)
    assert m["field_accuracy.product"] == pytest.approx(2 / 3)
    assert m["field_accuracy.requested_action"] == pytest.approx(1 / 3)  # None==None counts, row 3 unparseable
    assert all(0.0 <= v <= 1.0 for v in m.values())
    assert M.per_example("extraction", EX_PRED, EX_REF) == pytest.approx([1.0, 0.4, 0.0])
    assert M.field_breakdown(EX_PRED, EX_REF)["sentiment"] == pytest.approx(2 / 3)


def test_extraction_unparseable_gets_every_field_wrong_even_when_all_null():
    ref = json.dumps({"order_id": None, "product": None})
    m = M.score("extraction", ["no json"], [ref])
    assert m["field_accuracy"] == 0.0 and m["exact_match"] == 0.0
    assert M.score("extraction", ['{"order_id": null, "product": "null"}'], [ref])["field_accuracy"] == 1.0


def test_normalise_value():
    assert normalise_value("Cancel order.") == normalise_value("cancel_order") == "cancel order"
    assert normalise_value("  A-1 ") == normalise_value("a 1")
    assert normalise_value("N/A") is None and normalise_value("") is None and normalise_value(None) is None
    assert normalise_value(3.0) == "3" and normalise_value(True) == "true"
    assert normalise_value("kettle") != normalise_value("electric kettle")  # no synonyms
    # inner punctuation counts in a value (unlike in normalised text): 3.5 is not 35, a/b is not a b
    assert normalise_value("3.5") != normalise_value("35") and normalise_value("a/b") != normalise_value("a b")
    assert normalise_value('"Kettle."') == "kettle"


def test_extraction_perfect_and_extra_keys_ignored():
    pred = json.dumps({**R1, "extra": "ignored"})
    m = M.score("extraction", [pred], [json.dumps(R1)])
    assert m["field_accuracy"] == m["exact_match"] == m["field_f1"] == m["json_valid_strict"] == 1.0


def test_classification_hand_computed():
    refs = ["a", "a", "b", "c"]
    preds = ["A.", "b", "B", "zzz"]
    m = M.score("classification", preds, refs)
    assert m["exact_match"] == pytest.approx(2 / 4)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    table = M.label_breakdown(preds, refs)
    assert table["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2.0})
    assert table["b"]["precision"] == pytest.approx(0.5)
    assert table["c"]["f1"] == 0.0
    assert M.per_example("classification", preds, refs) == [1.0, 0.0, 1.0, 0.0]
    assert M.score("classification", refs, refs) == {"exact_match": 1.0, "macro_f1": 1.0}


PAIRS = [
    ("the cat sat on the mat", "a cat was sitting on the mat"),
    ("Customer wants a refund for a cracked kettle.", "The customer asks for a refund because the kettle arrived cracked."),
    ("", "nothing was predicted"),
    ("running runners ran quickly", "the runner runs quick"),
    ("Order A-1002: headphones late, wants cancellation", "Headphones from order A-1002 are late; customer wants to cancel."),
]


def test_rouge_agrees_with_rouge_score_and_the_offline_evaluate_module(monkeypatch):
    import evaluate
    from rouge_score import rouge_scorer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    preds, refs = [p for p, _ in PAIRS], [r for _, r in PAIRS]
    ours = T.rouge_per_example(preds, refs)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for i, (p, r) in enumerate(PAIRS):
        expected = scorer.score(r, p)
        for t in T.ROUGE_TYPES:
            assert ours[t][i] == pytest.approx(expected[t].fmeasure, abs=1e-6)
    # the local evaluate module is the same implementation behind evaluate's API, offline
    module = evaluate.load(str(T.ROUGE_MODULE), keep_in_memory=True)
    per_pair = module.compute(predictions=preds, references=refs, use_aggregator=False)
    for t in T.ROUGE_TYPES:
        assert per_pair[t] == pytest.approx(ours[t], abs=1e-9)
    means = module.compute(predictions=preds, references=refs)
    assert means["rougeL"] == pytest.approx(sum(ours["rougeL"]) / len(PAIRS), abs=1e-9)
    m = M.score("summarisation", preds, refs, semantic=False)
    assert m["rougeL"] == pytest.approx(sum(ours["rougeL"]) / len(PAIRS), abs=1e-6)
    assert M.score("summarisation", ["same words here"], ["same words here"], semantic=False)["rouge2"] == 1.0


def test_semantic_similarity_definition():
    from helpers.core.models import ModelUnavailable

    try:
        sims = T.semantic_similarity(["the parcel is late", "", "a broken kettle"],
                                     ["the parcel is late", "anything", "quantum chromodynamics lecture"])
    except ModelUnavailable as exc:  # pragma: no cover - the MiniLM package is part of the install
        pytest.skip(str(exc))
    assert sims[0] == pytest.approx(1.0, abs=1e-4)
    assert sims[1] == 0.0
    assert 0.0 <= sims[2] < 0.5


def test_primary_metric_and_unknown_task():
    assert M.primary_metric("extraction") == "field_accuracy"
    assert M.primary_metric("classification") == "macro_f1"
    assert M.primary_metric("summarisation") == "rougeL"
    from helpers.core.errors import SettingsError

    with pytest.raises(SettingsError):
        M.score("translation", ["a"], ["a"])
    from helpers.data.loading import DataError

    with pytest.raises(DataError):
        M.score("classification", ["a"], ["a", "b"])


def test_bootstrap_ci():
    lo, hi = M.bootstrap_ci("extraction", EX_PRED, EX_REF, n=300)
    point = M.score("extraction", EX_PRED, EX_REF)["field_accuracy"]
    assert 0.0 <= lo <= point <= hi <= 1.0 and hi > lo
    assert M.bootstrap_ci("extraction", EX_PRED, EX_REF, n=300) == (lo, hi)  # seeded
    assert M.bootstrap_ci("extraction", [P1], [EX_REF[0]], n=50) == (1.0, 1.0)
    lo, hi = M.bootstrap_ci("classification", ["a", "b", "b", "a"], ["a", "a", "b", "b"], n=200)
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    lo, hi = M.bootstrap_ci("extraction", EX_PRED, EX_REF, metric="field_f1", n=200)
    assert 0.0 <= lo <= 0.6 <= hi <= 1.0


# --------------------------------------------------------------------------- command line
def _rows():
    out = []
    for i in range(6):
        obj = {**R1, "order_id": f"A-{i}"} if i % 2 else {**R2, "product": f"item {i}"}
        out.append({"id": f"r{i}", "input": f"message {i}", "output": json.dumps(obj),
                    "meta": {"category": "damaged" if i % 2 else "other", "summary": f"summary {i}"}})
    return out


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_cli_matches_by_id_not_position(tmp_path, capsys):
    rows = _rows()
    preds = [{"id": r["id"], "prediction": r["output"] if i < 4 else "oops"} for i, r in enumerate(rows)]
    random.Random(1).shuffle(preds)
    refs = _write(tmp_path / "refs.jsonl", rows)
    p = _write(tmp_path / "preds.jsonl", preds)
    assert main(["evaluate", "--task", "extraction", "--predictions", p, "--references", refs, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6
    assert out["metrics"]["exact_match"] == pytest.approx(4 / 6)


def test_cli_classification_uses_meta_category_for_json_outputs(tmp_path, capsys):
    rows = _rows()
    preds = [{"id": r["id"], "prediction": r["meta"]["category"].upper()} for r in reversed(rows)]
    args = ["evaluate", "--task", "classification", "--predictions", _write(tmp_path / "p.jsonl", preds),
            "--references", _write(tmp_path / "r.jsonl", rows), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == {"exact_match": 1.0, "macro_f1": 1.0}


def test_cli_reference_key_wins_and_summarisation(tmp_path, capsys):
    refs = [{"id": "x", "reference": "the kettle arrived cracked"}, {"id": "y", "reference": "late parcel"}]
    preds = [{"id": "y", "prediction": "late parcel"}, {"id": "x", "prediction": "the kettle arrived cracked"}]
    args = ["evaluate", "--task", "summarisation", "--predictions", _write(tmp_path / "p.jsonl", preds),
            "--references", _write(tmp_path / "r.jsonl", refs), "--no-semantic", "--json"]
    assert main(args) == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    assert m["rouge1"] == pytest.approx(1.0) and m["rougeL"] == pytest.approx(1.0)


def test_cli_partial_ids_warn_and_no_ids_exit_2(tmp_path, capsys):
    rows = _rows()
    refs = _write(tmp_path / "r.jsonl", rows)
    partial = [{"id": "r0", "prediction": rows[0]["output"]}, {"id": "zz", "prediction": "x"}]
    args = ["evaluate", "--task", "extraction", "--references", refs, "--json", "--predictions"]
    assert main(args + [_write(tmp_path / "p.jsonl", partial)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 1
    assert "1 prediction id(s) have no reference" in captured.err
    assert "5 reference id(s) have no prediction" in captured.err
    none = [{"id": "nope", "prediction": "x"}]
    assert main(args + [_write(tmp_path / "q.jsonl", none)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no prediction id matches") and "\n" not in err


def test_reference_text_rule():
    row = {"id": "1", "output": json.dumps(R1), "meta": {"category": "damaged", "summary": "s"}}
    assert reference_text(row, "classification") == "damaged"
    assert reference_text(row, "summarisation") == "s"
    assert reference_text(row, "extraction") == json.dumps(R1)
    assert reference_text({"id": "2", "output": "billing", "meta": {"category": "other"}}, "classification") == "billing"
    assert reference_text({**row, "reference": "R"}, "classification") == "R"


def test_one_table_of_task_views():
    """The metrics, the prompts and the CLI take their task names and validation from helpers.data.tasks."""
    from helpers.__main__ import build_parser
    from helpers.core.errors import SettingsError
    from helpers.data.tasks import TASK_VIEWS, check_view
    from helpers.data.task_spec import PROMPT_KINDS, default_prompt, load_task

    assert set(M.PRIMARY) == set(TASK_VIEWS)
    support = load_task("support")
    assert set(support.prompts) == set(TASK_VIEWS)  # the bundled task words every prompt of every view
    for view in TASK_VIEWS:
        for kind in PROMPT_KINDS:
            assert support.prompt(kind, view) == support.prompts[view][kind] != default_prompt(view, kind)
    for view in TASK_VIEWS:
        assert check_view(view) == view
        assert build_parser().parse_args(["evaluate", "--task", view, "--predictions", "p", "--references", "r"]).task == view
    for bad in ("Extraction", "translation", ""):
        with pytest.raises(SettingsError, match="use one of classification, extraction, summarisation"):
            check_view(bad)
        with pytest.raises(SettingsError):
            M.primary_metric(bad)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--task", "translation", "--predictions", "p", "--references", "r"])


def test_cli_names_the_line_of_a_row_without_id(tmp_path, capsys):
    refs = _write(tmp_path / "r.jsonl", _rows())
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "r0", "prediction": "x"}\n{"prediction": "y"}\n', encoding="utf-8")
    assert main(["evaluate", "--task", "extraction", "--predictions", str(preds), "--references", refs]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: p.jsonl:2:") and "'id'" in err and "\n" not in err
