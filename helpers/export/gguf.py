"""Write a merged model as GGUF, the file llama.cpp and Ollama run (06_ship_it).

The writing itself is the ``gguf`` package's :class:`gguf.GGUFWriter` and its quantisers
(``gguf.quants``). What the course adds is the small part llama.cpp's ``convert_hf_to_gguf.py``
does around them, kept here because that script is not part of any installable package:

* tensor names: the inverse of the map transformers uses to LOAD a GGUF
  (``transformers.modeling_gguf_pytorch_utils.get_gguf_hf_weights_map``), so the names are the
  ones transformers' loader (and llama.cpp, whose table it mirrors) expects;
* the q/k row permutation of the ``llama`` architecture: the inverse of transformers'
  ``LlamaTensorProcessor._reverse_permute_weights`` (``qwen2`` is stored unpermuted);
* the vocabulary (tokens and token types, as llama.cpp's ``get_vocab_base`` builds them); merges,
  special token ids, ``add_bos`` and the chat template come from ``gguf.SpecialVocab``.

Architectures: ``llama`` (SmolLM2, Llama) and ``qwen2`` (Qwen2.5). Others raise
:class:`SettingsError`. Quantisations: ``f16``, ``bf16``, ``f32``, ``q8_0``; as in llama.cpp,
1-D tensors (norms, biases) stay F32 and a tensor whose rows do not fit the Q8_0 block falls
back to F16.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.errors import SettingsError

SUPPORTED_ARCHS = ("llama", "qwen2")
QUANTS = ("f16", "bf16", "f32", "q8_0")
# llama.cpp's pre-tokenizer names, chosen by llama.cpp from a hash of a test tokenisation. The
# course's models are known; another tokenizer needs its name passed explicitly (``pre=``).
_PRE_BY_VOCAB = {("llama", 49152): "smollm"}
_PRE_BY_ARCH = {"qwen2": "qwen2"}


@dataclass
class GGUFInfo:
    """What :func:`write_gguf` wrote (06_ship_it)."""

    path: Path
    quant: str
    bytes: int
    seconds: float
    n_tensors: int


def llama_permute(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """llama.cpp's q/k row order for rotary embeddings; inverse of transformers' reverse permute (06_ship_it)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def gguf_tensor_names(model: Any) -> dict[str, str]:
    """HF parameter name -> GGUF tensor name, the inverse of transformers' GGUF loading map (06_ship_it)."""
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor, get_gguf_hf_weights_map

    arch = model.config.model_type
    processor = TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=model.config.to_dict())
    return {hf: gg for gg, hf in get_gguf_hf_weights_map(model, processor).items()}


def _arch(config: Any) -> str:
    arch = getattr(config, "model_type", None)
    if arch not in SUPPORTED_ARCHS:
        raise SettingsError(
            f"GGUF export supports the {' and '.join(SUPPORTED_ARCHS)} architectures, not {arch!r}: "
            f"use llama.cpp's convert_hf_to_gguf.py on the merged folder for this model"
        )
    return arch


def _pre_tokenizer(arch: str, vocab_size: int, pre: str | None) -> str:
    name = pre or _PRE_BY_ARCH.get(arch) or _PRE_BY_VOCAB.get((arch, vocab_size))
    if not name:
        raise SettingsError(
            f"unknown pre-tokenizer for this {arch} tokenizer: pass pre= with llama.cpp's name for it "
            f"(see get_vocab_base_pre in llama.cpp's convert_hf_to_gguf.py)"
        )
    return name


