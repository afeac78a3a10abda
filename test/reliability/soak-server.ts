/**
 * The server process of `npm run soak`: a FoleyServer started as `foley serve` starts it
 * (default bundle, one inference worker, default limits), in a child process of its own so
 * its RSS is the server's alone. It is driven over IPC by soak.ts: `publish` loops the clip
 * into N rooms through the live path (the `serve --demo` publisher: ffmpeg RTP into a
 * mediasoup producer, foley attached as to a page's camera), `sample` answers each room's
 * latencies and counters since the last sample, `stop` closes the server.
 *
 * It is not `foley serve --demo` itself because that plays into one room only, and the
 * frame-to-Opus latency of each frame (what drift is read from) is not on /metrics, which
 * has it only in 50 ms histogram buckets.
 */
import { parseArgs } from 'node:util';
import { configureLogging } from '../../src/logger.js';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import type { FoleyAttachment } from '../../src/sfu/FoleyAttachment.js';
import { isMainScript } from '../helpers/main-script.js';

/** One room since the previous sample (counters are totals since the room's publisher attached). */
export interface SoakRoomWindow {
  room: string;
  /** Whether foley is attached to the room's publisher now. */
  attached: boolean;
  /** Attachments the room has had (1 while the publisher never left). */
  attachments: number;
  /** The attachment's stated offset of the foley behind the video, ms. */
  offsetMs: number | null;
  /** Frame arrival to Opus packet of every frame sent since the previous sample, ms. */
  latenciesMs: number[];
  chunksGenerated: number;
  chunksSkipped: number;
  chunksLate: number;
  /** Chunks at the ladder's first level. */
  chunksFull: number;
  levelName: string | null;
  framesDecoded: number;
  framesDropped: number;
  decodeErrors: number;
}

export interface SoakServerSample {
  heapUsedMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  inferenceQueueLength: number;
  rooms: SoakRoomWindow[];
}

export type SoakServerRequest =
  | { case: 'publish'; value: { rooms: number; clip: string } }
  | { case: 'sample' }
  | { case: 'stop' };

export type SoakServerReply =
  | {
      case: 'listening';
      value: { baseUrl: string; mediasoupWorkerPid: number; bundle: string; inferenceWorkers: number };
    }
  | { case: 'publishing'; value: { rooms: Array<{ room: string; listenUrl: string }> } }
  | { case: 'sample'; value: SoakServerSample }
  | { case: 'error'; value: { message: string } };

const MB = 2 ** 20;

/** Reads each room's attachment stats incrementally; keeps only the read position, not the samples. */
class RoomReader {
  #attachment: FoleyAttachment | null = null;
  #attachments = 0;
  #latencyIndex = 0;

  constructor(
    readonly server: FoleyServer,
    readonly room: string,
  ) {}

  read(): SoakRoomWindow {
    const attachment = this.server.rooms.get(this.room)?.attachment ?? null;
    if (attachment && attachment !== this.#attachment) {
      this.#attachment = attachment;
      this.#attachments++;
      this.#latencyIndex = 0;
    }
    const a = attachment;
    const stats = a?.pipeline.stats;
    const latenciesMs = stats ? stats.latenciesMs.slice(this.#latencyIndex) : [];
    if (stats) this.#latencyIndex = stats.latenciesMs.length;
    return {
      room: this.room,
      attached: a !== null && !a.closed,
      attachments: this.#attachments,
      offsetMs: a ? a.offsetMs : null,
      latenciesMs,
      chunksGenerated: stats?.chunksGenerated ?? 0,
      chunksSkipped: stats?.chunksSkipped ?? 0,
      chunksLate: stats?.chunksLate ?? 0,
      chunksFull: stats?.levelCounts[0] ?? 0,
      levelName: a ? a.pipeline.currentLevel.name : null,
      framesDecoded: a?.ingestStats.framesDecoded ?? 0,
      framesDropped: a?.ingestStats.framesDropped ?? 0,
      decodeErrors: a?.ingestStats.decodeErrors ?? 0,
    };
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { model: { type: 'string' }, 'inference-workers': { type: 'string' } },
    strict: true,
  });
  const send = (reply: SoakServerReply) => process.send?.(reply);
  if (!process.send) throw new Error('[soak-server] run it from soak.ts (it talks over IPC)');
  configureLogging({ format: 'json' });
  const server = await FoleyServer.start({
    host: '127.0.0.1',
    port: 0,
    ...(values.model ? { bundleDir: values.model } : {}),
    ...(values['inference-workers'] ? { inferenceWorkers: Number(values['inference-workers']) } : {}),
  });
  const readers: RoomReader[] = [];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.disconnect?.();
  };
  server.once('died', (error) => {
    send({ case: 'error', value: { message: `server died: ${error.message}` } });
    void stop();
  });
  process.on('disconnect', () => void stop());
  process.on('message', (request: SoakServerRequest) => {
    void (async () => {
      try {
        switch (request.case) {
          case 'publish': {
            const rooms: Array<{ room: string; listenUrl: string }> = [];
            for (let i = 0; i < request.value.rooms; i++) {
              const room = `soak-${i}`;
              await server.startDemo({ room, clip: request.value.clip });
              readers.push(new RoomReader(server, room));
              const obs = new URL(server.roomUrls(room).obs);
              rooms.push({
                room,
                listenUrl: `ws://${obs.host}/listen?room=${obs.searchParams.get('room')}&token=${obs.searchParams.get('token')}`,
              });
            }
            send({ case: 'publishing', value: { rooms } });
            return;
          }
          case 'sample': {
            const memory = process.memoryUsage();
            send({
              case: 'sample',
              value: {
                heapUsedMb: memory.heapUsed / MB,
                externalMb: memory.external / MB,
                arrayBuffersMb: memory.arrayBuffers / MB,
                inferenceQueueLength: server.runner.queuedRuns,
                rooms: readers.map((r) => r.read()),
              },
            });
            return;
          }
          case 'stop':
            await stop();
            return;
        }
      } catch (error) {
        send({ case: 'error', value: { message: (error as Error).message } });
      }
    })();
  });
  send({
    case: 'listening',
    value: {
      baseUrl: server.baseUrl,
      mediasoupWorkerPid: server.worker.pid,
      bundle: server.runner.bundle.manifest.name,
      inferenceWorkers: server.runner.workerCount,
    },
  });
}

if (isMainScript(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
    process.disconnect?.();
  });
}
