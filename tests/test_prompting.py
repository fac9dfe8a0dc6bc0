"""helpers.prompting.prompts: few-shot examples never come from scored rows, similar examples sit closest to
the question, and the prompt ladder, format spec and fine-tuning prompt are built as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import support_rows
from helpers.core.errors import SettingsError
from helpers.core.paths import data_dir
from helpers.prompting.prompts import (
    PromptConfig,
    assert_disjoint,
    build_conversations,
    build_messages,
    finetune_config,
    format_spec,
    guideline_rules,
    prompt_ladder,
    select_examples,
    training_messages,
)
from helpers.data.task_spec import load_task
from helpers.data.tasks import TASK_VIEWS, load_schema

# The bundled task's wording, from data/support/task.json (the prompts live with the task).
_SUPPORT = load_task("support")
BARE_INSTRUCTIONS = {v: _SUPPORT.prompts[v]["bare"] for v in TASK_VIEWS}
DETAILED_INSTRUCTIONS = {v: _SUPPORT.prompts[v]["detailed"] for v in TASK_VIEWS}
FINETUNE_INSTRUCTIONS = {v: _SUPPORT.prompts[v]["finetune"] for v in TASK_VIEWS}

BUNDLED = all((data_dir() / "support" / f"{s}.jsonl").exists() for s in ("train", "eval", "golden"))


def _ids(rows):
    return [r["id"] for r in rows]


@pytest.fixture(scope="module")
def splits():
    """(train pool, eval rows, golden rows): the bundled data when it is there, else fixtures."""
    if BUNDLED:
        from helpers.data.loading import load_split

        return load_split("train"), load_split("eval"), load_split("golden")
    return support_rows(40, start=100), support_rows(8, start=0), support_rows(6, start=50)


# --------------------------------------------------------------------------- leakage guard
def test_assert_disjoint_refuses_a_shared_id():
    scored = support_rows(3)
    pool = support_rows(5, start=10) + [dict(support_rows(1, start=20)[0], id=scored[1]["id"])]
    with pytest.raises(SettingsError, match=scored[1]["id"]) as err:
        assert_disjoint(pool, scored)
    assert "train.jsonl" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mangle", [str.upper, lambda t: t.replace(",", " ,").replace(".", "!!"),
                                    lambda t: "  " + t.replace(" ", "   ") + "\n"])
def test_assert_disjoint_refuses_the_same_input_after_normalising(mangle):
    scored = support_rows(3)
    copy = dict(support_rows(1, start=30)[0], input=mangle(scored[2]["input"]))  # new id, same text
    with pytest.raises(SettingsError, match="t-30"):
        assert_disjoint(support_rows(4, start=10) + [copy], scored)


def test_assert_disjoint_accepts_a_separate_pool():
    scored = support_rows(4)
    # same template, same products, different order numbers: similar is fine, identical is not
    assert_disjoint(support_rows(20, start=10), scored)
    assert_disjoint([], scored)


def test_select_examples_refuses_an_overlapping_pool_for_both_methods():
    queries = support_rows(3)
    pool = support_rows(6, start=10) + [queries[0]]
    for method in ("random", "similar"):
        with pytest.raises(SettingsError):
            select_examples(queries, pool, k=2, method=method)
    with pytest.raises(SettingsError):
        build_conversations(queries, PromptConfig(k=2), pool)


def test_bundled_pool_is_disjoint_from_the_scored_rows(splits):
    train, eval_rows, golden = splits
    assert_disjoint(train, eval_rows)
    assert_disjoint(train, golden)


def test_random_selection_on_the_course_data_uses_only_pool_rows(splits):
    train, eval_rows, golden = splits
    queries = eval_rows[:5] + golden[:5]
    scored_ids = set(_ids(eval_rows)) | set(_ids(golden))
    pool_ids = set(_ids(train))
    shots = select_examples(queries, train, k=3, method="random", seed=1)
    assert len(shots) == len(queries)
    for ex in shots:
        assert len(ex) == 3 and len(set(_ids(ex))) == 3
        assert set(_ids(ex)) <= pool_ids and not set(_ids(ex)) & scored_ids


@pytest.mark.slow
def test_similar_selection_on_the_course_data_uses_only_pool_rows(splits):
    train, eval_rows, golden = splits
    pool = train[:12]  # a slice keeps the embedding cheap; the rule is the same
    queries = [eval_rows[0], golden[0]]
    shots = select_examples(queries, pool, k=4, method="similar")
    for ex in shots:
        assert len(ex) == 4 and len(set(_ids(ex))) == 4
        assert set(_ids(ex)) <= set(_ids(pool))


@pytest.mark.slow
def test_similar_selection_encodes_the_pool_once_and_matches_fresh_vectors(splits, tmp_path, monkeypatch):
    """The pool's embeddings come from the course cache: a second selection encodes nothing new."""
    import helpers.data.quality.embeddings as E
    from helpers.core.models import get_embedder

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    real, encoded = get_embedder(), []

    class Counting:  # the real MiniLM, with a tally of the texts it is asked to encode
        def encode(self, texts):
            encoded.append(len(texts))
            return real.encode(texts)

    monkeypatch.setattr(E, "get_embedder", lambda: Counting())
    train, eval_rows, _ = splits
    pool, queries = train[:20], eval_rows[:3]
    first = select_examples(queries, pool, k=3, method="similar")
    assert sum(encoded) == 23  # 3 queries + 20 pool rows, each once
    assert select_examples(queries, pool, k=3, method="similar") == first and sum(encoded) == 23  # all cached
    fresh = real.encode([q["input"] for q in queries]) @ real.encode([r["input"] for r in pool]).T
    assert [[r["id"] for r in ex] for ex in first] == \
        [[pool[int(i)]["id"] for i in row.argsort()[::-1][:3][::-1]] for row in fresh]  # same ranking as uncached


