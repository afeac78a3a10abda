/** `--latency low|balanced`, shared by eval --live, serve and bench --live. */
import { LATENCY_PRESET_NAMES, type LatencyPreset } from '../../pipelines/live/plan.js';
import { UsageError } from '../errors.js';

export const LATENCY_FLAG = { latency: { type: 'string' } } as const;

/** The flag's preset name, or a UsageError naming the flag, the value and the valid names. */
export function latencyFlag(command: string, values: Record<string, unknown>): LatencyPreset | undefined {
  const raw = values.latency;
  if (raw === undefined) return undefined;
  if (!(LATENCY_PRESET_NAMES as readonly unknown[]).includes(raw))
    throw new UsageError(
      `[foley ${command}] --latency must be one of ${LATENCY_PRESET_NAMES.join(', ')}, got "${String(raw)}"`,
    );
  return raw as LatencyPreset;
}
