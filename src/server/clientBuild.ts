import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXIT_CODES, FoleyError } from '../errors.js';
import { packageRoot } from '../models/bundle.js';

/** The pages' scripts that `foley serve` serves from client/dist. */
export const CLIENT_BUNDLES = [
  'publish.js',
  'obs.js',
  'overlay.js',
  'viewer.js',
  'jitter-worklet.js',
] as const;

/** client/dist is incomplete and this is no checkout that can build it (an installed package). */
export class ClientPagesMissingError extends FoleyError {
  readonly code = 'CLIENT_PAGES_MISSING';
  readonly exitCode = EXIT_CODES.unexpected.code;
}

/**
 * Makes sure client/dist holds the pages' scripts. An installed package ships them prebuilt
 * and never loads esbuild (a devDependency). Only a checkout (client/build.mjs present) builds
 * missing ones, or all of them with `force`.
 */
export async function ensureClientBuilt(force = false, root = packageRoot()): Promise<void> {
  const dist = join(root, 'client', 'dist');
  const missing = CLIENT_BUNDLES.filter((b) => !existsSync(join(dist, b)));
  if (!force && missing.length === 0) return;
  const buildScript = join(root, 'client', 'build.mjs');
  if (!existsSync(buildScript)) {
    throw new ClientPagesMissingError(
      `[client] ${missing.join(', ')} missing from ${dist} and this installation has no client/build.mjs to build them; reinstall live-foley (its package ships client/dist)`,
    );
  }
  const mod = (await import(pathToFileURL(buildScript).href)) as { buildClient: () => Promise<void> };
  await mod.buildClient();
}
