#!/usr/bin/env bash
# Builds the vramrun binary that examples/gpu/acceptance.sh carries to a GPU
# machine without Go:
#   bash examples/gpu/build.sh [OUTPUT]          (default: ./vramrun at the repository root)
#
# NVML is reached through cgo (go-nvml dlopens libnvidia-ml.so.1 at run
# time), so the binary is linked dynamically against glibc: build it on a
# machine whose glibc is not newer than the GPU machine's, or it will not
# start there. -s -w strips it; -z lazy keeps the lazy symbol binding that
# go-nvml relies on where the toolchain links with BIND_NOW by default.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTPUT=${1:-$ROOT/vramrun}
cd "$ROOT"
# go-nvml's cgo prints dozens of "deprecated" warnings on a cold build.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -extldflags=-Wl,-z,lazy" -o "$OUTPUT" ./cmd/vramrun
# The newest glibc symbol version the binary needs: the GPU machine's glibc
# (ldd --version) must be at least this.
need=$(objdump -T "$OUTPUT" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -u -V | tail -n 1 || true)
echo "built $OUTPUT ($(du -h "$OUTPUT" | cut -f1)); needs ${need:-an unknown glibc} or newer; this machine has glibc $(ldd --version | head -n 1 | awk '{print $NF}')"
