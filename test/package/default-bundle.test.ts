import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { BundleError } from '../../src/errors.js';
import { defaultBundleDir, loadBundle, packageRoot } from '../../src/models/bundle.js';
import { CLIENT_BUNDLES, ClientPagesMissingError, ensureClientBuilt } from '../../src/server/clientBuild.js';
import { FfmpegRtpSource } from '../../src/server/FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS } from '../../src/server/Room.js';
import { attachFoley } from '../../src/sfu/index.js';
import { FIXTURES_DIR } from '../helpers/media-fixtures.js';

/** A copy of models/default without the files named (the published package leaves out the teacher). */
function copyDefaultBundleWithout(dir: string, ...files: string[]): string {
  const copy = join(dir, 'default');
  cpSync(defaultBundleDir(), copy, {
    recursive: true,
    filter: (src) => !files.some((f) => src.endsWith(`/${f}`)) && !src.includes('/figures'),
  });
  return copy;
}

describe('the default bundle as the package ships it', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'foley-package-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads without the optional teacher UNet, as if the manifest never named it', async () => {
    const full = await loadBundle(defaultBundleDir());
    assert.ok(full.manifest.models.unet_teacher, 'the checkout has the teacher');
    assert.equal(full.manifest.sampling.teacher?.unet, 'unet_teacher');

    const bundle = await loadBundle(
      copyDefaultBundleWithout(mkdtempSync(join(dir, 'a-')), 'unet_teacher.onnx'),
    );
    assert.equal(bundle.manifest.models.unet_teacher, undefined);
    assert.equal(bundle.manifest.sampling.teacher, undefined);
    assert.ok(bundle.manifest.models.unet_student);
    assert.ok(bundle.manifest.models.eval_audio_classifier);
  });

  it('still refuses a bundle without the UNet it samples with', async () => {
    const copy = copyDefaultBundleWithout(mkdtempSync(join(dir, 'b-')), 'unet_student.onnx');
    await assert.rejects(
      loadBundle(copy),
      (e: unknown) =>
        e instanceof BundleError &&
        /\[bundle:default, model:unet_student\] file unet_student\.onnx not found/.test(e.message),
    );
  });

  it('is the package root models/default, whatever the working directory', () => {
    assert.equal(defaultBundleDir(), join(packageRoot(), 'models', 'default'));
  });
});

describe('attachFoley without bundleDir', () => {
  let worker: ms.Worker;
  let elsewhere: string;
  const startCwd = process.cwd();
  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    elsewhere = mkdtempSync(join(tmpdir(), 'foley-app-'));
  });
  after(() => {
    process.chdir(startCwd);
    worker.close();
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it("uses the package's default bundle when the app runs from another folder", async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const source = await FfmpegRtpSource.start({
      router,
      clip: join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'),
      codec: 'vp8',
    });
    process.chdir(elsewhere);
    try {
      const foley = await attachFoley({ router, producer: source.producer });
      try {
        assert.equal(foley.runner.bundle.dir, defaultBundleDir());
        assert.equal(foley.runner.bundle.manifest.name, 'default');
      } finally {
        foley.close();
      }
    } finally {
      process.chdir(startCwd);
      source.close();
      router.close();
    }
  });
});

describe('ensureClientBuilt', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'foley-installed-'));
    mkdirSync(join(root, 'client'), { recursive: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('names the missing scripts when an installation has no client/build.mjs to build them', async () => {
    await assert.rejects(
      ensureClientBuilt(false, root),
      (e: unknown) =>
        e instanceof ClientPagesMissingError &&
        e.message.includes(`${CLIENT_BUNDLES.join(', ')} missing from ${join(root, 'client', 'dist')}`) &&
        /reinstall live-foley/.test(e.message),
    );
  });

  it('uses prebuilt client/dist as it is, without esbuild or a build script', async () => {
    mkdirSync(join(root, 'client', 'dist'), { recursive: true });
    for (const f of CLIENT_BUNDLES) {
      writeFileSync(join(root, 'client', 'dist', f), '// prebuilt\n');
    }
    await ensureClientBuilt(false, root);
  });
});
