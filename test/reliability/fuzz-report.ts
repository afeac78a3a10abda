/** What each fuzz section hands back: its cases, what they got, and the ones that broke an assertion. */

export interface FuzzFailure {
  /** Stable within a seed: `signaling/socket-3#217`, `media/truncated-40.mp4->wav`. */
  caseId: string;
  detail: string;
}

export interface SectionReport {
  section: 'signaling' | 'http' | 'media' | 'bundles';
  cases: number;
  /** Outcome tallies: reply or error codes, HTTP statuses, exit codes. */
  outcomes: Record<string, number>;
  failures: FuzzFailure[];
  ms: number;
  /** Per-case lines worth keeping in the JSON (exit code and first stderr line of a render). */
  details?: Array<Record<string, unknown>>;
}

export function tally(outcomes: Record<string, number>, key: string, by = 1): void {
  outcomes[key] = (outcomes[key] ?? 0) + by;
}

/** Resolves `promise`, or rejects naming `what` after `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `predicate` holds, checking every 10 ms; false after `deadlineMs`. */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  deadlineMs: number,
): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() > end) return false;
    await sleep(10);
  }
}
