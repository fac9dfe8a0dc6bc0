"""helpers.data.text: JSON out of model text, labels out of free answers, the schema fallback."""

from __future__ import annotations

import json

import pytest

from helpers.core.errors import SettingsError
from helpers.data.task_spec import load_schema
from helpers.data.text import normalise_label, normalise_text, parse_json_output, strip_fence

OBJ = {"order_id": "A-1", "product": "kettle", "sentiment": None}
TEXT = json.dumps(OBJ)


@pytest.mark.parametrize("text", [TEXT, f"  {TEXT}\n"])
def test_strict_accepts_one_object(text):
    assert parse_json_output(text, strict=True) == OBJ


@pytest.mark.parametrize("text", [
    f"```json\n{TEXT}\n```",
    f"Here is the JSON: {TEXT}",
    f"{TEXT} Hope this helps!",
    "[1, 2]",
    "null",
    '{"a": 1,}',
    "",
])
def test_strict_rejects_anything_else(text):
    assert parse_json_output(text, strict=True) is None


@pytest.mark.parametrize("text", [
    TEXT,
    f"```json\n{TEXT}\n```",
    f"```\n{TEXT}\n```",
    f"Sure! Here is the JSON:\n{TEXT}\nLet me know if you need more.",
    "{'order_id': 'A-1', 'product': 'kettle', 'sentiment': None}",
    '{"order_id": "A-1", "product": "kettle", "sentiment": null,}',
    f"{TEXT}\n{{\"second\": 1}}",
])
def test_tolerant_recovers_the_object(text):
    assert parse_json_output(text, strict=False) == OBJ


def test_tolerant_braces_inside_strings_and_nesting():
    text = 'ok: {"a": "x}y", "b": {"c": 1}} trailing'
    assert parse_json_output(text, strict=False) == {"a": "x}y", "b": {"c": 1}}


def test_tolerant_skips_braces_in_prose():
    assert parse_json_output('Fill the {template} like this: {"a": 1}', strict=False) == {"a": 1}


def test_tolerant_never_returns_a_nested_part_of_a_broken_object():
    assert parse_json_output('{"a": oops, "b": {"c": 1}}', strict=False) is None
    assert parse_json_output('{"a": 1, "b": {"c": 1}, "d": "cut o', strict=False) == {"a": 1, "b": {"c": 1}, "d": "cut o"}


def test_tolerant_closes_an_answer_cut_off_by_max_tokens():
    assert parse_json_output('{"order_id": "A-1", "product": "kett', strict=False) == {"order_id": "A-1", "product": "kett"}


@pytest.mark.parametrize("text", ["no json here", "[1, 2, 3]", "{not: valid: at all", "", None, "{}{"])
def test_tolerant_gives_none_when_there_is_no_object(text):
    result = parse_json_output(text, strict=False)
    assert result is None or result == {}


def test_tolerant_none_for_prose_and_lists():
    assert parse_json_output("no json here", strict=False) is None
    assert parse_json_output("[1, 2, 3]", strict=False) is None


LABELS = ["billing", "shipping", "damaged_item", "refund", "partial refund"]


@pytest.mark.parametrize("text,expected", [
    ("billing", "billing"),
    ("  Billing. ", "billing"),
    ("BILLING!", "billing"),
    ("Category: shipping", "shipping"),
    ("damaged item", "damaged_item"),
    ("Damaged-Item", "damaged_item"),
    ("ship", "shipping"),                                   # prefix of one label
    ("billing - the customer was charged twice", "billing"),  # starts with a label
    ("partial refund", "partial refund"),                   # longer label wins over "refund"
    ("I think this is about a partial refund.", "partial refund"),
    ("The label is refund", "refund"),
    ("billing, although the parcel was late (shipping)", "billing"),  # the label it opens with wins
])
def test_normalise_label_maps(text, expected):
    assert normalise_label(text, LABELS) == expected


@pytest.mark.parametrize("text", ["", "weather", "bi", "it is either shipping or billing", None])
def test_normalise_label_refuses(text):
    assert normalise_label(text, LABELS) is None


def test_load_schema_from_task_json_then_schema_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_HOME", str(tmp_path))
    with pytest.raises(SettingsError, match="task folder .* not found"):
        load_schema("mine")
    folder = tmp_path / "data" / "mine"
    folder.mkdir(parents=True)
    (folder / "task.json").write_text(json.dumps({"view": "classification", "labels": ["ham", "spam"]}), encoding="utf-8")
    schema = load_schema("mine")
    assert schema["classification_labels"] == ["ham", "spam"] and schema["fields"] == [] and schema["task"] == "mine"
    (folder / "schema.json").write_text(json.dumps({"fields": ["a", "b"], "labels": {"b": ["x", "y"]}}), encoding="utf-8")
    schema = load_schema("mine")
    assert schema["fields"] == ["a", "b"] and schema["labels"] == {"b": ["x", "y"]}
    assert schema["classification_labels"] == ["ham", "spam"]


# --------------------------------------------------------------------------- the one normaliser
@pytest.mark.parametrize("a,b", [
    ("Refund, please!", "refund please"),
    ("  damaged_item ", "Damaged-Item"),        # "_" and "-" both become spaces
    ("Straße ‘late’…", "STRASSE late"),         # case folded; unicode punctuation too
    ("a\tb\n\nc", "a b c"),
])
def test_normalise_text_matches(a, b):
    assert normalise_text(a) == normalise_text(b)


@pytest.mark.parametrize("a,b", [("refund", "refunds"), ("order 1001", "order 1002"), ("a b", "ab")])
def test_normalise_text_keeps_words_apart(a, b):
    assert normalise_text(a) != normalise_text(b)


def test_normalise_text_keep_inner_punctuation_is_the_value_rule():
    keep = {"keep_inner_punctuation": True}
    assert normalise_text(' "Cancel_order." ', **keep) == normalise_text("cancel-order", **keep) == "cancel order"
    assert normalise_text("3.5", **keep) != normalise_text("35", **keep)        # inner punctuation counts
    assert normalise_text("a/b", **keep) != normalise_text("a b", **keep)
    assert normalise_text("a/b") == normalise_text("a b")                       # ... unlike in the default


# --------------------------------------------------------------------------- one fence, one parser
def test_strip_fence_only_unwraps_a_whole_fence():
    assert strip_fence(f"```json\n{TEXT}\n```") == TEXT
    assert strip_fence(f"  ```\n{TEXT}\n```\n") == TEXT
    assert strip_fence(f"Here: ```json\n{TEXT}\n```") == f"Here: ```json\n{TEXT}\n```"   # prose around it
    assert strip_fence(TEXT) == TEXT


def test_strict_with_allow_fence_is_the_training_output_rule():
    assert parse_json_output(f"```json\n{TEXT}\n```", strict=True, allow_fence=True) == OBJ
    assert parse_json_output(TEXT, strict=True, allow_fence=True) == OBJ
    for text in (f"Here is the JSON: {TEXT}", "```json\n" + TEXT[:-3], "{'a': 1}", '{"a": 1,}', "[1]"):
        assert parse_json_output(text, strict=True, allow_fence=True) is None, text
    assert parse_json_output("[" * 100_000, strict=True) is None  # too deep for json: no object, no crash
