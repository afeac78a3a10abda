import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../src/media/node-av-setup.js';
import { Decoder, Demuxer } from 'node-av/api';
import { OPUS_FRAME_SAMPLES, OpusEncoder } from '../../src/media/opus-encoder.js';
import { OggOpusMuxer, oggCrc } from '../../src/server/OggOpusMuxer.js';

describe('OggOpusMuxer', () => {
  it('uses the Ogg CRC (poly 0x04c11db7, no reflection)', () => {
    assert.equal(oggCrc(Buffer.from('123456789')), 0x89a1897f);
  });

  it('writes a stream FFmpeg demuxes and decodes as Opus, header pages first', async () => {
    const encoder = new OpusEncoder();
    const muxer = new OggOpusMuxer(1234, encoder.preSkipSamples);
    const pages = muxer.headerPages();
    assert.equal(pages[0]!.subarray(28, 36).toString('ascii'), 'OpusHead');
    assert.equal(pages[0]![5], 0x02); // beginning of stream
    let granule = 0n;
    for (let i = 0; i < 50; i++) {
      const pcm = new Float32Array(OPUS_FRAME_SAMPLES).map(
        (_, j) => 0.3 * Math.sin((2 * Math.PI * 440 * (i * OPUS_FRAME_SAMPLES + j)) / 48000),
      );
      for (const packet of encoder.encode(pcm)) {
        granule += BigInt(OPUS_FRAME_SAMPLES);
        pages.push(muxer.audioPage(packet.data, granule));
      }
    }
    encoder.close();
    const dir = mkdtempSync(join(tmpdir(), 'ogg-'));
    try {
      const file = join(dir, 'out.opus');
      writeFileSync(file, Buffer.concat(pages));
      await using input = await Demuxer.open(file);
      const stream = input.audio()!;
      assert.equal(stream.codecpar.sampleRate, 48000);
      using decoder = await Decoder.create(stream);
      let samples = 0;
      let peak = 0;
      for await (const packet of input.packets(stream.index)) {
        for (const frame of await decoder.decodeAll(packet)) {
          samples += frame.nbSamples;
          const data = frame.data?.[0];
          if (data) {
            const f = new Float32Array(data.buffer, data.byteOffset, Math.floor(data.byteLength / 4));
            for (const v of f) peak = Math.max(peak, Math.abs(v));
          }
          frame.free();
        }
        packet?.free();
      }
      assert.ok(samples >= 40 * OPUS_FRAME_SAMPLES, `decoded ${samples} samples`);
      assert.ok(peak > 0.1 && peak < 0.5, `peak ${peak}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
