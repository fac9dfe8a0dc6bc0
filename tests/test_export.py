"""Notebook 06's export on the tiny model: real merges, GGUF round trips, Modelfile, CLI, bad inputs, server."""

from __future__ import annotations

import errno
import json
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _lora_adapter(model_dir: Path, target: Path, seed: int = 1) -> Path:
    """A LoRA adapter with random (non-zero) B, so merging really changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "down_proj"],
                                           init_lora_weights=False))
    peft.save_pretrained(str(target))
    AutoTokenizer.from_pretrained(str(model_dir)).save_pretrained(str(target))
    return target


def _run(root: Path, model_dir: Path, run_id: str = "20260101-000000-ci", **kw) -> Path:
    from fake_run import make_run

    run = make_run(root, run_id=run_id, **kw)
    _lora_adapter(model_dir, run / "adapter" / "final")
    return run


@pytest.fixture(scope="module")
def profile(tiny_model_dir):
    from helpers.core.config import get_profile

    return get_profile("ci").replace(model=str(tiny_model_dir), max_new_tokens=8, gen_batch_size=4,
                                     eval_rows=4, golden_rows=4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir, profile):
    """One full export (f16 + q8_0 + Modelfile) of a gated tiny run, shared by the tests below."""
    import os

    root = tmp_path_factory.mktemp("runs")
    old = os.environ.get("COURSE_RUNS")
    os.environ["COURSE_RUNS"] = str(root)
    try:
        from helpers.export.check import export_run

        run = _run(root, tiny_model_dir)
        check = export_run(run, profile, gguf=("f16", "q8_0"))
    finally:
        if old is None:
            os.environ.pop("COURSE_RUNS", None)
        else:
            os.environ["COURSE_RUNS"] = old
    return run, check


@pytest.mark.slow
def test_export_check_contract_and_agreement(exported):
    run, check = exported
    on_disk = json.loads((run / "export" / "export_check.json").read_text())
    assert on_disk == check
    assert set(check) == {"rows", "merged_agreement", "gguf"} and check["rows"] == 4
    assert set(check["gguf"]) == {"f16", "q8_0"}
    for entry in check["gguf"].values():
        assert set(entry) == {"agreement", "metric", "bytes"} and entry["bytes"] > 0
    # fp32 merge and f16 read back on CPU: the same greedy answers as the adapter
    assert check["merged_agreement"] == 1.0 and check["gguf"]["f16"]["agreement"] == 1.0
    assert check["gguf"]["q8_0"]["bytes"] < check["gguf"]["f16"]["bytes"]
    assert not list(run.glob("export.partial-*")) and not list(run.glob("export.old-*"))
    answers = [json.loads(line) for line in (run / "export" / "answers_golden.jsonl").read_text().splitlines()]
    assert len(answers) == 4 and {"adapter", "merged", "gguf_f16", "gguf_q8_0"} <= set(answers[0])


@pytest.mark.slow
def test_merged_folder_is_plain_transformers_and_really_merged(exported, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers.training.artifacts import load_adapter

    run, _ = exported
    merged_dir = run / "export" / "merged"
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(merged_dir))
    assert tok.chat_template and tok.eos_token == "<|im_end|>" and tok.pad_token_id is not None
    gen = json.loads((merged_dir / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<|im_end|>") in (gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]])
    ids = torch.tensor([[1, 504, 3458, 314, 253, 1345]])
    with torch.no_grad():
        base_logits = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))(ids).logits
        peft_logits = load_adapter(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), run / "adapter" / "final")(ids).logits
        merged_logits = merged(ids).logits
    assert (merged_logits - peft_logits).abs().max() < 1e-4  # the merge reproduces the adapter ...
    assert (merged_logits - base_logits).abs().max() > 1e-3  # ... and is not just the base


@pytest.mark.slow
def test_gguf_types_names_and_metadata(exported):
    from gguf import GGUFReader

    run, _ = exported
    reader = GGUFReader(str(run / "export" / "model-q8_0.gguf"))  # one read: parsing the vocabulary is slow
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert "output.weight" not in types  # tied embeddings are not stored twice
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["blk.0.attn_norm.weight"] == "F32"
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    assert field("general.architecture") == "llama" and field("tokenizer.ggml.model") == "gpt2"
    assert field("tokenizer.ggml.pre") == "smollm" and "<|im_start|>" in field("tokenizer.chat_template")
    assert field("tokenizer.ggml.tokens")[int(field("tokenizer.ggml.eos_token_id"))] == "<|im_end|>"
    assert field("llama.attention.head_count_kv") == 2 and field("llama.block_count") == 2


@pytest.mark.slow
def test_modelfile(exported):
    run, _ = exported
    text = (run / "export" / "Modelfile").read_text()
    assert text.startswith("FROM ./model-q8_0.gguf\n")
    assert (run / "export" / "model-q8_0.gguf").exists()
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER temperature 0" in text
    assert "{{ .Role }}" in text and "<|im_start|>assistant" in text
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in text  # the template's default system


def test_modelfile_refuses_a_non_chatml_template(tiny_model_dir):
    from transformers import AutoTokenizer

    from helpers.core.errors import SettingsError
    from helpers.export.modelfile import default_system_prompt, modelfile_text

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    assert default_system_prompt(tok).startswith("You are a helpful")
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    assert default_system_prompt(tok) is None
    with pytest.raises(SettingsError, match="not ChatML"):
        modelfile_text("m.gguf", tok)


def test_llama_permute_is_the_inverse_of_transformers_reverse_permute():
    import numpy as np
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from helpers.export.gguf import llama_permute

    for heads, kv in ((4, 4), (4, 2)):
        rows = 16 * kv
        w = np.random.default_rng(0).standard_normal((rows, 24)).astype(np.float32)
        p = llama_permute(w, heads, kv)
        assert not np.array_equal(p, w)
        back = LlamaTensorProcessor()._reverse_permute_weights(p, heads, kv)
        assert np.array_equal(back, w)


def test_unsupported_architecture_is_a_clear_error(tmp_path):
    from transformers import GPT2Config

    from helpers.core.errors import SettingsError
    from helpers.export.gguf import write_gguf

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(str(tmp_path))
    with pytest.raises(SettingsError, match="llama and qwen2"):
        write_gguf(tmp_path, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.slow
def test_smollm2_gguf_rewritten_matches_the_shipped_file(tmp_path):
    """The packaged SmolLM2 GGUF -> transformers (cached conversion) -> our writer: same keys, tensors, vocab."""
    from gguf import GGUFReader

    from helpers.core.models import get_spec, local_model_path, package_dir
    from helpers.export.gguf import write_gguf

    spec = get_spec("smollm2-135m")
    original = package_dir(spec.module) / spec.file
    ours = write_gguf(local_model_path("smollm2-135m"), tmp_path / "smol.gguf", "f16").path
    ra, rb = GGUFReader(str(original)), GGUFReader(str(ours))  # one read each: parsing the vocabulary is slow
    descriptive = {"general.organization", "general.finetune", "general.basename", "general.size_label",
                   "general.license", "general.languages"}  # model-card facts, not in a transformers folder
    keys_a = {k for k in ra.fields if not k.startswith("GGUF.")}
    keys_b = {k for k in rb.fields if not k.startswith("GGUF.")}
    assert keys_a - descriptive == keys_b
    for key in keys_b - {"general.name", "general.file_type"}:  # tokens, types, merges, template included
        assert ra.fields[key].contents() == rb.fields[key].contents(), key
    assert {t.name: list(t.shape) for t in ra.tensors} == {t.name: list(t.shape) for t in rb.tensors}


# --- bad input -------------------------------------------------------------------------------

def test_run_without_adapter(runs_tmp, profile):
    from fake_run import make_run

    from helpers.core.errors import SettingsError
    from helpers.export.check import Export

    run = make_run(runs_tmp)
    with pytest.raises(SettingsError, match="03_qlora_training"):
        Export(run, profile)
    assert not (run / "export").exists() and not list(run.glob("export.partial-*"))


def test_damaged_adapter(runs_tmp, tiny_model_dir, profile):
    from helpers.core.errors import SettingsError
    from helpers.export.check import Export

    run = _run(runs_tmp, tiny_model_dir)
    weights = run / "adapter" / "final" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SettingsError, match="damaged.*train it again"):
        Export(run, profile)
    assert not list(run.glob("export*"))


def test_failed_gate_refuses_unless_overridden(runs_tmp, tiny_model_dir, profile):
    from helpers.core.errors import SettingsError
    from helpers.export.check import Export

    run = _run(runs_tmp, tiny_model_dir, baseline=1.0, adapter=0.0)
    with pytest.raises(SettingsError, match="failed the golden gate.*--ignore-gate"):
        Export(run, profile)
    with pytest.warns(UserWarning, match="FAILED the golden gate"):
        exp = Export(run, profile, ignore_gate=True)
    exp.discard()
    assert not list(run.glob("export*"))


def test_full_disk_leaves_nothing_that_looks_complete(runs_tmp, tiny_model_dir, profile, monkeypatch):
    import gguf

    from helpers.core.errors import SettingsError
    from helpers.export.check import export_run

    run = _run(runs_tmp, tiny_model_dir)

    def no_space(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", no_space)
    with pytest.raises(SettingsError, match="No space left on device.*free disk space"):
        export_run(run, profile, gguf=("f16",))
    assert not (run / "export").exists()
    assert not list(run.glob("export*")), "the temporary folder (merged weights, partial GGUF) is removed"


def test_port_in_use_names_the_fix(tiny_model_dir):
    from helpers.core.errors import SettingsError
    from helpers.export.serve import LocalServer, check_port, free_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SettingsError, match=f"port {port} .* in use.*port=0"):
            LocalServer(tiny_model_dir, port=port)
    assert check_port(port) == port  # free again once the other server stopped
    assert free_port() > 0


# --- command line ----------------------------------------------------------------------------

def test_cli_export_exit_codes(runs_tmp, tiny_model_dir, capsys, monkeypatch):
    from helpers.__main__ import main

    run = _run(runs_tmp, tiny_model_dir)
    monkeypatch.setenv("COURSE_PROFILE", "ci")
    assert main(["export", "--run", str(tmp_missing := run.parent / "nope"), "--json"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and str(tmp_missing) in err[0]  # one line (library warnings aside), no traceback
    (run / "adapter" / "final" / "adapter_model.safetensors").unlink()
    assert main(["export", "--run", str(run), "--gguf", "", "--json"]) == 2
    assert "03_qlora_training" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_export_writes_the_contract(runs_tmp, tiny_model_dir, capsys, monkeypatch):
    from helpers.__main__ import main
    from helpers.core.config import get_profile
    from helpers.export import check as check_mod

    run = _run(runs_tmp, tiny_model_dir)
    small = get_profile("ci").replace(model=str(tiny_model_dir), max_new_tokens=4, golden_rows=2)
    monkeypatch.setattr("helpers.core.config.load_profile", lambda *a, **k: small)
    assert main(["export", "--run", str(run), "--gguf", "", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads((run / "export" / check_mod.CHECK_FILE).read_text())
    assert out["rows"] == 2 and out["merged_agreement"] == 1.0 and out["gguf"] == {}


# --- server ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_server_answers_like_the_local_model_and_stops(exported, profile):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers.export.serve import LocalServer, check_port, server_predict
    from helpers.prompting.generation import generate

    run, _ = exported
    merged = run / "export" / "merged"
    convs = [[{"role": "user", "content": f"Order ORD-1000{i} arrived broken."}] for i in range(2)]
    local = generate(AutoModelForCausalLM.from_pretrained(str(merged)), AutoTokenizer.from_pretrained(str(merged)),
                     convs, max_new_tokens=6, progress=False)
    with LocalServer(merged) as server:
        assert server.running and server.base_url.startswith("http://127.0.0.1:")
        served = server_predict(server, convs, max_new_tokens=6)
        port = server.port
    assert not server.running
    assert check_port(port) == port
    assert served.texts == local.texts and len(served.latencies) == 2 and served.seconds > 0


# --- exercise solutions ----------------------------------------------------------------------

@pytest.mark.slow
def test_06_solutions(exported, profile, capsys):
    from test_solutions import run_blocks

    run, _ = exported
    ns = run_blocks("06_ship_it", {"run": run, "profile": profile})
    out = capsys.readouterr().out
    assert "golden rows differ between q8_0 and the adapter" in out
    assert ns["same_text"] == ns["same_ids"] == len(ns["convs"]) == 4  # the GGUF's tokenizer is the merged one
    assert len(ns["sequential"]) == len(ns["parallel"]) == 4 and ns["seq_s"] > 0 and ns["par_s"] > 0


@pytest.mark.slow
def test_qwen2_gguf_round_trip(tmp_path, tiny_model_dir):
    """A tiny random Qwen2 (q/k/v biases, unpermuted q/k) written as f16 reads back with the same logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from helpers.export.gguf import write_gguf

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = Qwen2ForCausalLM(cfg).eval()
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            torch.nn.init.normal_(p, std=0.5)  # non-zero biases, so a lost bias shows in the logits
    src = tmp_path / "qwen"
    model.save_pretrained(str(src))
    tok.save_pretrained(str(src))
    info = write_gguf(src, tmp_path / "out" / "q.gguf", "f16")
    back = AutoModelForCausalLM.from_pretrained(str(info.path.parent), gguf_file=info.path.name, dtype=torch.float32)
    assert back.config.model_type == "qwen2"
    ids = torch.tensor([[1, 504, 3458, 314, 253, 1345]])
    with torch.no_grad():
        diff = (back(ids).logits - model(ids).logits).abs().max()
    assert diff < 0.05, diff  # f16 rounding only
