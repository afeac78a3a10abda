// Bundles the pages' scripts into client/dist with esbuild (devDependency).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export async function buildClient() {
  await build({
    entryPoints: ['publish', 'obs', 'overlay', 'viewer', 'jitter-worklet'].map((n) =>
      join(here, 'src', `${n}.ts`),
    ),
    outdir: join(here, 'dist'),
    bundle: true,
    format: 'esm',
    target: 'chrome100',
    sourcemap: true,
    logLevel: 'warning',
  });
}
if (process.argv[1] === fileURLToPath(import.meta.url)) await buildClient();
