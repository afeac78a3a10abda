/**
 * Splits the usable videos of a footage folder into those trained on and those held out for
 * scoring, deterministically: the names are sorted, then shuffled by a seeded generator, so
 * the same folder, share and seed always give the same split.
 */
import { seededUniform } from '../diffusion/seeded-random.js';
import { MediaInputError, UsageError } from '../errors.js';

export interface HoldoutSplit {
  train: string[];
  heldOut: string[];
}

/** Held-out videos for `count` usable ones: the share rounded, at least 1, and at least 1 left to train on. */
export function heldOutCount(count: number, share: number): number {
  if (!(share > 0 && share < 1))
    throw new UsageError(`[holdout] the held-out share must be between 0 and 1 (exclusive), got ${share}`);
  if (count < 2)
    throw new MediaInputError(
      `[holdout] needs at least 2 usable videos (1 to train on, 1 to score), got ${count}`,
    );
  return Math.min(count - 1, Math.max(1, Math.round(share * count)));
}

export function splitHoldout(names: readonly string[], share: number, seed: number): HoldoutSplit {
  const unique = [...new Set(names)].sort();
  if (unique.length !== names.length) throw new UsageError('[holdout] the video names are not unique');
  const count = heldOutCount(unique.length, share);
  const random = seededUniform(seed);
  const order = [...unique];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return { heldOut: order.slice(0, count).sort(), train: order.slice(count).sort() };
}
