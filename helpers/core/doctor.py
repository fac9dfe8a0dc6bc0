"""Environment doctor: is this machine ready for the course, and if not, what to do.

Introduced in ``00_setup.ipynb``. Each check returns a :class:`Check` with a pass/fail and,
when it fails, one line saying how to fix it. ``python -m helpers doctor`` prints the same.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, requires, version

from helpers.core.config import Profile, cpu_has_native_bf16, fit_compute_dtype, load_profile
from helpers.core.models import MODELS, ModelUnavailable, local_model_path, model_status
from helpers.core.paths import cache_dir, course_home

MIN_FREE_GB = 3.0
DIST_NAME = "finetune-on-a-budget"


@dataclass
class Check:
    """One line of the doctor's report (00_setup)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_python() -> Check:
    """Python 3.11 or newer (00_setup)."""
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, platform.python_version(), "" if ok else "install Python 3.11 or newer")


def check_torch() -> Check:
    """torch imports; which build (00_setup)."""
    try:
        import torch
    except ImportError:
        return Check("torch", False, "not installed", "run make install")
    return Check("torch", True, f"{torch.__version__} ({'CUDA ' + str(torch.version.cuda) if torch.version.cuda else 'CPU build'})")


def check_cuda() -> Check:
    """A CUDA GPU and its memory; its absence is fine for the cpu profile (00_setup)."""
    import torch

    if not torch.cuda.is_available():
        return Check("cuda", True, "no GPU: the cpu and ci profiles run here; GPU profiles need a CUDA GPU")
    p = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info()
    return Check("cuda", True, f"{p.name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)")


