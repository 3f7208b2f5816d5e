#!/usr/bin/env bash
# GPU benchmark for `make bench-gpu`: run on a machine with an NVIDIA GPU,
# PyTorch and JAX's CUDA PJRT plugin, from the repository root, with the
# xla-tagged binaries built by `make gpu-binaries` in .dev/. Prints JSON lines:
# accuracy of bf16/f32 against the CPU, `bltpipe bench model` at the real
# size, and the PyTorch yardstick on the same card.
set -u
for f in .dev/*.gz; do [ -e "$f" ] && gunzip -kf "$f"; done
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
"$TEST" -test.run TestAcceleratorMatchesCPU -test.v 2>&1 | grep -E "Δentropy|PASS|FAIL|ok|panic|rror" | head -20
for args in \
  "--seq-len 8192 --batch-tokens 65536 --chunk-len 2048" \
  "--seq-len 8192 --batch-tokens 131072 --chunk-len 8192" \
  "--seq-len 512 --batch-tokens 65536 --chunk-len 512" \
  "--seq-len 9216 --batch-tokens 65536 --chunk-len 2048 --ragged --hidden" ; do
  "$BIN" bench model --size real --seconds "$SECONDS_EACH" --json $args 2>&1 | tail -3
done
python3 bench/torch_baseline.py --seconds "$SECONDS_EACH" --configs 512x128,8192x8 2>&1 | grep -v Warning | tail -6
