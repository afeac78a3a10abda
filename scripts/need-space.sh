#!/usr/bin/env bash
# need-space.sh DIR GIB WHAT: stops early, with a plain message, where DIR's disk has less than GIB
# GiB free (a full disk otherwise shows up as a compiler error deep inside the worker build).
set -euo pipefail
free_kib="$(df -Pk "$1" | awk 'NR == 2 { print $4 }')"
if ((free_kib < $2 * 1024 * 1024)); then
  echo "setup: only $((free_kib / 1024)) MiB free on $1; $3 needs about $2 GiB there." >&2
  echo "setup: free some space (or point TMPDIR at a roomier disk) and run it again." >&2
  exit 1
fi