def check_bnb_4bit() -> Check:
    """bitsandbytes really quantises and dequantises 4-bit NF4 on this device (00_setup)."""
    try:
        import torch
        import bitsandbytes.functional as F
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        return Check("bitsandbytes 4-bit", False, f"import failed: {type(exc).__name__}",
                     "pip install bitsandbytes==0.50.2 (on GPU: a CUDA build of torch first)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        w = torch.randn(256, 256, device=device, dtype=torch.float32)
        q, state = F.quantize_4bit(w, quant_type="nf4")
        back = F.dequantize_4bit(q, state).float()
        err = float((back - w).abs().mean() / w.abs().mean())
    except Exception as exc:  # noqa: BLE001
        return Check("bitsandbytes 4-bit", False, f"NF4 round trip failed on {device}: {type(exc).__name__}",
                     "reinstall bitsandbytes==0.50.2 matching your CUDA (see guide/troubleshooting.md)")
    ok = err < 0.2
    detail = f"NF4 round trip on {device}: mean relative error {err:.3f}"
    if ok and device == "cuda":  # the 4-bit matmul kernel training runs, against a plain matmul
        try:
            import bitsandbytes as bnb

            x = torch.randn(16, 256, device=device, dtype=torch.float16)
            out = bnb.matmul_4bit(x, q.t(), quant_state=state).float()
            ref = x.float() @ back.t()
            mm_err = float((out - ref).abs().mean() / ref.abs().mean())
        except Exception as exc:  # noqa: BLE001
            return Check("bitsandbytes 4-bit", False, f"4-bit matmul failed on cuda: {type(exc).__name__}",
                         "reinstall bitsandbytes==0.50.2 matching your CUDA (see guide/troubleshooting.md)")
        ok = mm_err < 0.05
        detail += f"; 4-bit matmul kernel error {mm_err:.4f}"
    return Check("bitsandbytes 4-bit", ok, detail, "" if ok else "bitsandbytes returned wrong values: reinstall it")


def compute_dtype_check(wanted: str, capability: tuple[int, int] | None, gpu: str = "this GPU") -> Check:
    """Does the GPU compute in the profile's dtype? A T4/2080 (7.5) falls back to fp16 (00_setup).

    The decision is :func:`helpers.core.config.compute_dtype_for`, the one ``load_profile`` applies.
    """
    from helpers.core.config import compute_dtype_for

    got = compute_dtype_for(wanted, capability)
    cc = f"compute capability {capability[0]}.{capability[1]}" if capability else "no GPU"
    if got == wanted:
        return Check("gpu compute dtype", True, f"{gpu} ({cc}) computes in {wanted}")
    return Check("gpu compute dtype", True, f"{gpu} ({cc}) has no bf16: the course computes in {got} instead "
                 f"(slower than bf16 on newer cards; lower learning_rate if the loss turns nan)")


def cpu_dtype_check(profile: Profile, native_bf16: bool) -> Check:
    """Does a CPU profile compute in bf16 here, or in fp32? (00_setup)

    The decision is :func:`helpers.core.config.fit_compute_dtype`, the one ``load_profile`` applies.
    """
    got = fit_compute_dtype(profile, native_bf16=native_bf16).compute_dtype
    if profile.compute_dtype != "bfloat16":
        return Check("cpu compute dtype", True, f"the profile computes in {got}")
    if got == "bfloat16":
        return Check("cpu compute dtype", True, "this CPU has native bf16: bf16 compute over fp32 weights (autocast in training, a bf16 copy to generate) "
                     "(faster than fp32 here: benchmarks/bench_cpu_dtype.py)")
    return Check("cpu compute dtype", True, "this CPU has no native bf16: the course computes in float32 "
                 "(emulated bf16 would be slower)")


def check_cpu(profile: Profile) -> list[Check]:
    """The compute dtype of a CPU profile on this CPU; nothing for a GPU profile (00_setup)."""
    if profile.device == "cuda":
        return []
    return [cpu_dtype_check(profile, cpu_has_native_bf16())]


def gpu_memory_check(profile_name: str, need_gib: float | None, free_gib: float, total_gib: float) -> Check:
    """Free GPU memory against the profile's preflight estimate, with the profile that fits (00_setup)."""
    from helpers.training.card_fit import memory_budget_gib, pick_profile_name
    from helpers.training.preflight import HEADROOM_FRACTION

    if need_gib is None:
        return Check("gpu memory", True, f"{free_gib:.1f} of {total_gib:.1f} GiB free; no estimate for this model")
    detail = f"profile {profile_name} needs about {need_gib:.1f} GiB (preflight); {free_gib:.1f} of {total_gib:.1f} GiB free"
    if need_gib <= free_gib * HEADROOM_FRACTION:  # free memory already excludes this process's CUDA context
        return Check("gpu memory", True, detail)
    best = pick_profile_name(total_gib)
    if need_gib <= memory_budget_gib(total_gib):
        fix = "another process holds GPU memory: close it (see nvidia-smi) or restart the other notebooks' kernels"
    else:
        fix = f"this card is too small for {profile_name}: use COURSE_PROFILE={best} (the preflight's pick for it)"
    return Check("gpu memory", False, detail, fix)


def check_gpu(profile: Profile) -> list[Check]:
    """bf16 support and free memory on the visible GPU, for ``profile`` (00_setup)."""
    import torch

    from helpers.training.card_fit import profile_estimate

    if not torch.cuda.is_available():
        return []
    name = torch.cuda.get_device_name(0)
    capability = tuple(torch.cuda.get_device_capability(0))
    free, total = torch.cuda.mem_get_info()
    need = profile_estimate(profile) if profile.device == "cuda" else None
    return [compute_dtype_check(profile.compute_dtype if profile.device == "cuda" else "bfloat16", capability, name),
            gpu_memory_check(profile.name, need.reserved if need else None, free / 2**30, total / 2**30)]


def check_disk(min_free_gb: float = MIN_FREE_GB) -> Check:
    """Free disk where models and runs go (00_setup)."""
    free = shutil.disk_usage(cache_dir()).free / 2**30
    ok = free >= min_free_gb
    return Check("disk", ok, f"{free:.1f} GiB free at {cache_dir()}",
                 "" if ok else f"free at least {min_free_gb:.0f} GiB or set COURSE_CACHE to a bigger disk")


def check_models(profile_model: str) -> list[Check]:
    """Which course models are available offline; only ``profile_model`` and MiniLM must be (00_setup)."""
    needed = {profile_model, "minilm-l6"}
    checks = []
    for m in model_status():
        must = m["model"] in needed
        if m["available"]:
            detail = "available offline"
        elif MODELS[m["model"]].source == "hub" and not must:
            detail = "not cached (only the GPU profiles need it)"
        else:
            detail = "not on this machine"
        checks.append(Check(f"model {m['model']}", m["available"] or not must, detail, m["fix"]))
    return checks


def pinned_versions() -> dict[str, str]:
    """The versions pinned in pyproject.toml, read from the installed package metadata (00_setup)."""
    pins = {}
    try:
        reqs = requires(DIST_NAME) or []
    except PackageNotFoundError:
        reqs = []
    if not reqs:
        text = (course_home() / "pyproject.toml").read_text(encoding="utf-8") if (course_home() / "pyproject.toml").exists() else ""
        reqs = re.findall(r'"([A-Za-z0-9_.\-]+==[^"]+)"', text)
    for r in reqs:
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^;\s]+)", r)
        if m and "extra" not in r:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def version_drift() -> list[tuple[str, str, str]]:
    """(package, pinned, installed) for every pin that differs from what is installed (00_setup)."""
    drift = []
    for name, pinned in pinned_versions().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed.split("+")[0] != pinned.split("+")[0]:
            drift.append((name, pinned, installed))
    return drift


