#!/usr/bin/env bash
# Builds docker/Dockerfile with podman and smoke-tests the image:
#   - runtime image size within MAX_IMAGE_MB (default 600)
#   - the server runs as a non-root user and has no compiler, Python or Chromium
#   - /healthz answers 200 within 15 s of the container's start (foley-serve, its default command)
#   - the pages and their scripts are served (/, publish, obs, viewer, /dist/*.js)
#   - the image's HEALTHCHECK passes
#   - the demo target (runtime + ffmpeg), started with its default `foley-serve --demo`:
#     /healthz within 15 s and the demo room open and generating foley
# On a machine without registry access the base images are local stand-ins
# (docker/make-local-base.sh); NODE_IMAGE / RUNTIME_IMAGE pick others. The mediasoup worker comes
# prebuilt from this checkout (node_modules/mediasoup/worker/out/Release, scripts/build-mediasoup.sh).
# npm's cache (~/.npm) is mounted into the build (overlay, host cache untouched) so npm ci works
# offline. NO_CACHE=1 builds without podman's layer cache.
# Usage: docker/build-and-smoke.sh   (root; podman, runc)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
IMAGE="${IMAGE:-localhost/live-foley:local}"
MAX_IMAGE_MB="${MAX_IMAGE_MB:-600}"
HEALTHZ_WITHIN_S=15
PORT="${SMOKE_PORT:-$((20000 + RANDOM % 10000))}"
PODMAN=(podman --runtime runc)
NAME="live-foley-smoke-$$"

