#!/usr/bin/env bash
# The course notebooks themselves, headless, with a GPU profile on one CUDA machine
# (guide/hardware_and_cost.md, "The course's own CUDA path").
#
#   bash benchmarks/gpu_notebooks.sh OUT_DIR [PROFILE]      (PROFILE default: gpu-24gb)
#
# Nothing is downloaded: the model is SmolLM2-135M's architecture with random bf16 weights
# (benchmarks/gpu_course_check.py builds it from the tokenizer folder in TOKENIZER_DIR), loaded
# through COURSE_MODEL with the profile's NF4 + bf16 recipe. It runs 00, 03 and 05: the
# notebooks that need no MiniLM embedder (01, 02 and 04 use it, and a GPU machine without a
# package index has none). The executed copies land in OUT_DIR; answers are meaningless
# (random weights): the run proves the code path (4-bit kernels, bf16 adapters, the paged
# optimiser, checkpoints, live plots, scoring) on CUDA.
set -euo pipefail
OUT_DIR=${1:?usage: bash benchmarks/gpu_notebooks.sh OUT_DIR [PROFILE]}
PROFILE=${2:-gpu-24gb}
TOKENIZER_DIR=${TOKENIZER_DIR:-.cache/models/smollm2-135m}
MODEL_DIR=${MODEL_DIR:-/tmp/random-smollm2-135m}
python3 - "$TOKENIZER_DIR" "$MODEL_DIR" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from gpu_course_check import build_random_model
build_random_model(Path(sys.argv[2]), Path(sys.argv[1]))
PY
COURSE_MODEL="$MODEL_DIR" COURSE_PROFILE="$PROFILE" python3 -m helpers course --profile "$PROFILE" \
  --out "$OUT_DIR" --only 00_setup.ipynb 03_qlora_training.ipynb 05_clean_vs_noisy.ipynb