def vocab_entries(tokenizer: Any, vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens and GGUF token types for a GPT-2-style BPE tokenizer, as llama.cpp builds them (06_ship_it)."""
    from gguf import TokenType

    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder  # id -> AddedToken
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:  # embedding rows beyond the tokenizer (Qwen pads its vocab)
            tokens.append(f"[PAD{i}]")
            types.append(int(TokenType.UNUSED))
        elif i in added:
            tokens.append(reverse[i])
            types.append(int(TokenType.CONTROL if added[i].special else TokenType.USER_DEFINED))
        else:
            tokens.append(reverse[i])
            types.append(int(TokenType.NORMAL))
    return tokens, types


def _add_config(writer: Any, arch: str, config: Any) -> None:
    """The ``<arch>.*`` keys transformers' GGUF_CONFIG_MAPPING reads back."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_head_count_kv(int(config.num_key_value_heads))
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(int(config.vocab_size))
    writer.add_rope_dimension_count(int(head_dim))


def _tensor_data(name: str, array: Any, quant: str) -> tuple[Any, Any]:
    """(data, raw_dtype) for one tensor in the chosen quantisation."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    if array.ndim <= 1 or quant == "f32":
        return array.astype(np.float32), None
    if quant == "q8_0":
        try:
            return quants.quantize(array.astype(np.float32), Q.Q8_0), Q.Q8_0
        except quants.QuantError:
            return array.astype(np.float16), None  # rows not a multiple of 32: F16, as llama.cpp does
    if quant == "bf16":
        return quants.quantize(array.astype(np.float32), Q.BF16), Q.BF16
    return array.astype(np.float16), None


def write_gguf(model_dir: str | Path, out_path: str | Path, quant: str = "f16", pre: str | None = None,
               name: str | None = None) -> GGUFInfo:
    """Write the safetensors model in ``model_dir`` as one GGUF file (06_ship_it).

    ``model_dir`` holds config.json, safetensors weights and the tokenizer (what
    :func:`helpers.export.merge.merge_adapter` writes). The file is written to a temporary name
    and renamed at the end, so a failed write never leaves a GGUF that looks complete.
    """
    import time

    import torch
    from gguf import GGML_QUANT_VERSION, GGUFWriter, LlamaFileType, SpecialVocab
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if quant not in QUANTS:
        raise SettingsError(f"unknown GGUF type {quant!r}: use one of {', '.join(QUANTS)}")
    t0 = time.perf_counter()
    model_dir, out_path = Path(model_dir), Path(out_path)
    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False)
    arch = _arch(config)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    # dtype="auto": the saved precision (a 7B model in fp32 would need 30 GB); cast per tensor below.
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="auto", use_safetensors=True)
    names = gguf_tensor_names(model)
    tied = bool(getattr(config, "tie_word_embeddings", False))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.partial-{os.getpid()}")
    writer = GGUFWriter(str(tmp), arch)
    try:
        writer.add_type("model")
        writer.add_name(name or model_dir.name)
        writer.add_file_type(int({"f16": LlamaFileType.MOSTLY_F16, "bf16": LlamaFileType.MOSTLY_BF16,
                                  "f32": LlamaFileType.ALL_F32, "q8_0": LlamaFileType.MOSTLY_Q8_0}[quant]))
        writer.add_quantization_version(GGML_QUANT_VERSION)
        _add_config(writer, arch, config)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(_pre_tokenizer(arch, int(config.vocab_size), pre))
        tokens, types = vocab_entries(tokenizer, int(config.vocab_size))
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        special = SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
        if "bos" not in special.add_special_token:  # what the tokenizer really does, not a guess
            bos = tokenizer.bos_token_id
            special.add_special_token["bos"] = bos is not None and tokenizer("a")["input_ids"][:1] == [bos]
        special.add_to_gguf(writer, quiet=True)
        # The packaged SmolLM2 GGUF carries add_space_prefix=False: GPT-2 BPE adds no space itself.
        writer.add_add_space_prefix(False)

        n = 0
        for hf_name, tensor in model.state_dict().items():
            if tied and hf_name == "lm_head.weight":
                continue  # tied to token_embd; llama.cpp and transformers re-tie it on load
            gg = names.get(hf_name)
            if gg is None:
                raise SettingsError(f"no GGUF name for tensor {hf_name}: this {arch} variant is not supported")
            array = tensor.detach().to(torch.float32).numpy()
            if arch == "llama" and (".attn_q." in gg or ".attn_k." in gg):
                kv = config.num_attention_heads if ".attn_q." in gg else config.num_key_value_heads
                array = llama_permute(array, config.num_attention_heads, kv)
            data, raw_dtype = _tensor_data(gg, array, quant)
            writer.add_tensor(gg, data, raw_dtype=raw_dtype)
            n += 1
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.replace(out_path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return GGUFInfo(out_path, quant, out_path.stat().st_size, round(time.perf_counter() - t0, 2), n)


def gguf_metadata(path: str | Path) -> dict[str, Any]:
    """Keys and values (long arrays shortened to their length) and tensor names/shapes/types (06_ship_it)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    keys: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = field.contents()
        keys[key] = f"<{len(value)} items>" if isinstance(value, list) and len(value) > 8 else value
    tensors = {t.name: {"shape": [int(s) for s in t.shape], "type": t.tensor_type.name} for t in reader.tensors}
    return {"keys": keys, "tensors": tensors}


def describe(path: str | Path) -> str:
    """A short JSON summary of a GGUF file, for printing (06_ship_it)."""
    meta = gguf_metadata(path)
    short = {k: (v[:80] + "..." if isinstance(v, str) and len(v) > 80 else v) for k, v in meta["keys"].items()}
    return json.dumps({"keys": short, "n_tensors": len(meta["tensors"])}, indent=1, default=str)
