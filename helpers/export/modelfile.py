"""An Ollama ``Modelfile`` for an exported GGUF: chat template, default system prompt, stop tokens (06_ship_it).

The most common way a GGUF "answers nonsense" in Ollama is a lost chat template or stop token:
the model then sees raw text and never stops. This module writes them explicitly. The Go
template is written for ChatML (``<|im_start|>role ... <|im_end|>``), the format SmolLM2 and
Qwen2.5 use; the default system prompt is read from the model's own template by rendering a
conversation without one. Another template format raises :class:`SettingsError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from helpers.core.errors import SettingsError

CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)


def default_system_prompt(tokenizer: Any) -> str | None:
    """The system prompt the chat template adds when a conversation has none, or None (06_ship_it)."""
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    m = re.search(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", text, re.S)
    return m.group(1) if m else None


def stop_strings(tokenizer: Any) -> list[str]:
    """The end-of-turn and end-of-text tokens as strings, for ``PARAMETER stop`` (06_ship_it)."""
    from helpers.prompting.generation import stop_token_ids

    return [tokenizer.convert_ids_to_tokens(i) for i in stop_token_ids(tokenizer)]


def modelfile_text(gguf_name: str, tokenizer: Any, num_ctx: int = 2048) -> str:
    """The Modelfile for ``gguf_name`` (a file next to it): FROM, TEMPLATE, SYSTEM, stop, greedy (06_ship_it)."""
    probe = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    if "<|im_start|>" not in probe:
        raise SettingsError(
            "the chat template is not ChatML: write the Modelfile's TEMPLATE by hand from the model's "
            "chat_template (https://github.com/ollama/ollama/blob/main/docs/template.md)"
        )
    lines = [f"FROM ./{gguf_name}", "", f'TEMPLATE """{CHATML_TEMPLATE}"""', ""]
    system = default_system_prompt(tokenizer)
    if system:
        lines += [f'SYSTEM """{system}"""', ""]
    lines += [f'PARAMETER stop "{s}"' for s in stop_strings(tokenizer)]
    lines += ["PARAMETER temperature 0", f"PARAMETER num_ctx {num_ctx}", ""]
    return "\n".join(lines)


def write_modelfile(folder: str | Path, gguf_name: str, tokenizer: Any) -> Path:
    """Write ``folder/Modelfile``; run it with ``ollama create NAME -f Modelfile`` (06_ship_it)."""
    from helpers.core.runs import write_text

    folder = Path(folder)
    if not (folder / gguf_name).exists():
        raise SettingsError(f"{folder / gguf_name} does not exist: write the GGUF before its Modelfile")
    return write_text(folder / "Modelfile", modelfile_text(gguf_name, tokenizer))
