#!/usr/bin/env bash
# GPU benchmark for `make bench-gpu`: run on a machine with an NVIDIA GPU,
# PyTorch and JAX's CUDA PJRT plugin, from the repository root, with the
# xla-tagged binaries built by `make gpu-binaries` in .dev/. Prints the
# accuracy of the GPU's f16 and bf16 paths against its f32 one,
# `bltpipe bench model` at the real size, and the PyTorch yardstick on the
# same card (JSON lines). With E2E_FILES=N it then runs the pipeline end to
# end on N FineWeb-like JSONL files (~0.9 MB each; bench/e2e_inputs.py) and
# a random real-size model, once per device count in E2E_DEVICES (default
# "1"), with --embeddings $E2E_EMBEDDINGS (default patch: 3 KB of output
# per 4-byte patch, so the output goes to $E2E_OUT, default /dev/shm), and
# prints the steady and whole-run rates, then the CPU side alone on the
# same input (--model none). Last, bench/gpu_row.py appends the run's row
# to $RESULTS_MD (default bench/RESULTS.md); the whole log is kept in
# $BENCH_LOG (default /tmp/bltpipe-bench-gpu.log).
set -u
BENCH_LOG=${BENCH_LOG:-/tmp/bltpipe-bench-gpu.log}
exec > >(tee "$BENCH_LOG") 2>&1
for f in .dev/*.gz; do [ -e "$f" ] && gunzip -kf "$f"; done
for f in .dev/*.xz; do [ -e "$f" ] && xz -dkf "$f"; done
BIN=${BIN:-.dev/bltpipe-xla}
TEST=${TEST:-.dev/modelio-xla.test}
SECONDS_EACH=${SECONDS_EACH:-12}
plugin=$(python3 -c "import jax_plugins.xla_cuda13 as p,os;print(os.path.dirname(p.__file__))")/xla_cuda_plugin.so
export GOMLX_BACKEND="xla:$plugin" GOMLX_NO_AUTO_INSTALL=1
# go-xla may point XLA_FLAGS at a wrong CUDA directory: name the toolkit ourselves.
if [ -z "${XLA_FLAGS:-}" ]; then
  for d in /usr/local/cuda "$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /x/x)")")"; do
    if [ -d "$d/nvvm/libdevice" ]; then export XLA_FLAGS="--xla_gpu_cuda_data_dir=$d"; break; fi
  done
fi
echo "# $(date -u +%F) $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1) XLA_FLAGS=${XLA_FLAGS:-}"
echo "# host: $(nvidia-smi -L | wc -l)×GPU, $(nproc) cores"
echo "# commit $("$BIN" --version 2>/dev/null | grep -oE '[0-9a-f]{7,40}$' | head -1)"
# The test binary runs in modelio/ (it reads the shipped model from ../models).
(cd modelio && "../$TEST" -test.run 'TestAcceleratorMatchesCPU|TestAcceleratorBF16OnDefaultModel' -test.v 2>&1) |
  grep -E "Δentropy|^(--- )?(PASS|FAIL)|^ok|panic|rror" | head -20
for args in \
  "--seq-len 8192 --batch-tokens 65536 --chunk-len 2048" \
  "--seq-len 8192 --batch-tokens 131072 --chunk-len 8192" \
  "--seq-len 512 --batch-tokens 65536 --chunk-len 512" \
  "--seq-len 9216 --batch-tokens 65536 --chunk-len 2048 --ragged --pool 4" ; do
  "$BIN" bench model --size real --seconds "$SECONDS_EACH" --json $args 2>&1 | tail -3
done
python3 bench/torch_baseline.py --seconds "$SECONDS_EACH" --configs 512x128,8192x8 2>&1 | grep -v Warning | tail -6
if [ -n "${E2E_FILES:-}" ]; then
  python3 bench/e2e_inputs.py --model /tmp/bltpipe-real --corpus /tmp/bltpipe-fw --files "$E2E_FILES"
  for d in ${E2E_DEVICES:-1}; do
    out=${E2E_OUT:-/dev/shm}/bltpipe-e2e
    echo "# end to end: --devices $d --embeddings ${E2E_EMBEDDINGS:-patch}"
    "$BIN" run --input /tmp/bltpipe-fw --output "$out" --model /tmp/bltpipe-real --patching static --patch-size 4 \
      --embeddings "${E2E_EMBEDDINGS:-patch}" --devices "$d" --progress 10s > /tmp/bltpipe-e2e.log 2>&1
    grep -E "done in|^  tokens |^  patches |tokens/s ·" /tmp/bltpipe-e2e.log | tail -4
    awk -f bench/steady.awk < /tmp/bltpipe-e2e.log
    echo "e2e_timing $(python3 -c 'import json,sys;print(json.dumps(json.load(open(sys.argv[1]))))' "$out/_TIMING.json")"
    rm -rf "$out"
  done
  # The CPU side alone on this host (--model none): what would feed the GPUs.
  echo "# CPU side, no model pass: --model none --patching static"
  out=${E2E_OUT:-/dev/shm}/bltpipe-e2e-cpu
  /usr/bin/time -f "%e s wall, %U s user" "$BIN" run --input /tmp/bltpipe-fw --output "$out" --model none --patching static \
    --progress 0 2>&1 | grep -E "done in|^  bytes |^  patches | s wall"
  echo "cpu_side_timing $(python3 -c 'import json,sys;print(json.dumps(json.load(open(sys.argv[1]))))' "$out/_TIMING.json")"
  rm -rf "$out"
fi
echo "# row for ${RESULTS_MD:-bench/RESULTS.md}:"
python3 bench/gpu_row.py --results "${RESULTS_MD:-bench/RESULTS.md}" < "$BENCH_LOG"
