/** Running counters of a live pipeline, kept from the events it emits. */
import type { LiveAudio } from './chunk-audio.js';
import type { LivePacket } from './pace-opus.js';

/** Latency samples kept at most (about 40 minutes of frames). */
const MAX_LATENCY_SAMPLES = 200_000;

export interface LiveStats {
  offsetMs: number;
  chunksGenerated: number;
  chunksSkipped: number;
  chunksLate: number;
  levelCounts: number[];
  /** Wall time spent generating chunks (features → waveform), ms. */
  computeMs: number;
  /** Audio generated, ms (chunks × chunk length). */
  generatedAudioMs: number;
  /** Changes of the governor's level in order: [time since start ms, level] (skipped chunks are counted apart). */
  levelChanges: Array<[number, number]>;
  currentLevel: number;
  packetsSent: number;
  packetsGenerated: number;
  segments: number;
  framesIn: number;
  /** Grid slots filled with the last picture because their frame was lost or too late for its chunk. */
  framesBridged: number;
  /** Every frame's arrival → packet latency, ms (bounded history). */
  latenciesMs: number[];
  /** Wall time (performance.now) of each latency sample, ms. */
  latencyTimesMs: number[];
  idle: boolean;
}

export class LiveStatsCounter {
  readonly stats: LiveStats;

  constructor(
    levels: number,
    readonly startMs: number,
  ) {
    this.stats = {
      offsetMs: 0,
      chunksGenerated: 0,
      chunksSkipped: 0,
      chunksLate: 0,
      levelCounts: new Array<number>(levels).fill(0),
      computeMs: 0,
      generatedAudioMs: 0,
      levelChanges: [],
      currentLevel: 0,
      packetsSent: 0,
      packetsGenerated: 0,
      segments: 0,
      framesIn: 0,
      framesBridged: 0,
      latenciesMs: [],
      latencyTimesMs: [],
      idle: true,
    };
  }

  countChunk(audio: LiveAudio, chunkMs: number): void {
    const s = this.stats;
    if (audio.generated) {
      s.chunksGenerated++;
      s.levelCounts[audio.level]!++;
      s.computeMs += audio.computeMs;
      s.generatedAudioMs += chunkMs;
      if (audio.late) s.chunksLate++;
    } else {
      s.chunksSkipped++;
      s.levelCounts[s.levelCounts.length - 1]!++;
    }
  }

  countLevelChange(level: number, nowMs: number): void {
    this.stats.currentLevel = level;
    this.stats.levelChanges.push([Math.round(nowMs - this.startMs), level]);
  }

  countPacket(packet: LivePacket): void {
    const s = this.stats;
    s.packetsSent++;
    if (packet.generated) s.packetsGenerated++;
    if (s.latenciesMs.length < MAX_LATENCY_SAMPLES) {
      for (const latencyMs of packet.frameLatenciesMs) {
        s.latenciesMs.push(latencyMs);
        s.latencyTimesMs.push(packet.sentMs);
      }
    }
  }
}
