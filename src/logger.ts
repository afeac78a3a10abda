/**
 * One logger per entity, over one shared pino logger. Lines carry a timestamp, a level and
 * the entity's name; they are text (`2026-01-01T12:00:00.000Z WARN  server:Room: ...`) or,
 * with LOG_FORMAT=json or `configureLogging({ format: 'json' })`, one pino JSON object each.
 * Debug lines print when FOLEY_DEBUG is set and its comma-separated list contains "*" or
 * the logger's name prefix. A line repeated within REPEAT_WINDOW_MS is counted instead of
 * printed; the count follows at the window's end.
 */
import pino from 'pino';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = Object.freeze(['text', 'json']);
type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/**
 * Extra fields of a line (JSON keys; `key=value` after the text). A field named like one of
 * the line's own keys (level, time, name, msg) is written with a `_` after its name.
 */
export type LogFields = Record<string, string | number | boolean | null>;

/** A line repeated within this long of its first print is counted, not printed. */
export const REPEAT_WINDOW_MS = 10_000;

export interface LoggingOptions {
  format?: LogFormat;
  /** Where lines go (default stderr); each write is one line ending in a newline. */
  destination?: { write(line: string): void };
  /** Clock of the repeat throttle, ms (tests pass their own). */
  now?: () => number;
}

const TEXT_LEVEL: Record<string, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' };
/** pino's own keys, left out of a text line's key=value tail. */
const PINO_KEYS = new Set(['level', 'time', 'name', 'msg', 'pid', 'hostname']);

/** Turns pino's JSON lines into text lines on the way to `out`. */
function textDestination(out: { write(line: string): void }): { write(line: string): void } {
  return {
    write(line: string): void {
      const record = JSON.parse(line) as Record<string, unknown>;
      const extra = Object.entries(record)
        .filter(([key]) => !PINO_KEYS.has(key))
        .map(([key, value]) => ` ${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
        .join('');
      const time = String(record.time);
      const level = TEXT_LEVEL[String(record.level)] ?? String(record.level);
      out.write(`${time} ${level} ${String(record.name)}: ${String(record.msg)}${extra}\n`);
    },
  };
}

const RESERVED_KEYS = new Set(['level', 'time', 'name', 'msg']);

function withoutReservedKeys(fields: LogFields): LogFields {
  if (!Object.keys(fields).some((key) => RESERVED_KEYS.has(key))) return fields;
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [RESERVED_KEYS.has(key) ? `${key}_` : key, value]),
  );
}

function formatFromEnv(): LogFormat {
  const format = process.env.LOG_FORMAT ?? 'text';
  if (!LOG_FORMATS.includes(format as LogFormat))
    throw new RangeError(`[logger] LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}, got "${format}"`);
  return format as LogFormat;
}

interface LoggingState {
  root: pino.Logger;
  now: () => number;
  format: LogFormat;
}

let state: LoggingState | null = null;

function makeState(options: LoggingOptions): LoggingState {
  const format = options.format ?? formatFromEnv();
  const out = options.destination ?? { write: (line: string) => process.stderr.write(line) };
  const root = pino(
    {
      level: 'debug',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    format === 'json' ? out : textDestination(out),
  );
  return { root, now: options.now ?? Date.now, format };
}

function logging(): LoggingState {
  state ??= makeState({});
  return state;
}

/** Sets the format and destination of every logger, those made earlier included. */
export function configureLogging(options: LoggingOptions): void {
  state = makeState(options);
}

export function logFormat(): LogFormat {
  return logging().format;
}

interface Repeat {
  firstAtMs: number;
  suppressed: number;
  timer: NodeJS.Timeout | null;
}

export class Logger {
  readonly #debugEnabled: boolean;
  readonly #repeats = new Map<string, Repeat>();
  #child: pino.Logger | null = null;
  #childOf: pino.Logger | null = null;

  constructor(readonly name: string) {
    const spec = process.env.FOLEY_DEBUG ?? '';
    this.#debugEnabled = spec.split(',').some((s) => s === '*' || (s !== '' && name.startsWith(s)));
  }

  debug(message: string, fields?: LogFields): void {
    if (this.#debugEnabled) this.#log('debug', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#log('info', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#log('warn', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#log('error', message, fields);
  }

  #log(level: LogLevel, message: string, fields: LogFields | undefined): void {
    const { now } = logging();
    const key = `${level}\n${message}`;
    const nowMs = now();
    const repeat = this.#repeats.get(key);
    if (repeat && nowMs - repeat.firstAtMs < REPEAT_WINDOW_MS) {
      repeat.suppressed++;
      // The count is printed when the window ends, even if the line never comes again.
      repeat.timer ??= setTimeout(() => this.#flushRepeat(level, key, message), REPEAT_WINDOW_MS).unref();
      return;
    }
    if (repeat) this.#flushRepeat(level, key, message);
    this.#repeats.set(key, { firstAtMs: nowMs, suppressed: 0, timer: null });
    if (this.#repeats.size > 1000) this.#forgetOldRepeats(nowMs);
    this.#write(level, message, fields);
  }

  #flushRepeat(level: LogLevel, key: string, message: string): void {
    const repeat = this.#repeats.get(key);
    if (!repeat) return;
    if (repeat.timer) clearTimeout(repeat.timer);
    this.#repeats.delete(key);
    if (repeat.suppressed > 0)
      this.#write(
        level,
        `${message} (repeated ${repeat.suppressed} more times within ${REPEAT_WINDOW_MS / 1000} s)`,
        {
          repeated: repeat.suppressed,
        },
      );
  }

  #forgetOldRepeats(nowMs: number): void {
    for (const [key, repeat] of this.#repeats)
      if (repeat.suppressed === 0 && nowMs - repeat.firstAtMs >= REPEAT_WINDOW_MS) this.#repeats.delete(key);
  }

  #write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    const { root } = logging();
    if (this.#childOf !== root) {
      this.#child = root.child({ name: this.name });
      this.#childOf = root;
    }
    const line = this.#child!;
    if (fields) line[level](withoutReservedKeys(fields), message);
    else line[level](message);
  }
}
