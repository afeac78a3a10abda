#!/usr/bin/env bash
# Assembles the runtime tree DEST (default /app) from a built checkout (the Dockerfile's build
# stage), offline: the files `npm pack` publishes (dist/src, dist/pipelines, client pages and
# client/dist, the default bundle without the teacher, the sample clip), and node_modules cut
# down to the production dependencies plus mediasoup (an optional peer, here a devDependency)
# with its own dependencies, as package-lock.json pins them. Of mediasoup only lib/ and the
# worker binary stay; of onnxruntime-node only the linux-x64 binaries.
set -euo pipefail
DEST="${1:-/app}"
[[ -x node_modules/mediasoup/worker/out/Release/mediasoup-worker ]] || {
  echo "runtime-tree: no mediasoup worker binary; build it first" >&2
  exit 1
}
PACK_DIR="$(mktemp -d)"
npm pack --silent --pack-destination "$PACK_DIR" >/dev/null
tar -xzf "$PACK_DIR"/live-foley-*.tgz -C "$PACK_DIR"
mkdir -p "$(dirname "$DEST")"
mv "$PACK_DIR/package" "$DEST"
rm -rf "$PACK_DIR"
chmod +x "$DEST/dist/src/cli/main.js"

# Keep: every production dependency, mediasoup and everything it depends on.
npm query '.prod, #mediasoup, #mediasoup *' >/tmp/runtime-keep.json
npm query '*' >/tmp/runtime-all.json
node -e '
  const fs = require("node:fs");
  const keep = new Set(JSON.parse(fs.readFileSync("/tmp/runtime-keep.json", "utf8")).map((n) => n.location));
  const all = JSON.parse(fs.readFileSync("/tmp/runtime-all.json", "utf8"));
  for (const { location } of all) {
    if (location && !keep.has(location)) fs.rmSync(location, { recursive: true, force: true });
  }
'
rm -f /tmp/runtime-keep.json /tmp/runtime-all.json
find node_modules/.bin -xtype l -delete
rm -f node_modules/.package-lock.json node_modules/.live-foley-lock.sha256

WORKER=node_modules/mediasoup/worker/out/Release/mediasoup-worker
cp "$WORKER" /tmp/mediasoup-worker
rm -rf node_modules/mediasoup/worker node_modules/mediasoup/rust node_modules/mediasoup/test \
  node_modules/mediasoup/src node_modules/mediasoup/art node_modules/mediasoup/doc
mkdir -p node_modules/mediasoup/worker/out/Release
mv /tmp/mediasoup-worker "$WORKER"
find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 ! -path '*/linux/x64' -exec rm -rf {} +
mv node_modules "$DEST/node_modules"
echo "runtime-tree: $DEST $(du -sh "$DEST" | cut -f1) (node_modules $(du -sh "$DEST/node_modules" | cut -f1))"
