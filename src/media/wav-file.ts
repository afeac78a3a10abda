/** RIFF/WAVE encoding and decoding of mono audio: 16-bit PCM out, 16-bit PCM or 32-bit float in. */
import { MediaInputError } from '../errors.js';

export const WAV_HEADER_BYTES = 44;

/** The 44-byte RIFF/WAVE header of mono 16-bit PCM with `dataBytes` of samples. */
export function wavHeader(sampleRate: number, dataBytes: number): Buffer {
  const out = Buffer.alloc(WAV_HEADER_BYTES);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16); // fmt chunk size
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28); // byte rate
  out.writeUInt16LE(2, 32); // block align
  out.writeUInt16LE(16, 34); // bits per sample
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  return out;
}

/** Mono float samples in [-1, 1] -> little-endian 16-bit PCM (clipped, rounded). */
export function encodePcm16(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    out.writeInt16LE(Math.round(s * 32767), 2 * i);
  }
  return out;
}

/** Mono float samples in [-1, 1] -> 16-bit PCM WAV bytes (clipped, rounded). */
export function encodeWav(samples: Float32Array, sampleRate: number): Buffer {
  return Buffer.concat([wavHeader(sampleRate, samples.length * 2), encodePcm16(samples)]);
}

/** Reads a mono (or first channel of) 16-bit PCM or 32-bit float WAV. */
export function decodeWav(bytes: Buffer, label = 'wav'): { samples: Float32Array; sampleRate: number } {
  if (
    bytes.length < 12 ||
    bytes.toString('ascii', 0, 4) !== 'RIFF' ||
    bytes.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw new MediaInputError(`[media:${label}] not a RIFF/WAVE file`);
  }
  let offset = 12;
  let format = 0;
  let channels = 0;
  let sampleRate = 0;
  let bits = 0;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = bytes.readUInt16LE(body);
      channels = bytes.readUInt16LE(body + 2);
      sampleRate = bytes.readUInt32LE(body + 4);
      bits = bytes.readUInt16LE(body + 14);
    } else if (id === 'data') {
      const frameBytes = (bits / 8) * channels;
      const count = Math.floor(Math.min(size, bytes.length - body) / frameBytes);
      const samples = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const at = body + i * frameBytes;
        if (format === 1 && bits === 16) samples[i] = bytes.readInt16LE(at) / 32768;
        else if (format === 3 && bits === 32) samples[i] = bytes.readFloatLE(at);
        else
          throw new MediaInputError(
            `[media:${label}] unsupported WAV encoding (format ${format}, ${bits} bits)`,
          );
      }
      return { samples, sampleRate };
    }
    offset = body + size + (size % 2);
  }
  throw new MediaInputError(`[media:${label}] WAV has no data chunk`);
}
