#!/usr/bin/env bash
# Builds the mediasoup 3.8.4 worker offline (npm install ran with scripts skipped).
# Idempotent: does nothing when the worker binary already exists.
# Why the patch: glibc >= 2.34 makes SIGSTKSZ a non-constant long, which breaks
# std::max(SIGSTKSZ, 65536) in abseil's failure_signal_handler.cc.
# Why an old Python: the bundled gyp only runs on Python <= 3.9.
# Why -O1 (MEDIASOUP_OPT_FLAGS overrides it): the worker only forwards a few hundred RTP packets
# a second here, and -O1 compiles faster than the Release default -O3 (docs/experiments.md,
# section 17). gyp's Makefile puts CFLAGS/CXXFLAGS after its own flags, so the last -O wins.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORKER_DIR="$ROOT/node_modules/mediasoup/worker"
WORKER_BIN="$WORKER_DIR/out/Release/mediasoup-worker"

if [[ -x "$WORKER_BIN" ]]; then
  echo "mediasoup worker already built: $WORKER_BIN"
  exit 0
fi
if [[ ! -d "$WORKER_DIR" ]]; then
  echo "mediasoup not installed at $WORKER_DIR; run: npm install --ignore-scripts" >&2
  exit 1
fi

HANDLER="$WORKER_DIR/deps/libwebrtc/deps/abseil-cpp/abseil-cpp/absl/debugging/failure_signal_handler.cc"
if grep -q 'std::max(SIGSTKSZ, 65536)' "$HANDLER"; then
  sed -i 's/std::max(SIGSTKSZ, 65536)/std::max<size_t>(SIGSTKSZ, 65536)/' "$HANDLER"
  echo "patched SIGSTKSZ in $(basename "$HANDLER")"
fi

pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    for v in 3.9.18 3.8.18 3.7.16 3.6.15 2.7.18; do
      for exe in python3 python; do
        if [[ -x "$root/versions/$v/bin/$exe" ]]; then echo "$root/versions/$v/bin/$exe"; return; fi
      done
    done
  fi
  for exe in python3.9 python3.8 python2; do
    if command -v "$exe" >/dev/null 2>&1; then command -v "$exe"; return; fi
  done
  echo "no Python <= 3.9 found (needed by mediasoup's gyp); set PYTHON=/path/to/python3.9" >&2
  exit 1
}
PY="$(pick_python)"
CORES="${MEDIASOUP_BUILD_CORES:-$(nproc)}"
OPT="${MEDIASOUP_OPT_FLAGS:--O1}"
echo "building mediasoup worker with PYTHON=$PY on $CORES cores at $OPT (a few minutes)"
CFLAGS="${CFLAGS:-} $OPT" CXXFLAGS="${CXXFLAGS:-} $OPT" make -C "$WORKER_DIR" PYTHON="$PY" CORES="$CORES"
test -x "$WORKER_BIN"
echo "mediasoup worker built: $WORKER_BIN"
