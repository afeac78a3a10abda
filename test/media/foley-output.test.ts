import '../../src/media/node-av-setup.js';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Demuxer } from 'node-av/api';
import { OutputError } from '../../src/errors.js';
import { outputKindOf, writeFoleyOutput } from '../../src/media/foley-output.js';
import { decodeWav } from '../../src/media/wav-file.js';
import { makeMediaFixtures } from '../helpers/media-fixtures.js';

const tone = (seconds: number): Float32Array =>
  Float32Array.from({ length: seconds * 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));

async function videoPacketSizes(
  path: string,
): Promise<{ sizes: number[]; audio: { codec: string; rate: number } | null }> {
  const d = await Demuxer.open(path);
  const v = d.video()!;
  const a = d.audio();
  const sizes: number[] = [];
  for (const p of d.packetsSync(v.index)) {
    if (!p) break;
    sizes.push(p.size);
    p.free();
  }
  const audio = a ? { codec: String(a.codecpar.codecId), rate: a.codecpar.sampleRate } : null;
  await d.close();
  return { sizes, audio };
}

describe('writeFoleyOutput', () => {
  const f = makeMediaFixtures();
  after(() => f.cleanup());

  it('writes a 16-bit WAV at the model rate that reads back within quantization', async () => {
    const out = join(f.dir, 'out.wav');
    const w = tone(1);
    await writeFoleyOutput({ outputPath: out, waveform: w, sampleRate: 16000, videoInput: f.clip });
    const back = decodeWav(readFileSync(out));
    assert.equal(back.sampleRate, 16000);
    assert.equal(back.samples.length, w.length);
    assert.ok(back.samples.every((s, i) => Math.abs(s - w[i]!) < 1e-4));
  });

  for (const [name, ext] of [
    ['MP4 with AAC', 'mp4'],
    ['MKV with Opus', 'mkv'],
  ] as const) {
    it(`muxes ${name} at 48 kHz with the video packets copied unchanged`, async () => {
      const out = join(f.dir, `out.${ext}`);
      await writeFoleyOutput({ outputPath: out, waveform: tone(2), sampleRate: 16000, videoInput: f.clip });
      const src = await videoPacketSizes(f.clip);
      const dst = await videoPacketSizes(out);
      assert.deepEqual(dst.sizes, src.sizes);
      assert.ok(dst.audio);
      assert.equal(dst.audio.rate, 48000);
    });
  }

  it('leaves no file behind when the output folder is not writable', async (t) => {
    if (process.getuid?.() === 0) {
      // root ignores permission bits; a path under a regular file is unwritable for anyone.
      await assert.rejects(
        writeFoleyOutput({
          outputPath: join(f.clip, 'x.wav'),
          waveform: tone(1),
          sampleRate: 16000,
          videoInput: f.clip,
        }),
        OutputError,
      );
      return;
    }
    const dir = join(f.dir, 'ro');
    mkdirSync(dir);
    chmodSync(dir, 0o500);
    t.after(() => chmodSync(dir, 0o700));
    await assert.rejects(
      writeFoleyOutput({
        outputPath: join(dir, 'x.wav'),
        waveform: tone(1),
        sampleRate: 16000,
        videoInput: f.clip,
      }),
      /not writable/,
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  it('removes the temporary file when muxing fails (input without video)', async () => {
    const out = join(f.dir, 'fail.mp4');
    await assert.rejects(
      writeFoleyOutput({ outputPath: out, waveform: tone(1), sampleRate: 16000, videoInput: f.audioOnly }),
      /has no video stream/,
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(
      readdirSync(f.dir).filter((n) => n.includes('.tmp')),
      [],
    );
  });

  it('refuses unknown output extensions', () => {
    assert.throws(() => outputKindOf('x.avi'), /unknown output type "\.avi"; use \.wav, \.mp4 or \.mkv/);
  });
});
