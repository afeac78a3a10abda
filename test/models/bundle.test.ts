import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BundleError } from '../../src/errors.js';
import { bundleFileDigests, changedBundleFiles, loadBundle } from '../../src/models/bundle.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { brokenBundleCopy } from '../helpers/tiny-bundle.js';

describe('loadBundle', () => {
  it('loads the tiny-random bundle', async () => {
    const b = await loadBundle(TINY_BUNDLE_DIR);
    assert.equal(b.manifest.name, 'tiny-random');
    assert.equal(b.dir, TINY_BUNDLE_DIR);
  });

  it('reports a missing folder with what to pass instead', async () => {
    await assert.rejects(loadBundle('/nonexistent/models/default'), (e: unknown) => {
      assert.ok(e instanceof BundleError);
      assert.match(e.message, /model folder not found: \/nonexistent\/models\/default.*--model DIR/);
      return true;
    });
  });

  it('reports a folder without manifest.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'foley-empty-'));
    try {
      await assert.rejects(loadBundle(dir), /manifest\.json\] not found/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('reports a manifest that is not JSON', async () => {
    const copy = brokenBundleCopy(() => undefined);
    try {
      writeFileSync(join(copy.dir, 'manifest.json'), '{ not json');
      await assert.rejects(loadBundle(copy.dir), /manifest\.json\] is not valid JSON/);
    } finally {
      copy.cleanup();
    }
  });

  it('names the model whose ONNX file is missing', async () => {
    const copy = brokenBundleCopy(() => undefined);
    try {
      unlinkSync(join(copy.dir, 'vocoder.onnx'));
      await assert.rejects(
        loadBundle(copy.dir),
        /\[bundle:tiny-random, model:vocoder\] file vocoder\.onnx not found/,
      );
    } finally {
      copy.cleanup();
    }
  });

  it('refuses a model file that is a symlink to a file outside the bundle folder', async () => {
    const copy = brokenBundleCopy(() => undefined);
    const outside = join(copy.dir, '..', 'outside.onnx');
    try {
      writeFileSync(outside, readFileSync(join(copy.dir, 'vocoder.onnx')));
      unlinkSync(join(copy.dir, 'vocoder.onnx'));
      symlinkSync(outside, join(copy.dir, 'vocoder.onnx'));
      await assert.rejects(
        loadBundle(copy.dir),
        (e: unknown) =>
          e instanceof BundleError &&
          /\[bundle:tiny-random, model:vocoder\] file vocoder\.onnx resolves to .*outside\.onnx, outside the bundle folder/.test(
            e.message,
          ),
      );
    } finally {
      copy.cleanup();
    }
  });
});

describe('bundleFileDigests', () => {
  it('names every file that changed, sub-folders included, and passes over the evaluation reports', async () => {
    const copy = brokenBundleCopy(() => undefined);
    try {
      const bundle = await loadBundle(copy.dir);
      mkdirSync(join(copy.dir, 'train'));
      writeFileSync(join(copy.dir, 'train', 'weights.pt'), 'a');
      const was = await bundleFileDigests(bundle);
      assert.ok(
        was['manifest.json'] && was['vocoder.onnx'] && was['train/weights.pt'],
        Object.keys(was).join(),
      );
      assert.deepEqual(changedBundleFiles(was, await bundleFileDigests(bundle)), []);

      writeFileSync(join(copy.dir, 'eval.json'), '{}');
      writeFileSync(join(copy.dir, 'REPORT.md'), '# report');
      assert.deepEqual(
        changedBundleFiles(was, await bundleFileDigests(bundle)),
        [],
        'reports are not inputs',
      );

      writeFileSync(join(copy.dir, 'train', 'weights.pt'), 'b');
      const vocoder = readFileSync(join(copy.dir, 'vocoder.onnx'));
      vocoder[vocoder.length - 1] = (vocoder[vocoder.length - 1] ?? 0) ^ 1;
      writeFileSync(join(copy.dir, 'vocoder.onnx'), vocoder);
      writeFileSync(join(copy.dir, 'extra.json'), '{}');
      assert.deepEqual(changedBundleFiles(was, await bundleFileDigests(bundle)), [
        'extra.json',
        'train/weights.pt',
        'vocoder.onnx',
      ]);
    } finally {
      copy.cleanup();
    }
  });
});
