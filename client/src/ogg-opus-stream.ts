/**
 * The room's foley as the /listen socket sends it (one Ogg page per binary message, Opus
 * mono at 48 kHz, 20 ms per page), decoded by opus-recorder's decoder worker. Shared by the
 * OBS page (which plays it) and the overlay (which draws it).
 *
 * It keeps the stream clock: every page's arrival against its granule gives an arrival
 * line (the earliest over a short window), so a sample at granule g was due at
 * line + (g - preSkip) / 48 kHz on the performance clock.
 */

export const OPUS_SAMPLE_RATE = 48000;
/** Samples per Opus packet the server sends (20 ms). */
export const PACKET_SAMPLES = 960;
/** Arrivals the earliest-arrival line is taken over, ms. */
const ARRIVAL_WINDOW_MS = 2000;

export type OggPageInfo =
  | { kind: 'head'; preSkip: number }
  | { kind: 'tags' }
  | { kind: 'audio'; granule: number };

/** What one Ogg page holds; null for bytes that are not an Ogg page. */
export function readOggPage(page: Uint8Array): OggPageInfo | null {
  if (page.length < 27 || page[0] !== 0x4f || page[1] !== 0x67 || page[2] !== 0x67 || page[3] !== 0x53)
    return null;
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const payload = 27 + page[26]!;
  const magic = String.fromCharCode(...page.subarray(payload, payload + 8));
  if (magic === 'OpusHead') return { kind: 'head', preSkip: view.getUint16(payload + 10, true) };
  if (magic === 'OpusTags') return { kind: 'tags' };
  return { kind: 'audio', granule: Number(view.getBigInt64(6, true)) };
}

/** Decoded PCM (mono, 48 kHz) and the granule of its first sample. */
export type DecodedBlockHandler = (pcm: Float32Array, granule: number) => void;

/**
 * One connection's stream: feed it every binary message; it decodes them and hands out
 * PCM blocks tagged with their stream position. A new connection needs a new one (the
 * stream restarts with its header pages). close() is safe to call twice.
 */
export class OggOpusStream {
  /** Opus pre-skip of the stream (codec delay), samples. */
  preSkip = 0;
  pages = 0;
  decodedBlocks = 0;
  readonly #decoder: Worker;
  /** Per audio page: arrival (performance ms) minus its first sample's granule time. */
  #arrivalLines: Array<{ atMs: number; lineMs: number }> = [];
  #lastGranule: number | null = null;
  /** Granule of the first decoded sample. */
  #decodeBaseGranule: number | null = null;
  #decodedSamples = 0;
  #closed = false;

  constructor(onDecoded: DecodedBlockHandler, decoderUrl = '/vendor/decoderWorker.min.js') {
    this.#decoder = new Worker(decoderUrl);
    this.#decoder.postMessage({
      command: 'init',
      decoderSampleRate: OPUS_SAMPLE_RATE,
      outputBufferSampleRate: OPUS_SAMPLE_RATE,
      bufferLength: PACKET_SAMPLES,
      numberOfChannels: 1,
    });
    this.#decoder.onmessage = (event: MessageEvent<Float32Array[] | null>) => {
      if (this.#closed || !event.data || this.#decodeBaseGranule === null) return;
      this.decodedBlocks++;
      const pcm = event.data[0]!;
      const granule = this.#decodeBaseGranule + this.#decodedSamples;
      this.#decodedSamples += pcm.length;
      onDecoded(pcm, granule);
    };
  }

  /** One binary message of the socket, arrived at `nowMs` (performance clock). */
  push(page: Uint8Array, nowMs: number): void {
    if (this.#closed) return;
    this.pages++;
    const info = readOggPage(page);
    if (info?.kind === 'head') this.preSkip = info.preSkip;
    else if (info?.kind === 'audio') {
      const startGranule =
        this.#lastGranule !== null && info.granule - this.#lastGranule <= PACKET_SAMPLES * 4
          ? this.#lastGranule
          : info.granule - PACKET_SAMPLES;
      this.#lastGranule = info.granule;
      this.#decodeBaseGranule ??= startGranule;
      this.#arrivalLines.push({ atMs: nowMs, lineMs: nowMs - (startGranule * 1000) / OPUS_SAMPLE_RATE });
      while (this.#arrivalLines.length && this.#arrivalLines[0]!.atMs < nowMs - ARRIVAL_WINDOW_MS)
        this.#arrivalLines.shift();
    }
    this.#decoder.postMessage({ command: 'decode', pages: page });
  }

  /** Earliest arrival line: a packet starting at granule g could arrive at line + g/48 at best. */
  arrivalLineMs(): number | null {
    let line: number | null = null;
    for (const a of this.#arrivalLines) if (line === null || a.lineMs < line) line = a.lineMs;
    return line;
  }

  /** Performance-clock ms at which the sample at `granule` was due to arrive (null before any page). */
  dueMs(granule: number): number | null {
    const line = this.arrivalLineMs();
    return line === null ? null : line + ((granule - this.preSkip) * 1000) / OPUS_SAMPLE_RATE;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#decoder.terminate();
  }
}
