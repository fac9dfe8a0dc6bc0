"""helpers.core.config: profiles are valid, resolve in the documented order and differ only in sizes."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from pathlib import Path

import pytest

from helpers.core import config
from helpers.core.config import (
    PROFILE_FILE,
    PROFILES,
    Profile,
    ProfileError,
    check_profile_hardware,
    detect_profile_name,
    get_profile,
    load_profile,
    profile_names,
    resolve_profile_name,
    save_profile_choice,
    saved_profile_path,
)

HELPERS = Path(config.__file__).resolve().parents[1]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """An empty course folder and no profile in the environment."""
    monkeypatch.setenv("COURSE_HOME", str(tmp_path))
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    return tmp_path


@pytest.fixture()
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# --------------------------------------------------------------------------- validity
@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_valid(name):
    import torch

    from helpers.core.models import MODELS
    from helpers.training.settings import TARGET_PRESETS

    p = get_profile(name)
    assert p.name == name
    assert p.model in MODELS
    assert p.device in ("cpu", "cuda")
    assert p.quantization in ("none", "nf4")
    assert isinstance(getattr(torch, p.compute_dtype), torch.dtype)
    assert p.lora_targets in TARGET_PRESETS
    # 4-bit NF4 is the GPU recipe; the CPU profiles train LoRA on fp32 weights, in bf16 autocast
    # where the CPU has native bf16 (fit_compute_dtype turns it into fp32 elsewhere)
    assert (p.quantization == "nf4") == (p.device == "cuda")
    if p.device == "cpu":
        assert p.compute_dtype == "bfloat16"
    for f in ("batch_size", "grad_accum", "max_seq_len", "lora_r", "lora_alpha", "save_steps",
              "eval_steps", "gen_batch_size", "max_new_tokens", "experiment_clean_rows",
              "experiment_noisy_rows", "experiment_steps"):
        value = getattr(p, f)
        assert isinstance(value, int) and not isinstance(value, bool) and value > 0, f
    assert p.max_steps == -1 or p.max_steps > 0
    assert p.epochs > 0 and 0 < p.learning_rate < 1 and 0 <= p.lora_dropout < 1
    assert p.few_shot_k >= 0 and p.train_tokens_per_s > 0 and p.price_per_hour_usd >= 0
    for f in ("train_rows", "eval_rows", "golden_rows"):
        value = getattr(p, f)
        assert value is None or (isinstance(value, int) and value > 0), f
    assert p.experiment_noisy_rows > p.experiment_clean_rows  # the experiment's premise
    json.dumps(p.to_dict())  # run cards need it JSON-ready


def test_profile_names_match_the_table():
    assert profile_names() == list(PROFILES) == ["ci", "cpu", "gpu-24gb", "gpu-40gb", "gpu-80gb"]


def test_replace_changes_sizes_and_rejects_unknown_settings():
    p = get_profile("ci")
    before = (p.batch_size, p.max_steps)
    q = p.replace(batch_size=p.batch_size + 1, max_steps=p.max_steps + 2)
    assert (q.batch_size, q.max_steps) == (before[0] + 1, before[1] + 2)
    assert (p.batch_size, p.max_steps) == before  # the original is untouched (frozen)
    with pytest.raises(ProfileError, match="batch_sise"):
        p.replace(batch_sise=2)


# --------------------------------------------------------------------------- resolution
def test_unknown_profile_names_every_valid_one():
    with pytest.raises(ProfileError) as err:
        get_profile("nope")
    msg = str(err.value)
    assert "'nope'" in msg and "\n" not in msg
    for name in PROFILES:
        assert name in msg


def test_unknown_profile_in_environment_is_an_error_not_a_fallback(home, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "nope")
    with pytest.raises(ProfileError, match="use one of ci, cpu, gpu-24gb, gpu-40gb, gpu-80gb"):
        resolve_profile_name()
    with pytest.raises(ProfileError):
        load_profile()


def test_environment_override_wins_over_saved_choice(home, monkeypatch):
    save_profile_choice("cpu")
    monkeypatch.setenv("COURSE_PROFILE", "ci")
    name, source = resolve_profile_name()
    assert name == "ci" and "COURSE_PROFILE" in source
    assert load_profile().name == "ci"
    monkeypatch.setenv("COURSE_PROFILE", "  ")  # blank means unset
    assert resolve_profile_name()[0] == "cpu"


def test_explicit_name_wins_over_environment(home, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "ci")
    assert load_profile("cpu").name == "cpu"


def test_saved_choice_round_trip(home):
    path = save_profile_choice("cpu")
    assert path == saved_profile_path() == home / PROFILE_FILE
    assert json.loads(path.read_text(encoding="utf-8")) == {"profile": "cpu"}
    assert sorted(p.name for p in home.iterdir()) == [PROFILE_FILE]  # no temp file left behind
    name, source = resolve_profile_name()
    assert name == "cpu" and "saved choice" in source
    save_profile_choice("ci")  # a new choice replaces the old one
    assert resolve_profile_name()[0] == "ci"


def test_saving_an_unknown_profile_writes_nothing(home):
    with pytest.raises(ProfileError):
        save_profile_choice("nope")
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("content", ["{not json", '{"other": 1}', '{"profile": "nope"}', "[]"])
def test_damaged_saved_choice_falls_back_to_detection(home, no_cuda, content):
    (home / PROFILE_FILE).write_text(content, encoding="utf-8")
    assert resolve_profile_name() == ("cpu", "detected from the hardware")


def test_without_env_or_choice_the_hardware_decides(home, no_cuda):
    assert resolve_profile_name() == ("cpu", "detected from the hardware")


# total_memory as torch reports it for real cards (GiB): an RTX 3090/4090 23.6, an A100 40 GB 39.4,
# an L40S 44.4, an A100 80 GB 79.1, an H200 139.8; a T4 14.6, an 8 GB laptop card 7.6
@pytest.mark.parametrize("gib,expected", [(23.6, "gpu-24gb"), (14.6, "gpu-24gb"), (39.4, "gpu-40gb"), (44.4, "gpu-40gb"),
                                          (79.1, "gpu-80gb"), (139.8, "gpu-80gb"), (7.6, "cpu")])
def test_detection_by_gpu_memory(monkeypatch, gib, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: type("Props", (), {"total_memory": gib * 2**30})())
    assert detect_profile_name() == expected


@pytest.mark.parametrize("capability,expected", [((7, 5), "float16"), ((7, 0), "float16"), ((8, 0), "bfloat16"),
                                                 ((8, 6), "bfloat16"), ((9, 0), "bfloat16"), (None, "bfloat16")])
def test_bf16_needs_ampere_or_newer(capability, expected):
    assert config.compute_dtype_for("bfloat16", capability) == expected
    assert config.compute_dtype_for("float32", capability) == "float32"  # the CPU profiles keep theirs


def test_fp16_fallback_reaches_the_training_settings():
    """A T4 (7.5) gets fp16 everywhere the settings path reads the dtype: 4-bit config and SFTConfig."""
    from helpers.training.settings import TrainSettings

    with pytest.warns(UserWarning, match="no bf16.*float16"):
        p = config.fit_compute_dtype(get_profile("gpu-24gb"), capability=(7, 5))
    assert p.compute_dtype == "float16" and p.name == "gpu-24gb"
    s = TrainSettings.from_profile(p)
    kwargs = s.sft_kwargs("x", "cuda")
    assert kwargs["fp16"] is True and kwargs["bf16"] is False
    import torch

    assert s.bnb_config().bnb_4bit_compute_dtype == torch.float16
    ampere = config.fit_compute_dtype(get_profile("gpu-24gb"), capability=(8, 6))
    assert ampere.compute_dtype == "bfloat16"
    assert config.fit_compute_dtype(get_profile("cpu"), capability=(7, 5), native_bf16=True).compute_dtype == "bfloat16"


def test_a_cpu_without_native_bf16_computes_in_fp32(recwarn):
    """bf16 autocast only where the CPU has it: elsewhere it is emulated and slower than fp32, so fp32, silently."""
    from helpers.training.settings import TrainSettings

    for name in ("ci", "cpu"):
        fitted = config.fit_compute_dtype(get_profile(name), native_bf16=False)
        assert fitted.compute_dtype == "float32" and fitted.name == name
        assert TrainSettings.from_profile(fitted).sft_kwargs("x", "cpu")["bf16"] is False
        native = config.fit_compute_dtype(get_profile(name), native_bf16=True)
        assert native.compute_dtype == "bfloat16"
        assert TrainSettings.from_profile(native).sft_kwargs("x", "cpu")["bf16"] is True
    assert not [w for w in recwarn if "bf16" in str(w.message)]
    assert isinstance(config.cpu_has_native_bf16(), bool)


def test_detection_without_gpu_is_cpu(no_cuda):
    assert detect_profile_name() == "cpu"


# --------------------------------------------------------------------------- hardware check
@pytest.mark.parametrize("name", ["gpu-24gb", "gpu-40gb", "gpu-80gb"])
def test_gpu_profile_forced_without_cuda_is_one_sentence(home, no_cuda, monkeypatch, name):
    monkeypatch.setenv("COURSE_PROFILE", name)
    with pytest.raises(ProfileError) as err:
        load_profile()
    msg = str(err.value)
    assert "\n" not in msg and name in msg and "COURSE_PROFILE=cpu" in msg
    assert not re.search(r"[.!?]\s+\S", msg)  # one sentence
    with pytest.raises(ProfileError):
        check_profile_hardware(get_profile(name))
    assert load_profile(name, check_hardware=False).name == name  # only the check refuses


def test_gpu_profile_with_cuda_passes_the_check(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_profile_hardware(get_profile("gpu-24gb"))  # must not raise


@pytest.mark.parametrize("name", ["ci", "cpu"])
def test_cpu_profiles_never_need_cuda(no_cuda, name):
    check_profile_hardware(get_profile(name))
    assert load_profile(name).name == name


# --------------------------------------------------------------------------- same code path
def test_profiles_differ_only_in_values_not_in_shape():
    dicts = [p.to_dict() for p in PROFILES.values()]
    keys = {tuple(d) for d in dicts}
    assert len(keys) == 1  # the same fields, in the same order
    assert all(type(p) is Profile for p in PROFILES.values())  # no profile subclasses
    for f in dataclasses.fields(Profile):
        kinds = {type(d[f.name]) for d in dicts} - {type(None)}
        if f.type == "float":
            assert kinds <= {int, float}, (f.name, kinds)
        else:
            assert len(kinds) == 1, (f.name, kinds)
    # the extra dict is empty everywhere: nothing hides a profile-specific switch in it
    assert all(d["extra"] == {} for d in dicts)


_NAMES = "|".join(re.escape(n) for n in PROFILES)
_BRANCH_PATTERNS = [
    re.compile(rf"(==|!=|\bin\b)\s*[\(\[\{{]?\s*[\"']({_NAMES})[\"']"),
    re.compile(rf"[\"']({_NAMES})[\"']\s*(==|!=)"),
    re.compile(r"profile\.name\s*(==|!=|\bin\b)"),
    re.compile(r"environ(\.get)?\s*[\(\[]\s*[\"']CI[\"']"),
    re.compile(r"\bif\s+CI\b"),
]


def _branches(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if any(p.search(line) for p in _BRANCH_PATTERNS)]


def test_branch_detector_fires_on_profile_switches_only():
    for bad in ['if profile.name == "ci":', "if name in ('ci', 'cpu'):", 'if os.environ.get("CI"):',
                'steps = 2 if profile.name != "gpu-80gb" else 9', 'if "cpu" == p.name:', "if CI:"]:
        assert _branches(bad) == [1], bad
    for ok in ['device = "cuda" if torch.cuda.is_available() else "cpu"', 'device: str = "cpu",',
               'print(f"profile {profile.name}")', 'if profile.device == "cuda":']:
        assert _branches(ok) == [], ok


def test_no_profile_specific_branches_in_the_helpers():
    """No ``if profile.name == "ci"`` or ``if CI:``: a profile changes sizes, never the code path."""
    offenders = []
    for path in sorted(HELPERS.rglob("*.py")):
        if path.name == "config.py":
            continue  # the profile table itself
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(HELPERS)}:{n}: {text.splitlines()[n - 1].strip()}" for n in _branches(text)]
    assert offenders == []


def test_compute_functions_take_the_profile_object():
    """Sizes reach the code as one Profile argument, so every profile runs the same function."""
    from helpers.core import models
    from helpers.evaluation import scoring
    from helpers.prompting import hosted as api_baselines

    funcs = [models.load_causal_lm, scoring.scored_rows, scoring.predict, scoring.evaluate_stage,
             scoring.compare_prompts, api_baselines.run_api_baselines, check_profile_hardware]
    for fn in funcs:
        params = inspect.signature(fn).parameters
        assert "profile" in params, fn.__name__
        assert str(params["profile"].annotation).strip("'\"") in ("Profile", str(Profile)), fn.__name__
