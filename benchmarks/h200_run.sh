#!/usr/bin/env bash
# One call on a lent H200 (no network): install the carried wheels, then run the QLoRA benchmark
# through the course's trainer and the course's CUDA check. Rerun: see guide/hardware_and_cost.md.
#   [REPEATS=3] bash benchmarks/h200_run.sh OUT_DIR PLAN [DEADLINE_S]
# Carry (git-ignored): .whl/ = transformers 5.24.0, trl 1.16.0, peft 0.21.2, liger-kernel 0.8.5,
# datasets 5.2.0, dill 0.4.0, multiprocess 0.70.18, huggingface_hub 2.4.0, httpx2 + httpcore2 2.16.2,
# truststore 0.10.5 (py3.12 wheels); .devcarry/site/ = the bitsandbytes 0.50.2 wheel unpacked with only
# its CPU and CUDA 13.0 libraries (the whole wheel, 43 MB, leaves too little of the 64 MiB a call carries);
# .devcarry/tok/ = SmolLM2's tokenizer files (the data are token ids; it supplies the pad token).
set -uo pipefail
OUT=${1:?OUT_DIR}; PLAN=${2:?PLAN}; DEADLINE=${3:-480}; REPEATS=${REPEATS:-3}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || exit 3
cp -r .devcarry/site/* /tmp/site/
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 -c "import bitsandbytes, trl, transformers, peft, liger_kernel; print('bnb', bitsandbytes.__version__, 'trl', trl.__version__, 'transformers', transformers.__version__)"
python3 benchmarks/bench_qlora.py --out "$OUT/qlora.json" --plan "$PLAN" --tokenizer .devcarry/tok --deadline-s "$DEADLINE" --repeats "$REPEATS" 2>"$OUT/bench.err" | grep -v "it/s\]\|s/it\]"
tail -c 3000 "$OUT/bench.err" | grep -v "it/s\|s/it" | tail -20
