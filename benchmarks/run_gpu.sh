#!/usr/bin/env bash
# Every GPU benchmark of the course in one go, on one CUDA machine (guide/hardware_and_cost.md).
#   bash benchmarks/run_gpu.sh [OUT_DIR]        (default: benchmarks/results)
# Wheels in .whl/ (the course's pinned transformers/peft/bitsandbytes + liger-kernel) are
# installed into /tmp/site first when present: the device machine has no package index.
set -uo pipefail
OUT_DIR=${1:-benchmarks/results}
TAG=${TAG:-h200}
mkdir -p "$OUT_DIR"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
[ -n "${SKIP_GEN:-}" ] || python3 benchmarks/bench_generation_gpu.py --out "$OUT_DIR/generation_$TAG.json" ${GEN_ARGS:-}
[ -n "${SKIP_QLORA:-}" ] || python3 benchmarks/bench_qlora.py --out "$OUT_DIR/qlora_$TAG.json" --deadline-s "${QLORA_DEADLINE_S:-0}" ${QLORA_ARGS:-}