def check_versions() -> Check:
    """Installed library versions against the tested pins (00_setup)."""
    drift = version_drift()
    if not drift:
        return Check("versions", True, f"all {len(pinned_versions())} pinned libraries match the tested versions")
    listed = ", ".join(f"{n} {i} (tested {p})" for n, p, i in drift[:6])
    return Check("versions", False, f"differs from the tested pins: {listed}",
                 "run make install (or pip install -e .) to get the tested versions; results may differ otherwise")


def run_doctor(profile_model: str | None = None) -> list[Check]:
    """Every check, in the order notebook 00 shows them (00_setup).

    ``profile_model`` is the model that must be available; ``None`` means the model of the
    profile in force (``COURSE_PROFILE``, the saved choice or the hardware), resolved here
    because notebook 00 and ``python -m helpers doctor`` run the doctor before a profile is chosen.
    """
    checks = [check_python(), check_torch()]
    profile = load_profile(check_hardware=False)
    if checks[-1].ok:
        checks += [check_cuda(), check_bnb_4bit(), *check_gpu(profile), *check_cpu(profile)]
    model = profile_model or profile.model
    checks += [check_disk(), *check_models(model), check_versions()]
    return checks


def format_checks(checks: list[Check]) -> str:
    """A plain-text report: one line per check, with the fix under a failure (00_setup)."""
    lines = []
    for c in checks:
        lines.append(f"{'PASS' if c.ok else 'FIX '}  {c.name:<26} {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"      -> {c.fix}")
    return "\n".join(lines)


def cli_doctor(args: argparse.Namespace) -> int:
    """``python -m helpers doctor [--json]``: exit 1 when something needs fixing (00_setup)."""
    checks = run_doctor()
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(format_checks(checks))
    return 0 if all(c.ok for c in checks) else 1


#: The models the ``ci`` and ``cpu`` profiles use, installed from PyPI (00_setup).
OFFLINE_MODELS = ["smollm2-135m", "minilm-l6"]


def provision(model: str | None = None) -> list[str]:
    """Make the offline models ready (convert SmolLM2 once); returns the folders (00_setup)."""
    keys = [model] if model else OFFLINE_MODELS
    return [str(local_model_path(k)) for k in keys]


def provision_status(keys: list[str] | None = None) -> list[str]:
    """One line per offline model: ``ready: KEY -> folder`` or ``missing: KEY: how to get it`` (00_setup).

    Unlike :func:`provision` it never raises, so notebook 00 runs on a machine that only has
    some of the models (a GPU box using ``COURSE_MODEL``, say) and says what the others need.
    """
    lines = []
    for key in keys or OFFLINE_MODELS:
        try:
            lines.append(f"ready: {key} -> {local_model_path(key)}")
        except ModelUnavailable as exc:
            lines.append(f"missing: {key}: {exc}")
    return lines


def cli_provision(args: argparse.Namespace) -> int:
    """``python -m helpers provision [--model KEY]`` (00_setup)."""
    for path in provision(args.model):
        print(f"ready: {path}")
    return 0
