/**
 * The discrete DDPM schedule of a bundle (ᾱ_t for t = 0..trainSteps-1) and the "trailing"
 * timestep spacing of models/README.md: t_i = floor(trainSteps·(N−i)/N) − 1.
 */
import { UsageError } from '../errors.js';
import type { ScheduleSpec } from '../models/manifest.js';

export interface DdimStepPlan {
  /** Step index, 0-based. */
  index: number;
  /** Model timestep t_i. */
  timestep: number;
  /** ᾱ at t_i. */
  alphaBar: number;
  /** ᾱ at the next timestep; 1 after the last step. */
  alphaBarPrev: number;
}

export function trailingTimesteps(trainSteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new UsageError(`[schedule] steps must be an integer in 1..${trainSteps}, got ${steps}`);
  }
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(Math.floor((trainSteps * (steps - i)) / steps) - 1);
  return out;
}

export class DiffusionSchedule {
  constructor(private readonly spec: ScheduleSpec) {}

  get trainSteps(): number {
    return this.spec.trainSteps;
  }

  alphaBar(timestep: number): number {
    const a = this.spec.alphasCumprod[timestep];
    if (a === undefined)
      throw new RangeError(`[schedule] timestep ${timestep} outside 0..${this.spec.trainSteps - 1}`);
    return a;
  }

  /** The DDIM plan for N steps: timesteps with ᾱ_t and ᾱ_prev. */
  plan(steps: number): DdimStepPlan[] {
    const ts = trailingTimesteps(this.spec.trainSteps, steps);
    return ts.map((timestep, index) => {
      const next = ts[index + 1];
      return {
        index,
        timestep,
        alphaBar: this.alphaBar(timestep),
        alphaBarPrev: next === undefined ? 1 : this.alphaBar(next),
      };
    });
  }
}
