#!/usr/bin/env bash
# Builds the mediasoup 3.8.4 worker offline (npm install ran with scripts skipped).
# Idempotent: does nothing when the worker binary already exists.
# Why the patch: glibc >= 2.34 makes SIGSTKSZ a non-constant long, which breaks
# std::max(SIGSTKSZ, 65536) in abseil's failure_signal_handler.cc.
# Why an old Python: the bundled gyp only runs on Python <= 3.9.
# Why -O1 (MEDIASOUP_OPT_FLAGS overrides it): the worker only forwards a few hundred RTP packets
# a second here, and -O1 compiles faster than the Release default -O3 (docs/experiments.md,
# section 17). gyp's Makefile puts CFLAGS/CXXFLAGS after its own flags, so the last -O wins.
# Why the system's OpenSSL: the bundled one (1.1.1) is 700 of the worker's 1000 object files.
# Where Debian's libssl-dev is installed, its static libssl.a and libcrypto.a (OpenSSL 3) are
# linked in instead, so the worker still needs no OpenSSL at run time (the Docker image has
# none). MEDIASOUP_OPENSSL=bundled builds the bundled one.
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

# The build's objects go to the clone, the compiler's temporary files to TMPDIR.
bash "$ROOT/scripts/need-space.sh" "$ROOT" 1 "the mediasoup worker build"
bash "$ROOT/scripts/need-space.sh" "${TMPDIR:-/tmp}" 1 "the mediasoup worker build"

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

# system_openssl: prints the static libssl.a and libcrypto.a when libssl-dev is installed.
system_openssl() {
  [[ "${MEDIASOUP_OPENSSL:-system}" == system && -f /usr/include/openssl/ssl.h ]] || return 1
  local ssl crypto
  ssl="$(gcc -print-file-name=libssl.a)"; crypto="$(gcc -print-file-name=libcrypto.a)"
  [[ -f "$ssl" && -f "$crypto" ]] || return 1
  echo "$(realpath "$ssl") $(realpath "$crypto")"
}
if LIBS="$(system_openssl)"; then
  # The openssl target of every gyp file that depends on it becomes a link to the system's
  # archives (gyp puts libraries after the objects), and the worker's whole-archive of the
  # bundled libopenssl.a is dropped.
  read -r SSL_A CRYPTO_A <<<"$LIBS"
  cat >"$WORKER_DIR/deps/openssl/openssl.gyp" <<GYP
{
  'targets': [
    {
      'target_name': 'openssl',
      'type': 'none',
      'link_settings': { 'libraries': [ '$SSL_A', '$CRYPTO_A', '-ldl', '-lpthread' ] },
    },
  ],
}
GYP
  sed -i "s|'-Wl,--whole-archive <(libopenssl) -Wl,--no-whole-archive'||" "$WORKER_DIR/mediasoup-worker.gyp"
  echo "OpenSSL: the system's ($SSL_A, $CRYPTO_A)"
else
  if grep -q "'type': 'none'" "$WORKER_DIR/deps/openssl/openssl.gyp"; then
    echo "the bundled OpenSSL's gyp file was replaced by an earlier build with the system's; reinstall mediasoup (rm -rf node_modules && npm ci --ignore-scripts)" >&2
    exit 1
  fi
  echo "OpenSSL: the bundled one (libssl-dev not installed, or MEDIASOUP_OPENSSL=bundled)"
fi
CORES="${MEDIASOUP_BUILD_CORES:-$(nproc)}"
OPT="${MEDIASOUP_OPT_FLAGS:--O1}"
echo "building mediasoup worker with PYTHON=$PY on $CORES cores at $OPT (a few minutes)"
CFLAGS="${CFLAGS:-} $OPT" CXXFLAGS="${CXXFLAGS:-} $OPT" make -C "$WORKER_DIR" PYTHON="$PY" CORES="$CORES"
test -x "$WORKER_BIN"
echo "mediasoup worker built: $WORKER_BIN"
