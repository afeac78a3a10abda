/**
 * Reads the audio track of a video (any container node-av opens) as mono float32 at the
 * model's sample rate: the reference a label-free evaluation scores generated audio against.
 */
import '../media/node-av-setup.js';
import { existsSync } from 'node:fs';
import { Decoder, Demuxer, FilterAPI } from 'node-av/api';
import { MediaInputError } from '../errors.js';

/** Why a video cannot give a reference soundtrack; the eval names it and skips the video. */
export class SoundtrackError extends MediaInputError {}

export async function readSoundtrack(input: string, sampleRate: number): Promise<Float32Array> {
  if (!existsSync(input)) throw new SoundtrackError(`[soundtrack:${input}] does not exist`);
  let demuxer: Demuxer;
  try {
    demuxer = await Demuxer.open(input);
  } catch (error) {
    throw new SoundtrackError(`[soundtrack:${input}] cannot open as media: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let decoder: Decoder | undefined;
  let filter: FilterAPI | undefined;
  try {
    const stream = demuxer.audio();
    if (!stream) throw new SoundtrackError(`[soundtrack:${input}] has no audio track`);
    try {
      decoder = Decoder.createSync(stream, { exitOnError: true });
    } catch (error) {
      throw new SoundtrackError(`[soundtrack:${input}] no decoder for the audio track`, { cause: error });
    }
    filter = FilterAPI.create(`aresample=${sampleRate},aformat=sample_fmts=flt:channel_layouts=mono`, {
      threads: 1,
    });
    const chunks: Float32Array[] = [];
    let total = 0;
    try {
      for (const frame of filter.framesSync(decoder.framesSync(demuxer.packetsSync(stream.index)))) {
        if (!frame) continue;
        const bytes = frame.toBuffer();
        frame.free();
        const copy = new Float32Array(bytes.byteLength / 4);
        new Uint8Array(copy.buffer).set(bytes);
        chunks.push(copy);
        total += copy.length;
      }
    } catch (error) {
      throw new SoundtrackError(
        `[soundtrack:${input}] decoding the audio track failed after ${total} samples: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const out = new Float32Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    filter?.close();
    decoder?.close();
    await demuxer.close();
  }
}