def test_random_selection_is_deterministic_with_a_seed():
    queries, pool = support_rows(4), support_rows(30, start=100)
    a = select_examples(queries, pool, k=3, seed=7)
    assert a == select_examples(queries, pool, k=3, seed=7)
    others = [select_examples(queries, pool, k=3, seed=s) for s in range(3)]
    assert any(_ids(o[0]) != _ids(a[0]) for o in others)  # the seed matters


def test_k_is_capped_by_the_pool_and_zero_means_no_examples():
    queries = support_rows(2)
    assert select_examples(queries, support_rows(2, start=10), k=5) == [
        ex for ex in select_examples(queries, support_rows(2, start=10), k=2)]
    assert all(len(ex) == 2 for ex in select_examples(queries, support_rows(2, start=10), k=5))
    assert select_examples(queries, support_rows(5, start=10), k=0) == [[], []]
    assert select_examples([], support_rows(5, start=10), k=3) == []


def test_unknown_selection_method_is_a_settings_error():
    with pytest.raises(SettingsError, match="random"):
        select_examples(support_rows(1), support_rows(3, start=10), k=1, method="nearest")


def _row(i, text):
    return {"id": f"p-{i}", "input": text, "output": "{}"}


@pytest.mark.slow
def test_similar_selection_puts_the_paraphrase_last_closest_to_the_question():
    query = {"id": "q", "input": "My blender arrived with a cracked jug, I want a replacement.", "output": ""}
    pool = [
        _row(0, "When will my running shoes be delivered? Tracking hasn't updated in a week."),
        _row(1, "I was charged twice for my yoga mat order, please refund one payment."),
        _row(2, "The blender I received has a broken jug; please send me a new one."),  # the paraphrase
        _row(3, "Can I change the shipping address on my desk lamp order?"),
        _row(4, "I can't log in to my account, the password reset email never comes."),
        _row(5, "Do these headphones work with a laptop over bluetooth?"),
    ]
    query2 = {"id": "q2", "input": "How do I reset my password? I cannot sign in to my account.", "output": ""}
    shots = select_examples([query, query2], pool, k=3, method="similar")
    assert [len(s) for s in shots] == [3, 3]
    assert shots[0][-1]["id"] == "p-2"  # most similar last: right before the question
    assert shots[1][-1]["id"] == "p-4"
    assert all(r in pool for s in shots for r in s)
    # in a built conversation the paraphrase is the last example turn before the question
    msgs = build_messages(query["input"], PromptConfig(k=3, selection="similar"), shots[0])
    assert msgs[-3]["content"] == pool[2]["input"] and msgs[-1]["content"] == query["input"]


