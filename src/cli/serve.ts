/**
 * `foley serve` and `foley bench --live`: the live path's subcommands, kept in their
 * own module so the CLI entry (main.ts) only dispatches to them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LivePlan } from '../../pipelines/live/plan.js';
import { UsageError } from '../errors.js';
import { configureLogging, LOG_FORMATS, type LogFormat, Logger } from '../logger.js';
import { loadBundle, packageRoot } from '../models/bundle.js';
import { ensureClientBuilt } from '../server/clientBuild.js';
import { FoleyServer } from '../server/FoleyServer.js';
import { formatLiveBench, runLiveBench } from '../server/liveBench.js';
import { crossfadeJoinFlag, LATENCY_FLAG, latencyFlag } from './latency-flag.js';
import { numberFlag, parse } from './options.js';

export const SERVE_USAGE = `foley serve [options]
  --model DIR            bundle folder (default models/default)
  --host HOST            HTTP/WebSocket address (default 127.0.0.1)
  --port N               HTTP/WebSocket port (default 8080)
  --secret S             HMAC secret for room tokens (default: FOLEY_SECRET, else random per start)
  --token-ttl S          the printed URLs' tokens expire after S seconds (default: never)
  --room NAME            default room printed at start-up (default main)
  --announced-ip IP      address WebRTC candidates carry (for publishing from another machine)
  --rtc-listen-ip IP     address mediasoup listens on (default 127.0.0.1; 0.0.0.0 with --announced-ip)
  --rtc-min-port N       lowest UDP/TCP port mediasoup's worker uses for WebRTC (default 40000)
  --rtc-max-port N       highest such port (default 49999); publish the range from a container
  --latency low|balanced how long the sound waits for the video (default balanced):
                           balanced  chunks of 4 frames that wait 3 frames past their end, so the
                                     video features are exact: about 0.35 s from frame to sound;
                                     live onset F1 0.94 on 60 test clips (0.98 of the whole-clip
                                     render)
                           low       chunks of 2 frames that wait 1 frame past their end, 5 ms
                                     crossfades, one restart per step: under 0.15 s from frame to
                                     sound; live onset F1 0.88 (0.92 of the whole-clip render),
                                     with more extra onsets and wrong sound classes (a chunk's
                                     last frame is seen without most of what follows it); on two
                                     cores a quarter of its chunks run below the full level
                         the flags below override the preset's values
  --latency-budget MS    frame-arrival to Opus latency bound (balanced 400, low 150)
  --chunk-frames N       new frames per generated chunk (balanced 4 = 160 ms, low 2)
  --lookahead-frames N   frames waited for past a chunk (balanced: the video encoder's reach ahead + 1, low 1)
  --context-frames N     generated frames a chunk sees as context (balanced and low 12)
  --crossfade-ms MS      length of the crossfade at chunk joins (balanced 20, low 5)
  --late-allowance-ms MS a chunk no level makes in time is still made at the cheapest level if
                         expected at most this late (its audio plays from where it lands), else
                         skipped (balanced 80, low 0: skipped)
  --offset-ms MS         the audio's fixed delay behind the video (the sync offset to set in OBS),
                         instead of the one calibrated when a room first publishes; at least
                         the chunk, look-ahead and crossfade time (276 ms balanced, 101 ms low);
                         the figure then stays the same across server restarts
  --crossfade-join held|guard  held (default): a chunk's last crossfade waits for the next
                         chunk and is faded into its version of the same audio; guard: the next
                         chunk's first crossfade fades in from this chunk's guard frames, one
                         crossfade sooner, with more extra onsets
  --inference-workers N  inference threads shared by all rooms, each with its own sessions (default 2, 1 on one core)
  --max-rooms N          rooms open at once (default 16; a room closes when its last page leaves)
  --max-connections-per-ip N    open sockets from one address, IPv6 per /64 (default 16)
  --max-connections-per-room N  open sockets in one room (default 32)
  --log-format text|json log lines as text or one JSON object each (default: LOG_FORMAT, else text)
  --demo                 loop the sample clip into the room through the live path (hear foley with no camera)
  --demo-clip FILE       the clip --demo plays (default samples/clip.mp4)

  OBS: Settings > Stream > Service "WHIP", Server and Bearer Token as printed (H.264, no B-frames).

  GET /healthz: 200 JSON while the mediasoup worker and the inference runner are alive, else 503.
  GET /metrics: Prometheus metrics (rooms, peers, latency, chunks per level, skips, queue, process).`;

export const BENCH_LIVE_USAGE = `foley bench --live [options]
  --model DIR            bundle folder (default models/default)
  --clip FILE            video sent through the server path (default samples/clip.mp4)
  --duration S           seconds to run (default 30)
  --rooms N              rooms publishing at once (default 1)
  --codec vp8|h264       codec the clip is sent with (default vp8)
  --video-size WxH       size the clip is published at, as a camera sends it (default 320 wide;
                         e.g. 1280x720: decoding grows with the pixels)
  --latency low|balanced, --latency-budget MS, --chunk-frames N, --lookahead-frames N,
  --context-frames N, --crossfade-ms MS, --crossfade-join held|guard, --offset-ms MS,
  --late-allowance-ms MS, --inference-workers N  as for serve
  --intra-op-threads N   ONNX Runtime threads per inference worker (default 1)
  --batch-max N          merge up to N runs of the same model, or sampling jobs of one plan, across rooms into one call (default 1: no batching)
  --batch-window MS      with --batch-max: a run joins the most urgent one's call if due at most MS later (default 160)
  --batch-gather MS      with --batch-max: how long a run waits for others when a worker is idle (default 0)
  --json                 print the report as JSON (p50/p95/p99, full-quality share, skips, per-stage ms, batch sizes)`;

/** Flags that shape the live pipeline, shared by serve and bench --live. */
const LIVE_FLAGS = {
  model: { type: 'string' },
  ...LATENCY_FLAG,
  'latency-budget': { type: 'string' },
  'chunk-frames': { type: 'string' },
  'lookahead-frames': { type: 'string' },
  'context-frames': { type: 'string' },
  'crossfade-ms': { type: 'string' },
  'late-allowance-ms': { type: 'string' },
  'offset-ms': { type: 'string' },
  'inference-workers': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type FlagValues = Record<string, string | undefined> & { help?: boolean; json?: boolean };

function intFlag(command: string, values: FlagValues, name: string, min: number): number | undefined {
  return numberFlag(command, values, name, { integer: true, min });
}

/** The live flags as options; a flag left out leaves the preset's value (or its default). */
function liveFlags(command: string, values: FlagValues) {
  const latency = latencyFlag(command, values);
  const crossfadeJoin = crossfadeJoinFlag(command, values);
  const latencyBudgetMs = intFlag(command, values, 'latency-budget', 50);
  const chunkFrames = intFlag(command, values, 'chunk-frames', 1);
  const lookaheadFrames = intFlag(command, values, 'lookahead-frames', 0);
  const maxContextFrames = intFlag(command, values, 'context-frames', 0);
  const crossfadeMs = numberFlag(command, values, 'crossfade-ms', { min: 0 });
  const lateAllowanceMs = numberFlag(command, values, 'late-allowance-ms', { min: 0 });
  const offsetMs = intFlag(command, values, 'offset-ms', 1);
  const inferenceWorkers = intFlag(command, values, 'inference-workers', 1);
  return {
    bundleDir: values.model ?? join(packageRoot(), 'models', 'default'),
    ...(inferenceWorkers !== undefined ? { inferenceWorkers } : {}),
    pipeline: {
      ...(latency !== undefined ? { latency } : {}),
      ...(crossfadeJoin !== undefined ? { crossfadeJoin } : {}),
      ...(latencyBudgetMs !== undefined ? { latencyBudgetMs } : {}),
      ...(chunkFrames !== undefined ? { chunkFrames } : {}),
      ...(lookaheadFrames !== undefined ? { lookaheadFrames } : {}),
      ...(maxContextFrames !== undefined ? { maxContextFrames } : {}),
      ...(crossfadeMs !== undefined ? { crossfadeMs } : {}),
      ...(lateAllowanceMs !== undefined ? { lateAllowanceMs } : {}),
      ...(offsetMs !== undefined ? { offsetMs } : {}),
    },
  };
}

/** A budget that the chunk and look-ahead flags (or the preset) leave no compute time in is refused at start, not when a room opens. */
async function checkLiveFlags(live: ReturnType<typeof liveFlags>): Promise<void> {
  const { manifest } = await loadBundle(live.bundleDir);
  const plan = new LivePlan(manifest, live.pipeline, false);
  plan.checkBudget();
  if (live.pipeline.offsetMs !== undefined) plan.checkFixedOffset(live.pipeline.offsetMs);
}

/** Flags only: a stray positional is a usage error, like an unknown flag. */
function parseFlags(
  command: string,
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>,
): FlagValues {
  const { values, positionals } = parse(command, argv, options);
  if (positionals.length > 0)
    throw new UsageError(`[foley ${command}] unexpected argument "${positionals[0]}"`);
  return values as FlagValues;
}

/** The worker's defaults (FoleyServer) that a flag left out keeps. */
const DEFAULT_RTC_PORTS = { min: 40000, max: 49999 };

/** Ports are 1-65535 and the range is not empty, counting a default for the end not given. */
export function checkRtcPortRange(min: number | undefined, max: number | undefined): void {
  for (const [name, port] of [
    ['--rtc-min-port', min],
    ['--rtc-max-port', max],
  ] as const) {
    if (port !== undefined && port > 65535)
      throw new UsageError(`[foley serve] ${name} must be a port, 1-65535, got ${port}`);
  }
  const lo = min ?? DEFAULT_RTC_PORTS.min;
  const hi = max ?? DEFAULT_RTC_PORTS.max;
  if (lo > hi)
    throw new UsageError(
      `[foley serve] the RTC port range is empty: --rtc-min-port ${lo} > --rtc-max-port ${hi}${min === undefined || max === undefined ? ' (the other end at its default)' : ''}`,
    );
}

export async function serveCommand(argv: string[]): Promise<number> {
  const values = parseFlags('serve', argv, {
    ...LIVE_FLAGS,
    host: { type: 'string' },
    port: { type: 'string' },
    secret: { type: 'string' },
    room: { type: 'string' },
    'announced-ip': { type: 'string' },
    'rtc-listen-ip': { type: 'string' },
    'rtc-min-port': { type: 'string' },
    'rtc-max-port': { type: 'string' },
    'token-ttl': { type: 'string' },
    'max-rooms': { type: 'string' },
    'max-connections-per-ip': { type: 'string' },
    'max-connections-per-room': { type: 'string' },
    'log-format': { type: 'string' },
    demo: { type: 'boolean' },
    'demo-clip': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const logFormat = values['log-format'];
  if (logFormat !== undefined) {
    if (!LOG_FORMATS.includes(logFormat as LogFormat))
      throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got "${logFormat}"`);
    configureLogging({ format: logFormat as LogFormat });
  }
  const logger = new Logger('serve');
  const live = liveFlags('serve', values);
  const port = intFlag('serve', values, 'port', 0) ?? 8080;
  const limits = {
    maxRooms: intFlag('serve', values, 'max-rooms', 1),
    maxConnectionsPerIp: intFlag('serve', values, 'max-connections-per-ip', 1),
    maxConnectionsPerRoom: intFlag('serve', values, 'max-connections-per-room', 1),
  };
  const tokenTtlSeconds = intFlag('serve', values, 'token-ttl', 1);
  const rtcMinPort = intFlag('serve', values, 'rtc-min-port', 1);
  const rtcMaxPort = intFlag('serve', values, 'rtc-max-port', 1);
  checkRtcPortRange(rtcMinPort, rtcMaxPort);
  await checkLiveFlags(live);
  await ensureClientBuilt();
  const secret = values.secret ?? process.env.FOLEY_SECRET;
  const server = await FoleyServer.start({
    ...live,
    limits,
    ...(tokenTtlSeconds !== undefined ? { tokenTtlSeconds } : {}),
    host: values.host ?? '127.0.0.1',
    port,
    ...(secret ? { secret } : {}),
    ...(values.room ? { defaultRoom: values.room } : {}),
    ...(values['announced-ip'] ? { announcedIp: values['announced-ip'] } : {}),
    ...(values['rtc-listen-ip'] ? { rtcListenIp: values['rtc-listen-ip'] } : {}),
    ...(rtcMinPort !== undefined ? { rtcMinPort } : {}),
    ...(rtcMaxPort !== undefined ? { rtcMaxPort } : {}),
  });
  if (values['demo-clip'] !== undefined && !values.demo)
    throw new UsageError('--demo-clip is the clip of --demo; add --demo');
  const urls = server.roomUrls(server.defaultRoom);
  const whip = server.whipEndpoint(server.defaultRoom);
  process.stdout.write(
    `foley serve: listening on ${server.baseUrl} (bundle ${server.runner.bundle.manifest.name})\n` +
      `room "${server.defaultRoom}", each URL with a token of its own role` +
      `${tokenTtlSeconds !== undefined ? `, valid for ${tokenTtlSeconds} s` : ''}:\n` +
      `  publish (send video):             ${urls.publish}\n` +
      `  OBS browser source (listen only): ${urls.obs}\n` +
      `  stream overlay (browser source):  ${urls.overlay}\n` +
      `  viewer (receive foley):           ${urls.viewer}\n` +
      `  WHIP (OBS: Stream > Service WHIP): server ${whip.url}\n` +
      `                                    bearer token ${whip.bearerToken}\n` +
      '  health: /healthz   metrics: /metrics\n',
  );
  server.on('roomcreated', (room) => {
    room.on('status', (s) =>
      logger.info(
        `room ${s.room}: ${s.state}${s.offsetMs !== null ? `, audio offset ${s.offsetMs} ms` : ''}` +
          `${s.syncOffsetMs !== null ? ` (${s.syncOffsetMs} ms as heard)` : ''}${s.level ? `, level ${s.level}` : ''}` +
          `${s.note ? ` — ${s.note}` : ''}`,
        {
          room: s.room,
          state: s.state,
          offsetMs: s.offsetMs,
          syncOffsetMs: s.syncOffsetMs,
          qualityLevel: s.level,
        },
      ),
    );
  });
  if (values.demo) {
    const clip = values['demo-clip'] ?? join(packageRoot(), 'samples', 'clip.mp4');
    if (!existsSync(clip)) {
      await server.close();
      throw new UsageError(`--demo-clip: no file at ${clip}`);
    }
    try {
      await server.startDemo({ clip });
    } catch (error) {
      await server.close();
      throw error;
    }
    process.stdout.write(
      `demo: ${clip} loops in room "${server.defaultRoom}"; open the OBS URL above to hear its foley\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    server.once('died', stop);
  });
  await server.close();
  return 0;
}

/** `--video-size WxH`: even sizes from 16 to 4096 (yuv420p), or a UsageError naming the flag. */
export function parseVideoSize(text: string): { width: number; height: number } {
  const match = /^(\d+)x(\d+)$/.exec(text);
  const [width, height] = match ? [Number(match[1]), Number(match[2])] : [Number.NaN, Number.NaN];
  for (const side of [width, height]) {
    if (!(side >= 16 && side <= 4096 && side % 2 === 0))
      throw new UsageError(
        `--video-size must be WxH with even sides from 16 to 4096, e.g. 1280x720; got "${text}"`,
      );
  }
  return { width, height };
}

export async function benchLiveCommand(argv: string[]): Promise<number> {
  const values = parseFlags('bench --live', argv, {
    ...LIVE_FLAGS,
    live: { type: 'boolean' },
    clip: { type: 'string' },
    duration: { type: 'string' },
    rooms: { type: 'string' },
    codec: { type: 'string' },
    'video-size': { type: 'string' },
    json: { type: 'boolean' },
    'intra-op-threads': { type: 'string' },
    'batch-max': { type: 'string' },
    'batch-window': { type: 'string' },
    'batch-gather': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${BENCH_LIVE_USAGE}\n`);
    return 0;
  }
  const codec = values.codec ?? 'vp8';
  if (codec !== 'vp8' && codec !== 'h264')
    throw new UsageError(`--codec must be vp8 or h264, got "${codec}"`);
  const videoSize = values['video-size'] === undefined ? undefined : parseVideoSize(values['video-size']);
  const flags = liveFlags('bench --live', values);
  await checkLiveFlags(flags);
  const { pipeline, ...live } = flags;
  const durationSeconds = intFlag('bench --live', values, 'duration', 1) ?? 30;
  const intraOpThreads = intFlag('bench --live', values, 'intra-op-threads', 1);
  const maxRuns = intFlag('bench --live', values, 'batch-max', 1);
  const deadlineWindowMs = intFlag('bench --live', values, 'batch-window', 0);
  const gatherDelayMs = intFlag('bench --live', values, 'batch-gather', 0);
  for (const flag of ['batch-window', 'batch-gather']) {
    if (values[flag] !== undefined && (maxRuns === undefined || maxRuns === 1))
      throw new UsageError(`--${flag} needs --batch-max N (N >= 2); batching is off without it`);
  }
  const report = await runLiveBench({
    ...live,
    ...pipeline,
    ...(intraOpThreads !== undefined ? { intraOpThreads } : {}),
    batching:
      maxRuns === undefined || maxRuns === 1
        ? false
        : {
            maxRuns,
            ...(deadlineWindowMs !== undefined ? { deadlineWindowMs } : {}),
            ...(gatherDelayMs !== undefined ? { gatherDelayMs } : {}),
          },
    clip: values.clip ?? join(packageRoot(), 'samples', 'clip.mp4'),
    durationSeconds,
    rooms: intFlag('bench --live', values, 'rooms', 1) ?? 1,
    codec,
    ...(videoSize ? { videoSize } : {}),
    onProgress: values.json ? undefined : (s) => process.stderr.write(`\r${s}/${durationSeconds} s`),
  });
  if (!values.json) process.stderr.write('\n');
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatLiveBench(report)}\n`);
  return 0;
}
