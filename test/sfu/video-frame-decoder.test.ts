import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UnsupportedCodecError } from '../../src/sfu/errors.js';
import { VideoFrameDecoder } from '../../src/sfu/VideoFrameDecoder.js';

/** VP8 frames of an IVF file made by ffmpeg from a test pattern. */
function vp8Frames(dir: string, size: string, count: number): Buffer[] {
  const file = join(dir, `${size}.ivf`);
  execFileSync('ffmpeg', [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${size}:rate=25`,
    '-frames:v',
    String(count),
    '-c:v',
    'libvpx',
    '-f',
    'ivf',
    file,
  ]);
  const ivf = readFileSync(file);
  const frames: Buffer[] = [];
  for (let off = 32; off + 12 <= ivf.length; ) {
    const size = ivf.readUInt32LE(off);
    frames.push(ivf.subarray(off + 12, off + 12 + size));
    off += 12 + size;
  }
  return frames;
}

describe('VideoFrameDecoder', () => {
  it('decodes VP8 to the model size and follows a change of resolution mid-stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vp8-'));
    try {
      const decoder = await VideoFrameDecoder.create('video/VP8', 96, 96);
      const sizes: string[] = [];
      const skipped: boolean[] = [];
      let ts = 0;
      for (const [size, n] of [
        ['320x240', 5],
        ['160x120', 5],
      ] as const) {
        for (const [i, data] of vp8Frames(dir, size, n).entries()) {
          ts += 3600; // 40 ms at 90 kHz
          const out = await decoder.decode({
            data,
            rtpTimestamp: ts,
            keyframe: i === 0,
            arrivalMs: 0,
          });
          assert.ok(out, `frame ${i} of ${size} decoded`);
          assert.equal(out.rgb.length, 96 * 96 * 3);
          sizes.push(`${out.sourceWidth}x${out.sourceHeight}`);
          skipped.push(decoder.loopFilterSkipped);
        }
      }
      assert.deepEqual([...new Set(sizes)], ['320x240', '160x120']);
      // 320x240 is over twice 96x96 on both sides: no loop filter; 160x120 is not.
      assert.deepEqual(skipped, [...Array(5).fill(true), ...Array(5).fill(false)]);
      decoder.close();
      decoder.close();
      assert.equal(
        await decoder.decode({ data: Buffer.alloc(10), rtpTimestamp: 1, keyframe: false, arrivalMs: 0 }),
        null,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts garbage as a decode error instead of throwing', async () => {
    const decoder = await VideoFrameDecoder.create('video/VP8', 96, 96);
    const out = await decoder.decode({
      data: Buffer.from([0xff, 0x00, 0x13, 0x37, 1, 2, 3, 4]),
      rtpTimestamp: 1,
      keyframe: true,
      arrivalMs: 0,
    });
    assert.equal(out, null);
    decoder.close();
  });

  it('names the supported codecs when asked for another', async () => {
    await assert.rejects(
      VideoFrameDecoder.create('video/AV1', 96, 96),
      (e: Error) => e instanceof UnsupportedCodecError && /VP8, video\/H264/.test(e.message),
    );
  });
});
