"""helpers.evaluation.decision: the paired interval and the GO / NO-GO / NOT SHOWN rule on constructed scores."""

from __future__ import annotations

import json

import pytest

from fake_run import make_run
from helpers.core.errors import DataError
from helpers.evaluation.decision import (
    PairedDifference,
    aligned_predictions,
    decide,
    paired_difference,
    paired_differences,
    verdict_for,
)
from helpers.evaluation.metrics import bootstrap_ci, score

N = 40
LABELS = ["damaged_item", "wrong_item", "delivery_delay", "billing_problem"]


def _refs(n: int = N) -> list[str]:
    return [json.dumps({"order_id": f"ORD-{10000 + i}", "product": None, "issue_type": LABELS[i % 4],
                        "requested_action": None, "sentiment": "neutral"}) for i in range(n)]


def _answers(refs: list[str], right: set[int]) -> list[str]:
    """Right on the rows in ``right``; on the others every field but one is wrong."""
    out = []
    for i, r in enumerate(refs):
        if i in right:
            out.append(r)
        else:
            obj = json.loads(r)
            obj.update(order_id="ORD-99999", issue_type="wrong_item" if obj["issue_type"] != "wrong_item" else "damaged_item",
                       sentiment="positive", requested_action="refund")
            out.append(json.dumps(obj))
    return out


def test_clear_win_is_go():
    refs = _refs()
    base = _answers(refs, set(range(10)))
    fin = _answers(refs, set(range(36)))
    d = paired_difference("extraction", base, fin, refs)
    assert d.metric == "field_accuracy" and d.n == N
    assert d.diff == pytest.approx(score("extraction", fin, refs)["field_accuracy"] - score("extraction", base, refs)["field_accuracy"])
    assert d.ci95[0] > 0 and d.ci95[0] <= d.diff <= d.ci95[1]
    assert verdict_for(d) == "GO"
    assert verdict_for(d, gate_passed=False) == "NO-GO"  # a failed gate overrides a win


def test_tie_is_not_shown():
    refs = _refs()
    base = _answers(refs, set(range(20)))
    fin = _answers(refs, set(range(10, 30)))  # as many right, on other rows
    d = paired_difference("extraction", base, fin, refs)
    assert d.diff == pytest.approx(0.0)
    assert d.ci95[0] < 0 < d.ci95[1]
    assert verdict_for(d) == "NOT SHOWN"
    assert verdict_for(d, gate_passed=True) == "NOT SHOWN"


def test_clear_loss_is_no_go():
    refs = _refs()
    d = paired_difference("extraction", _answers(refs, set(range(36))), _answers(refs, set(range(8))), refs)
    assert d.ci95[1] < 0 and verdict_for(d) == "NO-GO"


def test_small_gain_on_few_rows_is_not_shown():
    """One row better out of 60 (0.017) is what the old point-estimate rule called GO."""
    refs = _refs(60)
    d = paired_difference("extraction", _answers(refs, set(range(30))), _answers(refs, set(range(31))), refs)
    assert 0 < d.diff < 0.02 and verdict_for(d) == "NOT SHOWN"


def test_pairing_narrows_the_interval():
    """The adapter is right on the baseline's rows plus 4 more: separate intervals overlap, the paired one does not."""
    refs = _refs()
    base = _answers(refs, set(range(20)))
    fin = _answers(refs, set(range(24)))
    lo_b, hi_b = bootstrap_ci("extraction", base, refs)
    lo_f, hi_f = bootstrap_ci("extraction", fin, refs)
    assert lo_f < hi_b  # the two intervals overlap: read separately, "no difference"
    d = paired_difference("extraction", base, fin, refs)
    assert d.ci95[0] > 0  # paired: every changed row changed for the better
    assert d.ci95[1] - d.ci95[0] < (hi_f - lo_f)


def test_non_mean_metric_and_all_metrics():
    refs = [LABELS[i % 4] for i in range(N)]
    base = [r if i < 20 else "wrong_item" for i, r in enumerate(refs)]
    fin = list(refs)
    d = paired_difference("classification", base, fin, refs)
    assert d.metric == "macro_f1" and d.finetuned == pytest.approx(1.0) and d.ci95[0] > 0
    same = paired_differences("classification", fin, fin, refs)
    assert set(same) == {"exact_match", "macro_f1"}
    assert all(v.ci95 == (0.0, 0.0) and v.diff == 0 for v in same.values())


def test_mismatched_rows_are_refused():
    refs = _refs(4)
    with pytest.raises(DataError, match="same rows"):
        paired_difference("extraction", refs[:3], refs, refs)
    a = [{"id": "1", "prediction": "x", "reference": "r1"}]
    with pytest.raises(DataError, match="different references"):
        aligned_predictions(a, [{"id": "1", "prediction": "y", "reference": "other"}])
    with pytest.raises(DataError, match="share no scored row"):
        aligned_predictions(a, [{"id": "2", "prediction": "y", "reference": "r1"}])


def test_decide_on_a_run_and_summary_contract(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    run = make_run(tmp_path, "r1", baseline=0.3, adapter=0.95, n_rows=40)
    decision = decide(run)
    assert decision.verdict == "GO" and decision.difference.n == 40
    out = decision.to_summary()
    assert set(out) == {"metric", "split", "baseline", "finetuned", "diff", "ci95", "verdict"}
    assert out["split"] == "golden" and out["ci95"][0] > 0 and json.dumps(out)
    tie = make_run(tmp_path, "r2", baseline=0.5, adapter=0.5, n_rows=40)
    assert decide(tie).verdict == "NOT SHOWN"


def test_paired_difference_to_dict():
    d = PairedDifference("m", "golden", 0.5, 0.6, 0.1, (0.01, 0.2), 10)
    assert d.to_dict()["ci95"] == [0.01, 0.2]