# --------------------------------------------------------------------------- messages
def test_build_messages_structure():
    examples = support_rows(3, start=10)
    cfg = PromptConfig("extraction", DETAILED_INSTRUCTIONS["extraction"], format_spec=True, k=3)
    msgs = build_messages("Where is my order ORD-55555?", cfg, examples)
    assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert msgs[0]["content"].startswith(DETAILED_INSTRUCTIONS["extraction"])
    assert format_spec("extraction") in msgs[0]["content"]
    for i, ex in enumerate(examples):
        assert msgs[1 + 2 * i]["content"] == ex["input"] and msgs[2 + 2 * i]["content"] == ex["output"]
    assert msgs[-1] == {"role": "user", "content": "Where is my order ORD-55555?"}
    assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in msgs)


def test_build_messages_zero_shot_without_spec():
    msgs = build_messages("hi", PromptConfig("extraction", BARE_INSTRUCTIONS["extraction"]))
    assert msgs == [{"role": "system", "content": BARE_INSTRUCTIONS["extraction"]}, {"role": "user", "content": "hi"}]


def test_build_conversations_one_per_row_ending_with_that_row():
    rows = support_rows(3)
    convs = build_conversations(rows, PromptConfig(k=2, seed=3), support_rows(10, start=100))
    assert len(convs) == 3
    for row, conv in zip(rows, convs):
        assert conv[-1]["content"] == row["input"] and len(conv) == 1 + 2 * 2 + 1


def test_format_spec_lists_every_schema_field_and_label():
    schema = load_schema("support")
    spec = format_spec("extraction")
    for field in schema["fields"]:
        assert f'"{field}":' in spec, field
    for field, labels in schema.get("labels", {}).items():
        line = next(line for line in spec.splitlines() if f'"{field}":' in line)
        for label in labels:
            assert f'"{label}"' in line, (field, label)
    for field in schema.get("nullable", []):
        line = next(line for line in spec.splitlines() if f'"{field}":' in line)
        assert line.rstrip(",").endswith("| null"), field
    # keys in schema order
    positions = [spec.index(f'"{f}":') for f in schema["fields"]]
    assert positions == sorted(positions)


def test_format_spec_for_the_other_views():
    schema = load_schema("support")
    cls = format_spec("classification")
    cats = schema.get("classification_labels") or schema.get("labels", {}).get("issue_type", [])
    assert cats and all(c in cls for c in cats)
    assert "35 words" in format_spec("summarisation")


@pytest.mark.parametrize("view", TASK_VIEWS)
def test_prompt_ladder_adds_instructions_then_spec_then_rules_then_examples(view):
    ladder = prompt_ladder(view, k=3)
    names = list(ladder)
    assert len(names) == 5 and [n[0] for n in names] == ["1", "2", "3", "4", "5"]
    bare, instr, spec, rules, shots = ladder.values()
    assert all(c.view == view for c in ladder.values())
    assert bare.instructions == BARE_INSTRUCTIONS[view] and not bare.format_spec and bare.k == 0
    assert instr.instructions == DETAILED_INSTRUCTIONS[view] and not instr.format_spec and instr.k == 0
    assert len(instr.instructions) > len(bare.instructions)
    assert spec.instructions == instr.instructions and spec.format_spec and spec.k == 0
    assert rules.instructions == guideline_rules(view) and rules.format_spec and rules.k == 0
    assert len(rules.instructions) > len(instr.instructions)
    assert shots.format_spec and shots.k == 3 and shots.selection == "similar"
    assert shots.instructions == rules.instructions
    # what the model sees grows rung by rung
    systems = [build_messages("x", c)[0]["content"] for c in (bare, instr, spec, rules)]
    assert systems[1] != systems[0] and systems[2].startswith(systems[1])
    assert len(systems[2]) > len(systems[1]) and len(systems[3]) > len(systems[2])
    assert len(build_messages("x", shots, support_rows(3, start=10))) == 1 + 2 * 3 + 1


def _guideline() -> str:
    return (Path(__file__).resolve().parent.parent / "data" / "GUIDELINES.md").read_text(encoding="utf-8")


