import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../models/bundle.js';

const BUNDLES = ['publish.js', 'obs.js', 'viewer.js', 'jitter-worklet.js'];

/** Builds client/dist with esbuild when a bundle is missing (a checkout without `npm run build:client`). */
export async function ensureClientBuilt(force = false): Promise<void> {
  const root = packageRoot();
  const dist = join(root, 'client', 'dist');
  if (!force && BUNDLES.every((b) => existsSync(join(dist, b)))) return;
  const mod = (await import(pathToFileURL(join(root, 'client', 'build.mjs')).href)) as {
    buildClient: () => Promise<void>;
  };
  await mod.buildClient();
}
