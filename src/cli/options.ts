/**
 * Command-line parsing shared by the foley commands (node:util parseArgs), turning every
 * parse problem into a UsageError that names the flag.
 */
import { parseArgs } from 'node:util';
import type { GenerationSettings } from '../diffusion/foley-generator.js';
import { UsageError } from '../errors.js';
import { EXECUTION_PROVIDER_REQUESTS, type ExecutionProviderRequest } from '../models/backend.js';
import { DEFAULT_RENDER_INTRA_OP_THREADS } from '../models/inference-runner.js';

export const MODEL_OPTIONS = {
  model: { type: 'string' },
  steps: { type: 'string' },
  cfg: { type: 'string' },
  cg: { type: 'string' },
  restarts: { type: 'string' },
  seed: { type: 'string' },
  device: { type: 'string' },
  threads: { type: 'string' },
  window: { type: 'string' },
  overlap: { type: 'string' },
  'no-contact-gate': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type ParsedValues = Record<string, string | boolean | undefined>;

export function parse(
  command: string,
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>,
): { values: ParsedValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ParsedValues, positionals };
  } catch (error) {
    throw new UsageError(`[foley ${command}] ${(error as Error).message}; see foley ${command} --help`);
  }
}

/**
 * `--name -12` as `--name=-12` for the named flags: parseArgs takes a value starting with a
 * dash for a flag and refuses it, while a negative number is the usual value of a gain in dB.
 */
export function joinNegativeValues(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (names.some((n) => arg === `--${n}`) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

export function numberFlag(
  command: string,
  values: ParsedValues,
  name: string,
  check: { integer?: boolean; min?: number } = {},
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`[foley ${command}] --${name} expects a number, got "${String(raw)}"`);
  }
  if (check.integer && !Number.isInteger(n))
    throw new UsageError(`[foley ${command}] --${name} expects an integer, got ${raw}`);
  if (check.min !== undefined && n < check.min)
    throw new UsageError(`[foley ${command}] --${name} must be >= ${check.min}, got ${raw}`);
  return n;
}

export function generationOverrides(command: string, values: ParsedValues): Partial<GenerationSettings> {
  const o: Partial<GenerationSettings> = {};
  const steps = numberFlag(command, values, 'steps', { integer: true, min: 1 });
  const cfg = numberFlag(command, values, 'cfg', { min: 0 });
  const cg = numberFlag(command, values, 'cg', { min: 0 });
  const restarts = numberFlag(command, values, 'restarts', { integer: true, min: 0 });
  const seed = numberFlag(command, values, 'seed', { integer: true, min: 0 });
  if (steps !== undefined) o.steps = steps;
  if (cfg !== undefined) o.cfgScale = cfg;
  if (cg !== undefined) o.cgScale = cg;
  if (restarts !== undefined) o.restarts = restarts;
  if (seed !== undefined) o.seed = seed;
  if (values['no-contact-gate'] === true) o.contactGate = false;
  return o;
}

export function deviceFlag(command: string, values: ParsedValues): ExecutionProviderRequest {
  const raw = (values.device as string | undefined) ?? 'cpu';
  if (!(EXECUTION_PROVIDER_REQUESTS as readonly string[]).includes(raw)) {
    throw new UsageError(
      `[foley ${command}] --device must be one of ${EXECUTION_PROVIDER_REQUESTS.join(', ')}, got "${raw}"`,
    );
  }
  return raw as ExecutionProviderRequest;
}

/** `--threads N` of a whole-clip command (render, eval, bench), else its default. */
export function threadsFlag(command: string, values: ParsedValues): number {
  return numberFlag(command, values, 'threads', { integer: true, min: 0 }) ?? DEFAULT_RENDER_INTRA_OP_THREADS;
}

/** Clips up to this many frames are generated whole by default (30 s at 25 fps). */
export const WHOLE_CLIP_MAX_FRAMES = 750;