def _guideline_priority() -> list[str]:
    """The guideline's priority list, read from its numbered line (1. `damaged_item` 2. ...)."""
    text = _guideline()
    block = text[text.index("**Several issues in one message.**"):text.index("The order in which")]
    return re.findall(r"\d\. `([a-z_]+)`", block)


def test_guideline_rules_and_guideline_name_the_same_labels_and_order():
    schema = load_schema("support")
    priority = _guideline_priority()
    assert priority == schema["labels"]["issue_type"]  # the guideline, its schema and ...
    for view in ("extraction", "classification"):
        rules = guideline_rules(view)
        order = re.search(r"priority order: ([a-z_> ]+)", rules).group(1).split(" > ")
        assert [o.strip() for o in order] == priority, view  # ... the prompt agree on the order
        for label in schema["labels"]["issue_type"]:
            assert f"{label} (" in rules or f"- {label}:" in rules, (view, label)  # each label defined
    rules = guideline_rules("extraction")
    for label in schema["labels"]["requested_action"] + schema["labels"]["sentiment"]:
        assert label in rules and label in _guideline()
    # the traps the guideline spells out, each in the prompt too
    for trap in ("quoted", "Tracking numbers", "1Z", "TRK-", "bare noun", "sarcastic", "negative remark wins",
                 "ORD- plus five digits", "the product they ordered", "first one if several"):
        assert trap in rules, trap
    for phrase in ("sarcastic", "bare noun", "Tracking numbers are not order ids", "highest in this priority list"):
        assert phrase.lower() in _guideline().lower(), phrase
    assert "about 35 words" in guideline_rules("summarisation") and "at most about 35 words" in _guideline()


def test_rung_two_does_not_contradict_the_guideline():
    """The old rung 2 said "as the customer names it" and "the one the customer asks to be fixed"."""
    text = DETAILED_INSTRUCTIONS["extraction"]
    for wrong in ("as the customer names it", "asks to be fixed", "tone overall"):
        assert wrong not in text
    assert "asks to be fixed" not in DETAILED_INSTRUCTIONS["classification"]


def test_guideline_rules_missing_section_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_HOME", str(tmp_path))
    (tmp_path / "data" / "mine").mkdir(parents=True)
    (tmp_path / "data" / "mine" / "prompt_rules.md").write_text("# rules\n\n## extraction\nbe careful\n")
    assert guideline_rules("extraction", task="mine") == "be careful"
    with pytest.raises(SettingsError, match="## classification.*prompt_rules.md"):
        guideline_rules("classification", task="mine")


def test_prompt_ladder_k_and_unknown_view():
    assert list(prompt_ladder("extraction", k=5).values())[4].k == 5
    with pytest.raises(SettingsError, match="extraction"):
        prompt_ladder("translation")
    with pytest.raises(SettingsError):
        finetune_config("translation")


@pytest.mark.parametrize("view", TASK_VIEWS)
def test_finetune_config_is_short_and_plain(view):
    cfg = finetune_config(view)
    assert cfg.view == view and cfg.instructions == FINETUNE_INSTRUCTIONS[view]
    assert not cfg.format_spec and cfg.k == 0
    assert len(cfg.instructions) < len(DETAILED_INSTRUCTIONS[view])
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()


def test_training_messages_are_the_finetune_prompt_plus_the_answer():
    row = support_rows(1)[0]
    cfg = finetune_config()
    msgs = training_messages(row, cfg)
    assert msgs[:-1] == build_messages(row["input"], cfg)  # the adapter is asked exactly as taught
    assert msgs[-1] == {"role": "assistant", "content": row["output"]}



def test_assert_disjoint_compares_inputs_with_the_course_normaliser():
    scored = support_rows(2)
    same = dict(support_rows(1, start=30)[0], input=scored[0]["input"].replace(" ", "_") + " …")
    with pytest.raises(SettingsError, match="t-30"):  # "_" and unicode punctuation are ignored, as in notebook 01
        assert_disjoint([same], scored)
    other = dict(support_rows(1, start=31)[0], input=scored[0]["input"] + " again")
    assert_disjoint([other], scored)  # one more word: a different input
