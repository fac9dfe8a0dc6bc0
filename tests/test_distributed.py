"""Past one GPU: the N-GPU preflight's arithmetic, the accelerate configs, and two gloo processes under
``accelerate launch`` that must train exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.core.errors import SettingsError
from helpers.training import distributed as dist
from helpers.training import preflight_multi as pm
from helpers.training.preflight import GIB, estimate_for_settings
from helpers.training.settings import TrainSettings

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "guide" / "scripts" / "accelerate"
RECIPE = TrainSettings(quantization="nf4", compute_dtype="bfloat16", batch_size=2, max_seq_len=2048,
                       gradient_checkpointing=True)

# ------------------------------------------------------------------ the preflight, by hand
# Llama-3-70B, worked out on paper (see guide/past_one_gpu.md):
#   decoder linears per layer: q,o 8192*8192 ; k,v 8192*1024 ; gate,up,down 8192*28672
#     = 2*67,108,864 + 2*8,388,608 + 3*234,881,024 = 855,638,016 ; x 80 layers = 68,451,041,280
#   NF4 bytes: x (0.5 + 1/64 + 4/16384) = 34,225,520,640 + 1,069,547,520 + 16,711,680 = 35,311,779,840
#   the rest, bf16: (2 * 128256 * 8192 + 2 * 80 * 8192) * 2 = 4,205,314,048
#   LoRA r=16 all-linear: 16 * (2*16384 + 2*9216 + 3*36864) * 80 = 207,093,760 params, bf16 grads 414,187,520 B
DECODER_NF4 = 35_311_779_840
OTHER_BF16 = 4_205_314_048
LORA_GRADS = 414_187_520


def test_shard_and_gradient_sizes_match_the_hand_count():
    shape = pm._shape(pm.LLAMA3_70B)
    decoder, other = pm.sharded_weight_bytes(shape, RECIPE)
    assert decoder == pytest.approx(DECODER_NF4) and other == OTHER_BF16
    assert pm.lora_grad_bytes(shape, RECIPE) == LORA_GRADS


def test_ddp_replicates_and_fsdp_shards_the_weights():
    one = estimate_for_settings(pm.LLAMA3_70B, RECIPE)
    ddp = pm.memory_per_gpu(pm.LLAMA3_70B, RECIPE, 2, "ddp")
    fsdp = pm.memory_per_gpu(pm.LLAMA3_70B, RECIPE, 2, "fsdp")
    # DDP: the whole one-GPU model on each GPU, plus one more copy of the LoRA gradients (the buckets)
    assert ddp["weights"] == one.weights == pytest.approx((DECODER_NF4 + OTHER_BF16) / GIB, abs=0.01)
    assert ddp["other"] - (one.loss + one.workspace) == pytest.approx(LORA_GRADS / GIB, abs=0.01)
    # FSDP on 2: half the 4-bit decoder + two layers in use + the root unit gathered + its half shard
    by_hand = (DECODER_NF4 / 2 + 2 * DECODER_NF4 / 80 + OTHER_BF16 + OTHER_BF16 / 2) / GIB
    assert fsdp["weights"] == pytest.approx(by_hand, abs=0.01) == pytest.approx(23.14, abs=0.01)
    assert fsdp["lora_and_optimizer"] == pytest.approx(one.lora_and_optimizer / 2, abs=0.01)
    assert fsdp["activations"] == ddp["activations"] == one.activations  # activations belong to the micro-batch
    # more GPUs shard further under FSDP and change nothing under DDP
    assert pm.memory_per_gpu(pm.LLAMA3_70B, RECIPE, 4, "fsdp")["weights"] < fsdp["weights"]
    assert pm.memory_per_gpu(pm.LLAMA3_70B, RECIPE, 4, "ddp")["weights"] == ddp["weights"]


def test_communication_time_and_scaling_by_hand():
    # one GPU at 1000 tokens/s on 2 x 2048 tokens: 4.096 s of compute a step; 25 GB/s of bus bandwidth
    ddp = pm.estimate_multi_gpu(pm.LLAMA3_70B, RECIPE, 2, "ddp", link=25.0, single_tokens_per_s=1000.0)
    comm = 2 * (1 / 2) * LORA_GRADS / 25e9  # ring all-reduce of the LoRA gradients
    assert ddp.compute_s_per_step == pytest.approx(4.096) and ddp.comm_s_per_step == pytest.approx(comm, abs=1e-4)
    assert ddp.tokens_per_s == pytest.approx(2 * 4096 / (4.096 + comm), abs=0.1)
    fsdp = pm.estimate_multi_gpu(pm.LLAMA3_70B, RECIPE, 2, "fsdp", link=25.0, single_tokens_per_s=1000.0)
    gathered = 2 * (1 / 2) * (DECODER_NF4 + OTHER_BF16 + LORA_GRADS)  # forward + backward all-gather
    comm = (gathered + (1 / 2) * LORA_GRADS) / 25e9  # + reduce-scatter of the gradients
    assert fsdp.comm_s_per_step == pytest.approx(comm, abs=1e-4) == pytest.approx(1.6055, abs=1e-3)
    assert fsdp.scaling_efficiency == pytest.approx(4.096 / (4.096 + comm), abs=1e-3)
    assert pm.comm_bytes_per_step(pm.LLAMA3_70B, RECIPE, 1, "fsdp") == 0.0
    # gradient accumulation: FSDP gathers every micro-batch, DDP syncs once per optimizer step
    acc = RECIPE.replace(grad_accum=4)
    assert pm.comm_bytes_per_step(pm.LLAMA3_70B, acc, 2, "fsdp") == pytest.approx(4 * pm.comm_bytes_per_step(pm.LLAMA3_70B, RECIPE, 2, "fsdp"))
    assert pm.comm_bytes_per_step(pm.LLAMA3_70B, acc, 2, "ddp") == pm.comm_bytes_per_step(pm.LLAMA3_70B, RECIPE, 2, "ddp")


@pytest.mark.parametrize("gpu, choice", [
    ("a100-80gb", "ddp"),  # 70B fits one 80 GB card: more cards only for speed
    ("a100-40gb", "fsdp"),  # does not fit one 40 GB card, fits when sharded over two
    ("rtx3090", "bigger card"),  # not even sharded over two 24 GB cards without CPU offload
])
def test_the_plan_says_when_to_shard_and_when_to_rent(gpu, choice):
    plan = pm.plan_past_one_gpu(pm.LLAMA3_70B, RECIPE, gpu, 2)
    assert plan["choice"] == choice
    assert plan["fsdp"]["reserved_gib"] < plan["one_gpu"]["reserved_gib"] < plan["ddp"]["reserved_gib"]


def test_preflight_refuses_an_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        pm.memory_per_gpu(pm.LLAMA3_70B, RECIPE, 2, "zero3")


# ------------------------------------------------------------------ the launch's settings and configs


def test_world_and_effective_batch_from_the_launcher_environment():
    assert dist.world({}) == dist.World(1, 0, 0, False) and dist.world({}).kind == "single"
    w = dist.world({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "ACCELERATE_USE_FSDP": "true"})
    assert (w.size, w.rank, w.main, w.kind) == (2, 1, False, "fsdp")
    assert dist.effective_batch(TrainSettings(batch_size=2, grad_accum=4), 2) == 16


def test_fsdp_qlora_gets_torch_adamw_and_reentrant_checkpointing():
    fsdp, ddp = dist.World(2, 0, 0, True), dist.World(2, 0, 0, False)
    assert RECIPE.resolved_optim("cuda") == "paged_adamw_8bit"
    changes = dist.distributed_changes(RECIPE, fsdp, "cuda")
    assert changes == {"optim": "adamw_torch", "use_reentrant": True}
    kwargs = RECIPE.replace(**changes).sft_kwargs("/tmp/x", "cuda")
    assert kwargs["optim"] == "adamw_torch" and kwargs["gradient_checkpointing_kwargs"] == {"use_reentrant": True}
    assert dist.distributed_changes(RECIPE, ddp, "cuda") == {}  # DDP keeps the one-GPU recipe
    with pytest.raises(SettingsError, match="checkpoint_every"):
        dist.distributed_changes(RECIPE.replace(checkpoint_every=2), fsdp, "cuda")


def test_the_repo_configs_follow_the_recipe():
    ddp = dist.check_launch_config(CONFIGS / "ddp.yaml", RECIPE)
    fsdp = dist.check_launch_config(CONFIGS / "fsdp_qlora.yaml", RECIPE)
    assert ddp["problems"] == [] and ddp["distributed_type"] == "MULTI_GPU" and ddp["num_processes"] == 2
    assert fsdp["problems"] == [] and fsdp["distributed_type"] == "FSDP"
    assert fsdp["fsdp_config"]["fsdp_sharding_strategy"] == "FULL_SHARD"


@pytest.mark.parametrize("key, value, fragment", [
    ("fsdp_use_orig_params", "true", "fsdp_use_orig_params"),
    ("fsdp_sharding_strategy", "SHARD_GRAD_OP", "FULL_SHARD"),
    ("fsdp_cpu_ram_efficient_loading", "false", "cpu_ram_efficient_loading"),
    ("fsdp_state_dict_type", "FULL_STATE_DICT", "SHARDED_STATE_DICT"),
    ("fsdp_activation_checkpointing", "true", "checkpointed twice"),
])
def test_a_config_off_the_recipe_is_named(tmp_path, key, value, fragment):
    text = (CONFIGS / "fsdp_qlora.yaml").read_text(encoding="utf-8")
    lines = [f"  {key}: {value}" if line.strip().startswith(f"{key}:") else line for line in text.splitlines()]
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = dist.check_launch_config(bad, RECIPE)["problems"]
    assert len(problems) == 1 and fragment in problems[0]


def test_settings_the_recipe_cannot_shard_are_named():
    problems = dist.check_launch_config(CONFIGS / "fsdp_qlora.yaml", RECIPE.replace(compute_dtype="float32"))["problems"]
    assert any("bfloat16" in p for p in problems)
    with pytest.raises(SettingsError, match="no accelerate config"):
        dist.check_launch_config(CONFIGS / "missing.yaml")


def test_set_pairs_become_typed_settings():
    assert dist.parse_changes(["batch_size=1", "lora_dropout=0.0", "scheduler=constant", "packing=true"]) == {
        "batch_size": 1, "lora_dropout": 0.0, "scheduler": "constant", "packing": True}
    with pytest.raises(SettingsError, match="TrainSettings field"):
        dist.parse_changes(["no_such=1"])


# ------------------------------------------------------------------ two gloo processes
# Same global batch: 2 processes x batch 1 against 1 process x batch 2. Dropout off (each process
# draws its own masks), a constant learning rate (a resumed run must see the same schedule).
CHANGES = {"train_rows": 24, "max_steps": 3, "save_steps": 2, "eval_steps": 1000, "lora_dropout": 0.0,
           "scheduler": "constant", "warmup_ratio": 0.0, "max_seq_len": 256, "compute_dtype": "float32"}
# fp32 on a CPU (not the profile's bf16 autocast, whose rounding differs with the batch shape:
# 4.5e-4 apart after 3 steps): the two runs differ only in summation order (gloo's all-reduce of two gradients
# against one batched matmul), ~1e-7 relative per step; 1e-5 leaves room for 3 Adam steps.
RTOL = 1e-5


def _launch(tmp_path: Path, model: Path, run: Path, *args: str) -> dict:
    env = {**os.environ, "COURSE_PROFILE": "ci", "COURSE_MODEL": str(model), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "COURSE_RUNS": str(tmp_path / "course-runs")}
    cmd = dist.launch_command(CONFIGS / "ddp.yaml", run, "ddp", changes={**CHANGES, "batch_size": 1})
    out = subprocess.run(cmd + list(args), env=env, capture_output=True, text=True, timeout=400, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"world_size"')]
    assert len(lines) == 1, "only the main process reports"
    return json.loads(lines[0])


def _adapter(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


@pytest.mark.slow
def test_two_gloo_processes_train_and_resume_like_one(tmp_path, tiny_model_dir, monkeypatch):
    from helpers.core.config import get_profile

    # the reference: one process, the same code path, 3 steps of 2 packed rows
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(var, raising=False)
    ref = dist.train_distributed(get_profile("ci").replace(model=str(tiny_model_dir)), tmp_path / "one" / "adapter",
                                 name="one", batch_size=2, **{**CHANGES})
    ref_losses = [h["loss"] for h in ref.log_history if "loss" in h]

    # two processes stop after step 2 (checkpoint-2), then resume to step 3 under DDP again
    run = tmp_path / "two"
    first = _launch(tmp_path, tiny_model_dir, run, "--set", "max_steps=2")
    assert first["world_size"] == 2 and first["parallelism"] == "ddp" and first["global_step"] == 2
    ckpt = run / "adapter" / "runs" / "ddp" / "checkpoints" / "checkpoint-2"
    assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors"} <= {p.name for p in ckpt.iterdir()}
    assert [p.name for p in (run / "adapter" / "runs").iterdir()] == ["ddp"], "one folder for both processes"
    shutil.rmtree(run / "adapter" / "runs" / "ddp" / "final")
    second = _launch(tmp_path, tiny_model_dir, run, "--resume")
    assert second["resumed_from"] == str(ckpt) and second["global_step"] == 3

    assert len(ref_losses) == 3 and second["losses"][:2] == pytest.approx(first["losses"], rel=RTOL)
    assert second["losses"] == pytest.approx(ref_losses, rel=RTOL)
    ours, theirs = _adapter(Path(second["adapter_dir"])), _adapter(ref.adapter_dir)
    assert set(ours) == set(theirs)
    assert max(float((ours[k] - theirs[k]).abs().max()) for k in ours) < 1e-5
    card = json.loads((run / "adapter" / "runs" / "ddp" / "run_card.json").read_text(encoding="utf-8"))
    assert card["world_size"] == 2 and card["effective_batch"] == 2 and card["parallelism"] == "ddp"
