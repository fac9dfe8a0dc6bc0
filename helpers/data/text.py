"""Text, the one home for reading it: normalisation, code fences, JSON objects, class labels.

Introduced in ``01_data_quality.ipynb`` (normalised text is the duplicate and leak key; a training
output must be a JSON object) and used for prompting in ``02_prompting_baseline.ipynb`` and for
scoring in ``04_evaluation.ipynb``. A small model rarely answers with *only* a JSON object: it
wraps it in a code fence, adds "Here is the JSON:" or leaves a trailing comma. We score two ways,
and report both:

* **strict** - the whole answer (outer whitespace aside) must be one JSON object. This is what
  a program calling ``json.loads`` on the reply would accept. ``allow_fence=True`` also accepts
  that object inside one Markdown code fence: the rule for a training file's outputs.
* **tolerant** - strip code fences and prose, take the first balanced ``{...}``, and accept
  Python-style single quotes, ``None``/``True``/``False`` and trailing commas.

The gap between the two tells the learner whether the model knows the answer but not the
format (fixable by a parser or a prompt) or does not know the answer at all.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, Iterator

from helpers.core.paths import data_dir

#: One Markdown code fence: an optional language tag, then the body (outer whitespace excluded).
_FENCE = re.compile(r"```[\w-]*\s*(.*?)\s*```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PUNCT = re.compile(r"[^\w\s]|_")  # every punctuation mark or symbol, and "_"
_EDGE_QUOTES = "\"'`"
_END_PUNCT = ".,;:!"

def normalise_text(text: Any, keep_inner_punctuation: bool = False) -> str:
    """Text made comparable: case folded, whitespace collapsed, punctuation ignored (01_data_quality).

    The one normaliser of the course, with two deliberate strengths:

    * default - every punctuation mark, symbol and ``_`` becomes a space: ``"Refund, please!"``
      equals ``"refund please"``. The key for texts: near-duplicate and train/eval-leak inputs,
      few-shot overlap, a model's answer matched onto a label.
    * ``keep_inner_punctuation=True`` - only ``_`` and ``-`` become spaces, quotes around the
      text and end punctuation (``.,;:!``) are dropped, and punctuation inside is kept, so
      ``"3.5"`` and ``"35"``, or ``"a/b"`` and ``"a b"``, stay different. The rule for one
      extracted field value (:func:`helpers.evaluation.field_metrics.normalise_value`).
    """
    text = str(text)
    if keep_inner_punctuation:
        text = " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()
        return text.strip(_EDGE_QUOTES).rstrip(_END_PUNCT).strip()
    return " ".join(_PUNCT.sub(" ", text.casefold()).split())


def strip_fence(text: str) -> str:
    """The body of a text that is one Markdown code fence (```json ... ```), else the text (01_data_quality)."""
    m = _FENCE.fullmatch(text.strip())
    return m.group(1) if m else text


def _balanced_objects(text: str) -> Iterator[str]:
    """Every ``{...}`` whose braces balance, left to right, ignoring braces inside quoted strings."""
    start = text.find("{")
    while start != -1:
        depth = 0
        quote: str | None = None
        escaped = False
        for i in range(start, len(text)):
            ch = text[i]
            if quote:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                # an apostrophe inside a word ("don't") is not a quote
                if ch == "'" and i > 0 and text[i - 1].isalnum():
                    continue
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : i + 1]
                    end = i
                    break
        else:
            return  # never closed: every later brace is nested inside this one
        start = text.find("{", end + 1)


def _loads_object(candidate: str, tolerant: bool) -> dict | None:
    """``json.loads`` that only accepts an object; tolerant mode also tries simple repairs."""
    try:
        obj = json.loads(candidate)
        return obj if isinstance(obj, dict) else None
    except (ValueError, RecursionError):
        if not tolerant:
            return None
    repaired = _TRAILING_COMMA.sub(r"\1", candidate)
    try:
        obj = json.loads(repaired)
        return obj if isinstance(obj, dict) else None
    except (ValueError, RecursionError):
        pass
    # Python-literal style: single quotes, None/True/False (and JSON's null/true/false).
    pythonish = re.sub(r"\bnull\b", "None", repaired)
    pythonish = re.sub(r"\btrue\b", "True", pythonish)
    pythonish = re.sub(r"\bfalse\b", "False", pythonish)
    try:
        obj = ast.literal_eval(pythonish)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    if not isinstance(obj, dict):
        return None
    try:  # keep only what JSON can hold
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError):
        return None


def parse_json_output(text: str, strict: bool, allow_fence: bool = False) -> dict | None:
    """The JSON object in a model's answer, or ``None`` when there is none (02_prompting_baseline).

    ``strict=True``: the whole text, outer whitespace aside, must be one JSON object;
    ``allow_fence=True`` also accepts it inside one code fence (what a training output may be,
    the ``invalid_json_output`` check of 01_data_quality).
    ``strict=False``: code fences and surrounding prose are stripped, the first balanced
    ``{...}`` that parses is taken, and single quotes, ``None``/``True``/``False`` and trailing commas are
    tolerated. Anything that is not an object (a list, a number) counts as no object.
    """
    if not isinstance(text, str):
        return None
    if strict:
        return _loads_object((strip_fence(text) if allow_fence else text).strip(), tolerant=False)
    candidates: list[str] = [m.group(1) for m in _FENCE.finditer(text)]
    candidates.append(text)
    for chunk in candidates:
        obj = _loads_object(chunk.strip(), tolerant=True)
        if obj is not None:
            return obj
        for inner in _balanced_objects(chunk):
            obj = _loads_object(inner, tolerant=True)
            if obj is not None:
                return obj
    # an answer cut off by max_new_tokens: close the braces and try once more
    start = text.find("{")
    if start != -1 and text.count("{") > text.count("}"):
        tail = text[start:].rstrip().rstrip(",")
        if tail.count('"') % 2 == 1:
            tail += '"'
        obj = _loads_object(tail + "}" * (tail.count("{") - tail.count("}")), tolerant=True)
        if obj is not None:
            return obj
    return None


_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:label|category|class|answer|intent|type)\s*(?:is)?\s*[:=-]?\s*", re.I)


def normalise_label(text: str, labels: list[str]) -> str | None:
    """Map a model's answer onto one of ``labels``, or ``None`` if it names none (02, 04).

    Case, whitespace, punctuation and ``_``/``-`` are ignored (:func:`normalise_text`), and a leading "Category:" or
    "The label is" is dropped. Then, in order: an exact match; an answer that *starts with*
    a label ("billing - the customer was charged twice"; the longest such label wins); an
    answer that is a prefix of exactly one label ("ship" -> "shipping", at least 3
    characters); exactly one label appearing as whole words anywhere in the answer.
    """
    if not isinstance(text, str) or not labels:
        return None
    normed = {normalise_text(lab): lab for lab in labels}
    first_line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    answer = normalise_text(_ANSWER_PREFIX.sub("", first_line))
    if not answer:
        return None
    if answer in normed:
        return normed[answer]
    starts = [n for n in normed if answer.startswith(n + " ")]
    if starts:
        return normed[max(starts, key=len)]
    if len(answer) >= 3:
        prefixed = [n for n in normed if n.startswith(answer)]
        if len(prefixed) == 1:
            return normed[prefixed[0]]
    whole = normalise_text(text)
    inside = [n for n in normed if re.search(rf"(?:^| ){re.escape(n)}(?: |$)", whole)]
    # drop labels that are contained in a longer label that also matched ("refund" in "partial refund")
    inside = [n for n in inside if not any(n != m and n in m for m in inside)]
    if len(inside) == 1:
        return normed[inside[0]]
    return None
