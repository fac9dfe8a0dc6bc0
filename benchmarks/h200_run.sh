#!/usr/bin/env bash
# One call on a lent H200 (no network): install the carried wheels, then run the QLoRA benchmark
# through the course's trainer and the course's CUDA check. Rerun: see guide/hardware_and_cost.md.
#   bash benchmarks/h200_run.sh OUT_DIR PLAN [DEADLINE_S]
set -uo pipefail
OUT=${1:?OUT_DIR}; PLAN=${2:?PLAN}; DEADLINE=${3:-480}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || exit 3
cp -r .devcarry/site/* /tmp/site/
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 -c "import bitsandbytes, trl, transformers, peft, liger_kernel; print('bnb', bitsandbytes.__version__, 'trl', trl.__version__, 'transformers', transformers.__version__)"
python3 benchmarks/bench_qlora.py --out "$OUT/qlora.json" --plan "$PLAN" --tokenizer .devcarry/tok --deadline-s "$DEADLINE" 2>"$OUT/bench.err" | grep -v "it/s\]\|s/it\]"
tail -c 3000 "$OUT/bench.err" | grep -v "it/s\|s/it" | tail -20
