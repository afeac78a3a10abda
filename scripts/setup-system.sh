#!/usr/bin/env bash
# Debian packages the project uses: chromium (browser tests), ffmpeg (world clips, test tooling),
# hydrogen-drumkits (real drum samples for the foley world), prometheus (promtool checks /metrics in
# the tests). Installs only what is missing. Only the full set-up (scripts/setup.sh all, npm test)
# runs it: rendering and the live server need none of these (foley serve --demo wants ffmpeg).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
[[ -d /usr/share/hydrogen/data/drumkits ]] || need+=(hydrogen-drumkits)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [[ ${#need[@]} -eq 0 ]]; then
  echo "setup: system packages present"
  exit 0
fi
echo "setup: installing ${need[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