fail() {
  echo "build-and-smoke: FAIL: $*" >&2
  "${PODMAN[@]}" logs "$NAME" 2>&1 | tail -30 >&2 || true
  exit 1
}
cleanup() { "${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null 2>&1 || true; }
cleanup_all() {
  cleanup
  if [[ -n "${CONTEXT_DIR:-}" && "$CONTEXT_DIR" != "$ROOT" ]]; then rm -rf "$CONTEXT_DIR"; fi
}
trap cleanup_all EXIT

if [[ -z "${NODE_IMAGE:-}" || -z "${RUNTIME_IMAGE:-}" ]]; then
  bash docker/make-local-base.sh
  NODE_IMAGE="${NODE_IMAGE:-localhost/node20-bookworm-local}"
  RUNTIME_IMAGE="${RUNTIME_IMAGE:-localhost/bookworm-slim-local}"
fi

# The build context: the committed tree (git archive HEAD), so work in progress in the checkout
# does not leak into the image and both targets build from the same files; CONTEXT=worktree
# builds the working tree as it is instead.
if [[ "${CONTEXT:-head}" == worktree ]]; then
  CONTEXT_DIR="$ROOT"
else
  CONTEXT_DIR="$(mktemp -d /tmp/live-foley-context.XXXXXX)"
  git archive HEAD | tar -x -C "$CONTEXT_DIR"
  echo "build-and-smoke: context is HEAD $(git rev-parse --short HEAD)"
fi
WORKER=node_modules/mediasoup/worker/out/Release/mediasoup-worker
if [[ -x "$WORKER" ]]; then
  mkdir -p "$CONTEXT_DIR/docker/prebuilt"
  cp "$WORKER" "$CONTEXT_DIR/docker/prebuilt/mediasoup-worker"
else
  echo "build-and-smoke: no $WORKER to copy (run npm run setup:live); the build stage will try to compile it" >&2
  rm -f "$CONTEXT_DIR/docker/prebuilt/mediasoup-worker"
fi

DEMO_IMAGE="${DEMO_IMAGE:-localhost/live-foley:demo}"
build() { # target tag
  "${PODMAN[@]}" build --format docker --network=host ${NO_CACHE:+--no-cache} \
    -v "${NPM_CACHE:-$HOME/.npm}:/root/.npm:O" \
    --ignorefile "$CONTEXT_DIR/docker/Dockerfile.dockerignore" \
    --build-arg NODE_IMAGE="$NODE_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    --target "$1" -f "$CONTEXT_DIR/docker/Dockerfile" -t "$2" "$CONTEXT_DIR"
}
image_mb() { echo $(($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$1") / 1000000)); }
echo "build-and-smoke: building $IMAGE (target runtime) from $NODE_IMAGE and $RUNTIME_IMAGE"
start=$(date +%s)
build runtime "$IMAGE"
build_s=$(($(date +%s) - start))
size_mb=$(image_mb "$IMAGE")
echo "build-and-smoke: built in ${build_s} s; runtime image ${size_mb} MB"
start=$(date +%s)
build demo "$DEMO_IMAGE"
demo_build_s=$(($(date +%s) - start))
demo_mb=$(image_mb "$DEMO_IMAGE")
echo "build-and-smoke: demo target built in ${demo_build_s} s more; demo image ${demo_mb} MB"


((size_mb <= MAX_IMAGE_MB)) || fail "image is ${size_mb} MB, limit ${MAX_IMAGE_MB} MB"

user=$("${PODMAN[@]}" run --rm --network=none --health-interval=disable "$IMAGE" id -u)
[[ "$user" != 0 ]] || fail "the image runs as root"
echo "build-and-smoke: runs as uid $user"
"${PODMAN[@]}" run --rm --network=none --health-interval=disable "$IMAGE" sh -c \
  'for t in g++ gcc make python3 chromium; do command -v $t && exit 1; done; exit 0' >/dev/null ||
  fail "the runtime image has a compiler, Python or Chromium"
echo "build-and-smoke: no g++, gcc, make, python3 or chromium in the runtime image"
version=$("${PODMAN[@]}" run --rm --network=none --health-interval=disable "$IMAGE" foley --version)
[[ "$version" == "$(node -p "require('./package.json').version")" ]] || fail "foley --version said $version"
echo "build-and-smoke: foley --version $version"

# Starts IMAGE with its default command (foley-serve; the demo image adds --demo) and waits
# for /healthz; sets HEALTHY_AFTER_S.
start_and_wait_healthy() { # image [podman run options]
  local image=$1
  shift
  cleanup
  local t0 now elapsed
  t0=$(date +%s.%N)
  # --health-interval=disable: no timer; the check runs once, by podman healthcheck run (podman
  # 4.3 still logs that it cannot reach systemd for the timer: harmless).
  "${PODMAN[@]}" run -d --name "$NAME" --network=host --health-interval=disable \
    -e FOLEY_PORT="$PORT" -e FOLEY_ANNOUNCED_IP=127.0.0.1 -e FOLEY_SECRET=smoke-test "$@" "$image" >/dev/null
  HEALTHY_AFTER_S=""
  while :; do
    now=$(date +%s.%N)
    elapsed=$(echo "$now - $t0" | bc)
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
      HEALTHY_AFTER_S=$(printf '%.1f' "$elapsed")
      break
    fi
    (($(echo "$elapsed > $HEALTHZ_WITHIN_S" | bc))) && break
    [[ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$NAME")" == true ]] || fail "$image exited"
    sleep 0.25
  done
  [[ -n "$HEALTHY_AFTER_S" ]] || fail "$image: /healthz not 200 within ${HEALTHZ_WITHIN_S} s"
  echo "build-and-smoke: $image: /healthz 200 after $HEALTHY_AFTER_S s"
}

start_and_wait_healthy "$IMAGE"
healthy=$HEALTHY_AFTER_S
for path in / /publish.html /obs.html /viewer.html /dist/publish.js /dist/obs.js /dist/viewer.js /dist/jitter-worklet.js; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$path")
  [[ "$code" == 200 ]] || fail "GET $path answered $code"
done
echo "build-and-smoke: pages and scripts served"
"${PODMAN[@]}" healthcheck run "$NAME" >/dev/null || fail "the image's HEALTHCHECK failed"
echo "build-and-smoke: HEALTHCHECK passes"

# The demo's transports (ffmpeg's RTP in, the attachment's) must fit a narrowed RTC port range.
RTC_MIN=$((PORT + 100))
RTC_MAX=$((RTC_MIN + 49))
start_and_wait_healthy "$DEMO_IMAGE" -e FOLEY_RTC_MIN_PORT="$RTC_MIN" -e FOLEY_RTC_MAX_PORT="$RTC_MAX"
demo_healthy=$HEALTHY_AFTER_S
chunks=0
for _ in $(seq 1 60); do
  metrics=$(curl -fsS "http://127.0.0.1:$PORT/metrics")
  rooms=$(echo "$metrics" | awk '$1 == "foley_rooms" { print $2 }')
  chunks=$(echo "$metrics" | awk '/^foley_chunks_total[{ ]/ { s += $NF } END { print s + 0 }')
  [[ "${rooms:-0}" -ge 1 && "$chunks" -ge 10 ]] && break
  sleep 1
done
[[ "${rooms:-0}" -ge 1 ]] || fail "the demo room is not open (foley_rooms ${rooms:-missing})"
[[ "$chunks" -ge 10 ]] || fail "the demo room generated $chunks foley chunks in 60 s"
echo "build-and-smoke: demo room open, $chunks foley chunks generated (RTC ports $RTC_MIN-$RTC_MAX)"
"${PODMAN[@]}" stop -t 10 "$NAME" >/dev/null
echo "build-and-smoke: OK (runtime: build ${build_s} s, ${size_mb} MB, /healthz after ${healthy} s; demo: +${demo_build_s} s, ${demo_mb} MB, /healthz after ${demo_healthy} s)"
