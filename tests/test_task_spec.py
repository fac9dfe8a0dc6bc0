"""The task in force (COURSE_TASK, the saved choice, the bundled default) and planted label noise."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from helpers.core.errors import DataError, SettingsError
from helpers.core.paths import data_dir
from helpers.data.loading import load_split, split_path
from helpers.data.noise import NOISE_KINDS, add_label_noise, noise_kind_rows, noise_kinds, noisy_arm_rows
from helpers.data.task_spec import (TASK_ENV, default_prompt, load_task, resolve_task, save_task_choice,
                                    task_dir, task_name)
from helpers.evaluation.scoring import scored_rows, stage_splits
from helpers.prompting.prompts import build_messages, finetune_config, format_spec, prompt_ladder


def _own_task(folder, view="classification", **extra):
    folder.mkdir(parents=True)
    labels = ["ham", "spam"]
    for split, n in (("train", 12), ("eval", 4), ("golden", 4)):
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(json.dumps({"id": f"{split}-{i}", "input": f"{split} message number {i}",
                                     "output": labels[i % 2]}) + "\n")
    (folder / "task.json").write_text(json.dumps({"name": "sms", "view": view, "labels": labels, **extra}),
                                      encoding="utf-8")
    return folder


@pytest.fixture
def no_saved_choice(tmp_path, monkeypatch):
    """The course folder's saved task choice is redirected so tests never touch the learner's."""
    monkeypatch.delenv(TASK_ENV, raising=False)
    monkeypatch.setattr("helpers.data.task_spec.saved_task_path", lambda: tmp_path / ".course_task.json")
    return tmp_path


def test_resolution_order_env_then_saved_then_bundled(no_saved_choice, monkeypatch):
    tmp = no_saved_choice
    name, source = resolve_task()
    assert name == (data_dir() / "default_task.txt").read_text().strip() == "support" and "bundled" in source
    own = _own_task(tmp / "sms")
    save_task_choice(own)
    assert json.loads((tmp / ".course_task.json").read_text()) == {"task": str(own.resolve())}
    assert resolve_task() == (str(own.resolve()), "saved choice in .course_task.json")
    assert load_task().name == "sms" and task_dir() == own.resolve()
    monkeypatch.setenv(TASK_ENV, "support")  # the environment wins over the saved choice
    assert task_dir() == data_dir() / "support" and task_name() == "support"
    monkeypatch.setenv(TASK_ENV, str(own))
    assert split_path("train") == own.resolve() / "train.jsonl"
    assert [r["id"] for r in load_split("eval")] == ["eval-0", "eval-1", "eval-2", "eval-3"]


def test_unusable_tasks_are_refused_with_the_fix(no_saved_choice, monkeypatch):
    tmp = no_saved_choice
    with pytest.raises(SettingsError, match="task folder .*not found.*task init"):
        task_dir(tmp / "nowhere")
    (tmp / "bare").mkdir()
    with pytest.raises(SettingsError, match="has no task.json: build the folder with 'python -m helpers task init'"):
        load_task(tmp / "bare")
    with pytest.raises(SettingsError, match="has no task.json"):
        save_task_choice(tmp / "bare")  # nothing is saved for a folder that cannot serve
    assert not (tmp / ".course_task.json").exists()
    (tmp / "bare" / "task.json").write_text('{"view": "translation"}', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown task view 'translation'"):
        load_task(tmp / "bare")
    own = _own_task(tmp / "sms")
    with pytest.raises(DataError, match="has no 'production_sample' split"):
        load_split("production_sample", own)


def test_the_course_path_follows_the_task_in_force(no_saved_choice, monkeypatch):
    from helpers.core.config import load_profile

    own = _own_task(no_saved_choice / "sms", instructions="Is this SMS spam? Answer ham or spam.")
    monkeypatch.setenv(TASK_ENV, str(own))
    ladder = prompt_ladder(k=2)
    # no prompt_rules.md: no guideline rung, the examples rung is the fourth
    assert list(ladder) == ["1 bare zero-shot", "2 + instructions", "3 + format spec", "4 + 2 similar examples"]
    assert {c.view for c in ladder.values()} == {"classification"}
    assert ladder["2 + instructions"].instructions == "Is this SMS spam? Answer ham or spam."
    assert ladder["1 bare zero-shot"].instructions == default_prompt("classification", "bare")
    assert format_spec("classification") == "Allowed categories: ham, spam"
    assert finetune_config().instructions == default_prompt("classification", "finetune")
    system = build_messages("win a prize", ladder["3 + format spec"])[0]["content"]
    assert system.endswith("Allowed categories: ham, spam") and "online store" not in system
    assert stage_splits() == ("eval", "golden")  # no production sample shipped
    rows = scored_rows(load_profile("ci"), "golden")
    assert {r["output"] for r in rows} <= {"ham", "spam"} and all(r["id"].startswith("golden-") for r in rows)
    # the bundled task still has its guideline rung and its own wording
    monkeypatch.setenv(TASK_ENV, "support")
    assert "4 + guideline rules" in prompt_ladder(k=3) and "online store" in prompt_ladder()["2 + instructions"].instructions


def test_random_noise_changes_the_stated_share_and_nothing_else():
    rows = [{"id": str(i), "input": f"text {i}", "output": ["a", "b", "c"][i % 3]} for i in range(100)]
    before = json.dumps(rows)
    noisy, stats = add_label_noise(rows, "classification", rate=0.3, seed=1)
    assert json.dumps(rows) == before  # the clean rows are never modified
    changed = [n for n, o in zip(noisy, rows) if n["output"] != o["output"]]
    assert len(changed) == stats["changed"] == 30 and stats["rate"] == 0.3
    assert sorted(stats["changed_ids"]) == sorted(r["id"] for r in changed)
    assert all(n["input"] == o["input"] and n["id"] == o["id"] for n, o in zip(noisy, rows))
    assert all(r["output"] in {"a", "b", "c"} for r in noisy)
    assert add_label_noise(rows, "classification", rate=0.3, seed=1)[0] == noisy  # seeded
    assert add_label_noise(rows, "classification", rate=0.0)[1]["changed"] == 0


def test_systematic_noise_is_one_annotators_habit():
    rows = [{"id": str(i), "input": f"t{i}", "output": "a" if i < 60 else ("b" if i < 90 else "c")} for i in range(100)]
    noisy, stats = add_label_noise(rows, "classification", rate=0.2, kind="systematic")
    moves = Counter((o["output"], n["output"]) for o, n in zip(rows, noisy) if o["output"] != n["output"])
    assert moves == Counter({("a", "b"): 20}) and stats["kind"] == "systematic"  # always the commonest -> second
    ext = [{"id": str(i), "input": f"t{i}", "output": json.dumps({"product": f"p{i % 4}", "sentiment": "neutral" if i % 2 else None})}
           for i in range(40)]
    noisy, stats = add_label_noise(ext, "extraction", rate=0.25, kind="systematic")
    diffs = [(json.loads(o["output"]), json.loads(n["output"])) for o, n in zip(ext, noisy) if o["output"] != n["output"]]
    assert len(diffs) == 10 and all(new["product"] is None and old["product"] and old["sentiment"] == new["sentiment"]
                                    for old, new in diffs)  # the field is left null, the rest kept
    summ = [{"id": str(i), "input": f"t{i}", "output": f"the customer number {i} wants a refund now"} for i in range(10)]
    noisy, _ = add_label_noise(summ, "summarisation", rate=0.5, kind="systematic")
    cut = [n["output"] for o, n in zip(summ, noisy) if o["output"] != n["output"]]
    assert len(cut) == 5 and all(len(c.split()) == 4 for c in cut)


def test_random_extraction_and_summary_noise_keep_the_format():
    ext = [{"id": str(i), "input": f"t{i}", "output": json.dumps({"product": f"p{i % 5}", "issue": f"i{i % 3}"})}
           for i in range(50)]
    noisy, stats = add_label_noise(ext, "extraction", rate=0.4, seed=3)
    assert stats["changed"] == 20
    for o, n in zip(ext, noisy):
        old, new = json.loads(o["output"]), json.loads(n["output"])
        assert set(old) == set(new) and sum(old[k] != new[k] for k in old) <= 1
    with pytest.raises(SettingsError, match="use one of random, systematic"):
        add_label_noise(ext, "extraction", kind="typos")
    with pytest.raises(SettingsError, match="outside 0-1"):
        add_label_noise(ext, "extraction", rate=30)
    assert NOISE_KINDS == ("random", "systematic")


def test_noisy_arm_uses_the_tasks_file_or_plants_noise(no_saved_choice, monkeypatch):
    bundled, stats = noisy_arm_rows([], 7, task="support")
    assert len(bundled) == 7 and stats == json.loads((data_dir() / "support" / "noisy_stats.json").read_text())
    own = _own_task(no_saved_choice / "sms")
    clean = load_split("train", own)
    rows, stats = noisy_arm_rows(clean, None, task=own, rate=0.5, seed=0)
    assert [r["input"] for r in rows] == [r["input"] for r in clean]
    assert sum(a["output"] != b["output"] for a, b in zip(rows, clean)) == stats["changed"] == 6
    assert "changed_ids" not in stats and stats["kind"] == "random"


def _values(output: str) -> dict:
    """An answer's values by snake_case field, whatever its fence, key order, case or indent."""
    import re

    from helpers.data.text import parse_json_output

    obj = parse_json_output(output, strict=True, allow_fence=True)
    assert obj is not None, output
    return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in obj.items()}


