/**
 * RxJS operator where a sample leaves: a segment's 48 kHz audio -> 20 ms Opus packets, paced
 * by the scheduler's clock. The packet carrying the sound of media time T is due at
 * T + anchor + offsetMs; packets go out when due whether or not their audio is ready (missing
 * audio is silence), so delay never accumulates. A stalled event loop skips ahead instead of
 * bursting old audio. Each packet reports the arrival → send latency of the frames whose
 * generated sound it carries. Emits `idle` when no frame came for `stallMs`.
 *
 * Within a segment, packets start on a grid of media positions (`packetPhase48k` modulo 960),
 * the positions where chunks' audio starts: a chunk then need only be in by the due time of its
 * own first packet, not a packet earlier (up to 20 ms sooner), as when packets fall anywhere.
 * The anchor's slew moves due times, not audio, so a segment's packets carry contiguous audio;
 * a new segment moves the next packet's due time onto its grid (by up to 10 ms either way).
 *
 * Time comes from `scheduler` (now() and the tick timer), so tests run it in virtual time.
 */
import { interval, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import {
  OPUS_FRAME_SAMPLES,
  OPUS_SAMPLE_RATE,
  type OpusEncoder,
  type OpusPacket,
} from '../../src/media/opus-encoder.js';
import { AudioTimeline } from './AudioTimeline.js';
import type { LiveAudio48k } from './chunk-audio.js';
import type { SegmentTiming } from './SegmentTiming.js';

export const PACKET_MS = (OPUS_FRAME_SAMPLES * 1000) / OPUS_SAMPLE_RATE; // 20
const PACER_TICK_MS = 5;
/** A tick this late (event loop stalled) skips the missed packets, ms. */
const STALL_SKIP_MS = 200;
/** Slack for rounding in a chunk's deadline: packets start on the grid to within a sample, ms. */
export const PACKET_GRID_SLACK_MS = 0.1;

export interface LivePacket extends OpusPacket {
  /** Scheduler time (performance.now() live) when the packet was handed out. */
  sentMs: number;
  /** True when the packet carries generated audio (not silence). */
  generated: boolean;
  /** Latency of each grid frame whose sound this packet carries, ms. */
  frameLatenciesMs: number[];
  /** Peak absolute sample value of the packet's audio. */
  peak: number;
}

export type PacerInput = { case: 'segment'; value: SegmentTiming } | { case: 'audio'; value: LiveAudio48k };
export type PacerOutput = { case: 'packet'; value: LivePacket } | { case: 'idle' };

export interface PaceOpusOptions {
  scheduler: SchedulerLike;
  offsetMs: number;
  frameMs: number;
  chunkFrames: number;
  stallMs: number;
  /** Media positions (48 kHz samples, modulo 960) where a segment's packets start. Default 0. */
  packetPhase48k?: number;
  /** Owned by the caller (its pre-skip goes into Ogg headers). */
  encoder: OpusEncoder;
}

export function paceOpus(options: PaceOpusOptions): OperatorFunction<PacerInput, PacerOutput> {
  const { scheduler, offsetMs, frameMs, encoder } = options;
  return (source) =>
    new Observable<PacerOutput>((subscriber) => {
      let timing: SegmentTiming | null = null;
      let timeline: AudioTimeline | null = null;
      let active = false;
      let startMs = scheduler.now();
      let packetIndex = 0;
      const phase = options.packetPhase48k ?? 0;

      /** The shift (ms) that puts a packet due at `dueMs` on the segment's packet grid. */
      const gridShiftMs = (dueMs: number): number => {
        if (!timing) return 0;
        const position =
          ((dueMs - offsetMs - timing.anchorMs - timing.originMediaMs) * OPUS_SAMPLE_RATE) / 1000;
        const off = position - phase;
        const wrapped = off - OPUS_FRAME_SAMPLES * Math.round(off / OPUS_FRAME_SAMPLES);
        return Math.abs(wrapped) < 0.01 ? 0 : (-wrapped * 1000) / OPUS_SAMPLE_RATE;
      };

      const send = (dueMs: number, nowMs: number): void => {
        const pcm = new Float32Array(OPUS_FRAME_SAMPLES);
        let generated = false;
        const latencies: number[] = [];
        if (timing && timeline) {
          // The media time this packet carries: its due time minus the offset and anchor.
          const mediaMs = dueMs - offsetMs - timing.anchorMs - timing.originMediaMs;
          const complete = timeline.read(Math.round((mediaMs * OPUS_SAMPLE_RATE) / 1000), pcm);
          generated = complete && timing.isGenerated(Math.floor(mediaMs / frameMs));
          if (generated) {
            for (
              let k = Math.max(0, Math.ceil(mediaMs / frameMs));
              k * frameMs < mediaMs + PACKET_MS && k < timing.filled;
              k++
            ) {
              if (timing.isGenerated(k)) latencies.push(nowMs - timing.arrivalMs(k));
            }
          }
        }
        let peak = 0;
        for (let i = 0; i < pcm.length; i++) peak = Math.max(peak, Math.abs(pcm[i]!));
        for (const p of encoder.encode(pcm)) {
          subscriber.next({
            case: 'packet',
            value: {
              data: p.data,
              samplePosition: p.samplePosition,
              sentMs: nowMs,
              generated,
              frameLatenciesMs: latencies,
              peak,
            },
          });
        }
      };

      const tick = (): void => {
        const nowMs = scheduler.now();
        let dueMs = startMs + packetIndex * PACKET_MS;
        if (nowMs - dueMs > STALL_SKIP_MS) {
          const skipped = Math.floor((nowMs - dueMs) / PACKET_MS);
          packetIndex += skipped;
          dueMs += skipped * PACKET_MS;
        }
        for (;;) {
          let shiftMs = gridShiftMs(dueMs);
          startMs += shiftMs;
          dueMs += shiftMs;
          if (dueMs > nowMs) break;
          if (timing) {
            // The anchor's step moves this packet's due time, not its audio: it stays on the grid.
            timing.slew();
            shiftMs = gridShiftMs(dueMs);
            startMs += shiftMs;
            dueMs += shiftMs;
          }
          send(dueMs, nowMs);
          packetIndex++;
          dueMs += PACKET_MS;
        }
        const stalled = timing === null || nowMs - timing.lastArrivalMs > options.stallMs;
        if (!stalled) active = true;
        else if (active) {
          active = false;
          subscriber.next({ case: 'idle' });
        }
      };

      const ticks = interval(PACER_TICK_MS, scheduler).subscribe(tick);
      const input = source.subscribe({
        next: (item) => {
          if (item.case === 'segment') {
            timing = item.value;
            timeline = new AudioTimeline();
            return;
          }
          const { audio, position48k, samples48k } = item.value;
          timing?.markGenerated(audio.chunk * options.chunkFrames, options.chunkFrames, audio.generated);
          timeline?.write(position48k, samples48k);
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => {
        ticks.unsubscribe();
        input.unsubscribe();
        timing = null;
        timeline = null;
      };
    });
}
