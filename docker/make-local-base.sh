#!/usr/bin/env bash
# Local stand-ins for the two registry images the Dockerfile names, for a machine that cannot
# pull from a registry but reaches a Debian mirror:
#   localhost/bookworm-slim-local   for debian:bookworm-slim (debootstrap --variant=minbase,
#                                   docs/man/locales excluded from later installs as in -slim)
#   localhost/node20-bookworm-local for node:20-bookworm (the same plus this machine's own
#                                   Node 20 at /usr/local/bin/node and npm, as the node image has)
# Idempotent: an image that exists is kept (FORCE=1 remakes both).
# Usage: docker/make-local-base.sh   (root, podman, debootstrap, node 20 on PATH)
set -euo pipefail
SLIM=localhost/bookworm-slim-local
NODE=localhost/node20-bookworm-local
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PODMAN=(podman --runtime runc)

have() { "${PODMAN[@]}" image exists "$1"; }
if [[ "${FORCE:-0}" != 1 ]] && have "$SLIM" && have "$NODE"; then
  echo "make-local-base: $SLIM and $NODE exist"
  exit 0
fi
for tool in podman debootstrap node npm; do
  command -v "$tool" >/dev/null || { echo "make-local-base: $tool not found" >&2; exit 1; }
done
[[ "$(node -p 'process.versions.node.split(".")[0]')" == 20 ]] || {
  echo "make-local-base: node on PATH is $(node --version), the image needs Node 20" >&2
  exit 1
}

WORK="$(mktemp -d /tmp/live-foley-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
echo "make-local-base: debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -20 "$WORK/debootstrap.log" >&2
  exit 1
}
cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# As debian:bookworm-slim: later package installs leave out docs, man pages and translations.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log
find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

echo "make-local-base: importing $SLIM"
tar -C "$ROOTFS" -c . | "${PODMAN[@]}" import -q --change 'CMD ["bash"]' - "$SLIM" >/dev/null

NODE_BIN="$(readlink -f "$(command -v node)")"
NPM_DIR="$(dirname "$(readlink -f "$(command -v npm)")")/.."
NPM_DIR="$(cd "$NPM_DIR" && pwd)"
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/usr/local/lib/node_modules"
cp "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
cp -r "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
echo "make-local-base: importing $NODE (node $(node --version), npm $(npm --version))"
tar -C "$ROOTFS" -c . | "${PODMAN[@]}" import -q --change 'CMD ["node"]' - "$NODE" >/dev/null
"${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'bookworm-slim-local|node20-bookworm-local'
