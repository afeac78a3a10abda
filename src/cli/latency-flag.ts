/** `--latency low|balanced` and `--crossfade-join held|guard`, shared by eval --live, serve and bench --live. */
import {
  CROSSFADE_JOINS,
  type CrossfadeJoin,
  LATENCY_PRESET_NAMES,
  type LatencyPreset,
} from '../../pipelines/live/plan.js';
import { UsageError } from '../errors.js';

export const LATENCY_FLAG = { latency: { type: 'string' }, 'crossfade-join': { type: 'string' } } as const;

/** The `--crossfade-join` value, or a UsageError naming the flag, the value and the valid names. */
export function crossfadeJoinFlag(
  command: string,
  values: Record<string, unknown>,
): CrossfadeJoin | undefined {
  const raw = values['crossfade-join'];
  if (raw === undefined) return undefined;
  if (!(CROSSFADE_JOINS as readonly unknown[]).includes(raw))
    throw new UsageError(
      `[foley ${command}] --crossfade-join must be one of ${CROSSFADE_JOINS.join(', ')}, got "${String(raw)}"`,
    );
  return raw as CrossfadeJoin;
}

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
