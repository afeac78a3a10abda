import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { types as ms } from 'mediasoup';
import { fileSha256 } from '../file-hash.js';
import { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import { RTP_VIDEO_PAYLOAD_TYPE, type RtpVideoCodecName, rtpVideoCodec } from './rtp-video-codec.js';

const logger = new Logger('server:FfmpegRtpSource');

export type FfmpegRtpSourceEvents = { exit: [code: number | null]; close: [] };

export interface FfmpegRtpSourceOptions {
  router: ms.Router;
  /** Video file, looped, sent in real time. */
  clip: string;
  codec?: RtpVideoCodecName;
  /** Scale to this width (default 320). */
  width?: number;
  /** Scale to this height (default: the clip's aspect at that width). */
  height?: number;
  ffmpegPath?: string;
}

/**
 * Bench and test tooling: the system's ffmpeg plays a clip in real time as RTP into
 * a PlainTransport producer on the router (rtcpMux off and comedia on: ffmpeg sends
 * RTCP to port+1 and mediasoup learns its address from the first packet).
 * The clip is encoded once (cached in the temp folder) and then only packetized, so a
 * bench with several rooms does not spend the cores it measures on encoding: live
 * encoding in four ffmpeg processes took about half of each core of the 2-core machine.
 */
export class FfmpegRtpSource extends TypedEmitter<FfmpegRtpSourceEvents> {
  #closed = false;

  private constructor(
    readonly transport: ms.PlainTransport,
    readonly producer: ms.Producer,
    readonly child: ChildProcess,
  ) {
    super();
    child.on('exit', (code) => {
      this.safeEmit('exit', code);
      this.close();
    });
  }

  static async start(options: FfmpegRtpSourceOptions): Promise<FfmpegRtpSource> {
    const codec = options.codec ?? 'vp8';
    const encoded = await encodedClip(options.ffmpegPath ?? 'ffmpeg', options.clip, codec, {
      width: options.width ?? 320,
      ...(options.height !== undefined ? { height: options.height } : {}),
    });
    const transport = await options.router.createPlainTransport({
      listenIp: '127.0.0.1',
      rtcpMux: false,
      comedia: true,
    });
    const ssrc = randomInt(1, 2 ** 31);
    const payloadType = RTP_VIDEO_PAYLOAD_TYPE[codec];
    const producer = await transport.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [rtpVideoCodec(codec)],
        encodings: [{ ssrc }],
      },
    });
    const { localIp, localPort } = transport.tuple;
    const rtcpPort = transport.rtcpTuple?.localPort ?? localPort + 1;
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-stream_loop',
      '-1',
      '-i',
      encoded,
      '-an',
      '-c:v',
      'copy',
      '-f',
      'rtp',
      '-payload_type',
      String(payloadType),
      '-ssrc',
      String(ssrc),
      `rtp://${localIp}:${localPort}?rtcpport=${rtcpPort}&pkt_size=1200`,
    ];
    const child = spawn(options.ffmpegPath ?? 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => logger.debug(d.toString().trim()));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (error) => {
        transport.close();
        reject(new Error(`[bench] cannot run ffmpeg: ${error.message}`));
      });
    });
    return new FfmpegRtpSource(transport, producer, child);
  }

  /** Idempotent: stops ffmpeg and closes the producer's transport. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    this.transport.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}

const execFileAsync = promisify(execFile);
const encoding = new Map<string, Promise<string>>();

/**
 * The clip encoded as a publisher would send it (real-time settings), once per clip, codec and
 * size. Given a height, the bit rate is a camera's: 0.1 bit a pixel at 25 fps (2.3 Mbit/s at
 * 1280x720), 1 Mbit/s at least; else 1 Mbit/s.
 */
function encodedClip(
  ffmpeg: string,
  clip: string,
  codec: RtpVideoCodecName,
  size: { width: number; height?: number },
): Promise<string> {
  const source = resolve(clip);
  const { width, height } = size;
  const bitRate =
    height === undefined ? 1_000_000 : Math.max(1_000_000, Math.round(width * height * 25 * 0.1));
  const sizeKey = height === undefined ? `${width}` : `${width}x${height}`;
  const request = `${source}|${codec}|${sizeKey}`;
  let pending = encoding.get(request);
  if (!pending) {
    pending = (async () => {
      // Keyed by the clip's bytes, not its path: every clone of the repo shares one encode.
      const key = createHash('sha256')
        .update(await fileSha256(source).catch(() => source))
        .update(`|${codec}|${sizeKey}`)
        .digest('hex')
        .slice(0, 16);
      // H.264 goes in MPEG-TS (Annex B already): FFmpeg's h264_mp4toannexb filter fails on every
      // packet after -stream_loop's first wrap, so an MKV source stopped after one loop.
      const out = join(tmpdir(), `foley-rtp-source-${key}.${codec === 'h264' ? 'ts' : 'mkv'}`);
      if (existsSync(out)) return out;
      const encoder =
        codec === 'vp8'
          ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0']
          : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline'];
      const partial = `${out}.${process.pid}.partial${extname(out)}`;
      try {
        await execFileAsync(ffmpeg, [
          '-hide_banner',
          '-loglevel',
          'error',
          '-y',
          '-i',
          source,
          '-an',
          '-vf',
          `scale=${width}:${height ?? -2}`, // -2: the clip's aspect, an even height
          ...encoder,
          '-pix_fmt',
          'yuv420p',
          '-b:v',
          String(bitRate),
          '-g',
          '50',
          partial,
        ]);
      } catch (error) {
        throw new Error(`[bench] ffmpeg cannot encode ${clip}: ${(error as Error).message}`);
      }
      renameSync(partial, out);
      return out;
    })();
    pending.catch(() => encoding.delete(request));
    encoding.set(request, pending);
  }
  return pending;
}
