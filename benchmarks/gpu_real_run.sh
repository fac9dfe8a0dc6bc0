#!/usr/bin/env bash
# Every course notebook on one CUDA GPU with the real SmolLM2-135M and MiniLM weights and a GPU profile's
# code path (NF4 + bf16 compute, paged 8-bit AdamW, Liger, bf16 adapters, checkpoints), then notebook 03
# with random-weight 14B and 7B shapes under gpu-40gb and gpu-24gb (guide/hardware_and_cost.md,
# "Every notebook on CUDA"). Results: OUT_DIR/*.json; benchmarks/results/gpu_real_course_h200.json
# gathers the H200 run.
#
#   bash benchmarks/gpu_real_run.sh OUT_DIR [STEP ...]
#
# On a GPU box with the course installed (make install && make models) run it with no STEP: all steps.
# The lent H200 (10 minutes and 64 MiB a call, no index) took one step a call, after
# benchmarks/gpu_carry.sh had brought the wheels and models: PY=python3 with PYTHONPATH=/tmp/site.
#   checks   doctor (with COURSE_PROFILE=gpu-40gb) + the fp16 fallback check (benchmarks/gpu_fp16_check.py)
#   real-a   notebooks 00-02
#   real-b   notebooks 03-04        real-c   notebooks 05-06 (the same run folder, kept in STATE)
#   big-14b  notebook 03, gpu-40gb, random Qwen2.5-14B shape (its peak must stay under 38 GiB)
#   big-7b   notebook 03, gpu-24gb, random Qwen2.5-7B shape
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_real_run.sh OUT_DIR [STEP ...]}; shift
STEPS=${*:-checks real-a real-b real-c big-14b big-7b}
PY=${PY:-python}
PROFILE=${PROFILE:-gpu-24gb}
STATE=${STATE:-/tmp/gpu_course_state}
TOKENIZER_DIR=${TOKENIZER_DIR:-.devcarry/tok}
# the random checkpoints (16-30 GB) go to the roomiest disk
BIG=${BIG:-$(df --output=avail,target /tmp /root . 2>/dev/null | tail -n +2 | sort -n | tail -1 | awk '{print $2}')}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
real() {  # notebooks of the real-weights run; STATE keeps the run folder between steps
  $PY benchmarks/gpu_real_course.py --out "$OUT/$1.json" --profile "$PROFILE" --model smollm2-135m \
    --state "$STATE" --only "${@:2}"
}
for step in $STEPS; do
  echo "== $step $(date -u +%H:%M:%S)"
  case $step in
  checks)
    COURSE_PROFILE=gpu-40gb $PY -m helpers doctor --json > "$OUT/doctor.json"; grep -A3 '"gpu\|bitsandbytes' "$OUT/doctor.json" | head -30
    $PY benchmarks/gpu_fp16_check.py --out "$OUT/fp16_check.json" --tokenizer "$TOKENIZER_DIR" 2>&1 | grep -v "it/s\]\|s/it\]" | tail -3 ;;
  real-a) real real-a 00 01 02 ;;
  real-b) real real-b 03 04 ;;
  real-c) real real-c 05 06 ;;
  big-14b | big-7b)
    shape=$([ "$step" = big-14b ] && echo qwen2.5-14b || echo qwen2.5-7b)
    prof=$([ "$step" = big-14b ] && echo gpu-40gb || echo gpu-24gb)
    $PY benchmarks/gpu_real_course.py --out "$OUT/$step.json" --profile "$prof" --random-shape "$shape" \
      --tokenizer "$TOKENIZER_DIR" --state "$BIG/gpu_$step" --fresh --only 03
    rm -rf "$BIG/gpu_$step/model-$shape" ;;
  *) echo "unknown step $step"; exit 2 ;;
  esac
done
# the executed notebooks, with their outputs, for reading
tar -C "$STATE" -cJf "$OUT/executed_real.tar.xz" executed 2>/dev/null || true
ls -l "$OUT"
