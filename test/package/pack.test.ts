/**
 * The published package, as a user gets it: `npm pack` of this checkout installed into an empty
 * project (offline-capable: npm's cache holds the dependencies). The library imports by its
 * package names, `foley` runs, and a render uses the package's own default bundle without
 * mediasoup (an optional peer dependency) or a models/ folder in the working directory.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/models/bundle.js';
import { CLIENT_BUNDLES } from '../../src/server/clientBuild.js';

const run = promisify(execFile);
const MAX_PACKED_BYTES = 25 * 1024 * 1024;
const INSTALL_ENV = {
  ...process.env,
  ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip',
  ONNXRUNTIME_NODE_INSTALL: 'skip',
};

interface PackResult {
  filename: string;
  size: number;
  files: { path: string }[];
}

/** Runs a command, keeping its exit code and output when it fails. */
async function runCode(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, env: INSTALL_ENV, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the npm package installed into another project', { timeout: 300_000 }, () => {
  let dir: string;
  let app: string;
  let packed: PackResult;
  const version = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: packageRoot(),
      env: INSTALL_ENV,
      maxBuffer: 16 * 1024 * 1024,
    });
    packed = (JSON.parse(stdout) as PackResult[])[0]!;
    app = join(dir, 'app');
    await run('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run(
      'npm',
      [
        'install',
        join(dir, packed.filename),
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
      ],
      { cwd: app, env: INSTALL_ENV, timeout: 240_000 },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('packs at most 25 MB: the library, the prebuilt pages and the default bundle without the teacher', () => {
    assert.ok(packed.size <= MAX_PACKED_BYTES, `packed ${packed.size} bytes, limit ${MAX_PACKED_BYTES}`);
    assert.equal(statSync(join(dir, packed.filename)).size, packed.size);
    const paths = new Set(packed.files.map((f) => f.path));
    for (const need of [
      'package.json',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/sfu/index.js',
      'dist/src/sfu/index.d.ts',
      'dist/src/cli/main.js',
      'dist/pipelines/live.js',
      'client/index.html',
      'client/publish.html',
      'models/default/manifest.json',
      'models/default/unet_student.onnx',
      'samples/clip.mp4',
      ...CLIENT_BUNDLES.map((b) => `client/dist/${b}`),
    ]) {
      assert.ok(paths.has(need), `${need} is in the package`);
    }
    const unwanted = [...paths].filter(
      (p) =>
        p.startsWith('dist/test/') ||
        p.startsWith('models/training/') ||
        p.startsWith('models/tiny-random/') ||
        p.startsWith('client/src/') ||
        p.startsWith('test/') ||
        p.startsWith('scripts/') ||
        p === 'models/default/unet_teacher.onnx',
    );
    assert.deepEqual(unwanted, []);
  });

  it('imports attachFoley from live-foley/sfu, and it with the shared-runner API from live-foley', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        [
          "import { attachFoley } from 'live-foley/sfu';",
          "import * as root from 'live-foley';",
          'const bundle = await root.loadBundle(root.defaultBundleDir());',
          'console.log(typeof attachFoley, root.attachFoley === attachFoley, typeof root.InferenceRunner.start,',
          '  bundle.manifest.name, root.LiveFoleyPipeline.models(bundle.manifest).length > 0);',
        ].join('\n'),
      ],
      { cwd: app },
    );
    assert.equal(stdout.trim(), 'function true function default true');
  });

  it('declares the types of both entry points, and mediasoup as an optional peer that is not installed', () => {
    const manifest = JSON.parse(
      readFileSync(join(app, 'node_modules', 'live-foley', 'package.json'), 'utf8'),
    );
    for (const entry of ['.', './sfu']) {
      const types = manifest.exports[entry].types as string;
      assert.ok(existsSync(join(app, 'node_modules', 'live-foley', types)), `${entry} types ${types} exist`);
    }
    assert.equal(manifest.peerDependencies.mediasoup, '>=3.8.4 <4');
    assert.equal(manifest.peerDependenciesMeta.mediasoup.optional, true);
    assert.equal(manifest.dependencies.mediasoup, undefined);
    assert.equal(existsSync(join(app, 'node_modules', 'mediasoup')), false);
  });

  it('runs foley --version', async () => {
    const { stdout } = await run(join(app, 'node_modules', '.bin', 'foley'), ['--version'], { cwd: app });
    assert.equal(stdout.trim(), version);
  });

  it("renders with the package's default bundle from a folder without models/, without mediasoup", async () => {
    const out = join(app, 'clip-foley.wav');
    const clip = join(app, 'node_modules', 'live-foley', 'samples', 'clip.mp4');
    const r = await runCode(join(app, 'node_modules', '.bin', 'foley'), ['render', clip, '-o', out], app);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(statSync(out).size > 44, 'a WAV with samples');
  });

  it('foley serve without mediasoup says which package to install', async () => {
    const r = await runCode(join(app, 'node_modules', '.bin', 'foley'), ['serve', '--port', '0'], app);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^foley: \[serve\] needs mediasoup, a peer dependency .* npm install mediasoup@3\.8\.4/,
    );
  });
});