def test_noise_kind_rows_keeps_only_the_chosen_kinds():
    stats = json.loads((data_dir() / "support" / "noisy_stats.json").read_text())
    rows = load_split("noisy_train", data_dir() / "support")
    before = json.dumps(rows)
    kinds = noise_kinds(stats)
    assert kinds[:4] == ["issue_type", "requested_action", "sentiment", "order_id"] and kinds[-3:] == [
        "annotator_swap", "hard_null", "batch_format_drift"]
    assert noise_kind_rows(rows, stats, keep=kinds) == [{**r, "meta": {**r["meta"]}} for r in rows]  # all kept: as shipped
    clean = noise_kind_rows(rows, stats, keep=[])
    assert [r["output"] for r in clean] == [r["meta"]["clean_output"] for r in rows]
    assert all(r["meta"]["noise"] == [] and r["meta"]["category"] == json.loads(r["output"])["issue_type"] for r in clean)
    fields = {k: k for k in ("issue_type", "requested_action", "sentiment", "order_id")}
    fields.update({k: v["field"] for k, v in stats["systematic"].items()})
    for kind in kinds:
        kept = noise_kind_rows(rows, stats, keep=kind)
        assert [r["input"] for r in kept] == [r["input"] for r in rows]
        for new, old in zip(kept, rows):
            has = kind in old["meta"]["noise"]
            assert new["meta"]["noise"] == ([kind] if has else []), (kind, old["id"])
            if not has:  # every other kind undone
                assert new["output"] == old["meta"]["clean_output"], (kind, old["id"])
                continue
            want = json.loads(old["meta"]["clean_output"])
            field = fields.get(kind)
            if field:  # the kind's field keeps the noisy value, every other field is clean, the layout canonical
                want[field] = _values(old["output"])[field]
                assert new["output"] == json.dumps(want, ensure_ascii=False), (kind, old["id"])
            else:  # a format kind keeps the layout (fence, key order or case, indent), with clean values
                assert _values(new["output"]) == want and new["output"] != old["meta"]["clean_output"], (kind, old["id"])
            assert new["meta"]["category"] == _values(new["output"])["issue_type"], (kind, old["id"])
        assert sum(new["output"] != old["meta"]["clean_output"] for new, old in zip(kept, rows)) == sum(
            kind in r["meta"]["noise"] for r in rows) > 0
    assert json.dumps(rows) == before  # the rows passed in are never modified
    with pytest.raises(SettingsError, match="unknown noise kind"):
        noise_kind_rows(rows, stats, keep=["typos"])
    with pytest.raises(SettingsError, match="meta.clean_output"):
        noise_kind_rows([{"id": "x", "input": "a", "output": "b", "meta": {"noise": ["issue_type"]}}], stats, keep=[])

