/**
 * Several sampling loops in one worker, in lockstep: a loop's model call waits until every
 * unfinished loop has made its next one; then the calls of one model whose feeds agree past the
 * batch dimension run as one merged call and each loop gets its rows back. Loops of one plan
 * (steps, restarts, guidance) merge every call; others still finish, in fewer merges.
 *
 * Why: once a bundle's convolutions are MatMuls (foley.conv_matmul), ONNX Runtime's cost per
 * row falls with the batch, so windows sampled together cost less than one after another
 * (docs/experiments.md, section 35).
 */
import { batchKeyOf, batchRowsOf, concatBatch, isBatchable, splitBatch } from './batch-tensors.js';
import type { RunsModels } from './inference-runner.js';
import type { ModelSpec } from './manifest.js';
import type { TensorMap } from './tensor.js';

/** Runs one (possibly merged) call; `runs` is how many loops' calls it serves. */
export type MergedRun = (model: string, feeds: TensorMap, runs: number) => Promise<TensorMap>;

interface WaitingCall {
  model: string;
  feeds: TensorMap;
  resolve: (outputs: TensorMap) => void;
  reject: (error: Error) => void;
}

export class LockstepRuns {
  #active: number;
  #waiting: WaitingCall[] = [];
  #nextSolo = 0;

  constructor(
    loops: number,
    private readonly specOf: (model: string) => ModelSpec | undefined,
    private readonly run: MergedRun,
  ) {
    this.#active = loops;
  }

  /** The models as one loop sees them. */
  member(): RunsModels {
    return {
      run: (model, feeds) =>
        new Promise<TensorMap>((resolve, reject) => {
          this.#waiting.push({ model, feeds, resolve, reject });
          this.#flushWhenAllWait();
        }).then((outputs) => ({ outputs })),
    };
  }

  /** A loop finished (or failed): the others no longer wait for it. */
  leave(): void {
    this.#active--;
    this.#flushWhenAllWait();
  }

  #flushWhenAllWait(): void {
    if (this.#active <= 0 || this.#waiting.length < this.#active) return;
    const waiting = this.#waiting.splice(0);
    if (waiting.length === 1) {
      void this.#runGroups([waiting]); // a job alone (the default): nothing to merge, no keys
      return;
    }
    const groups = new Map<string, WaitingCall[]>();
    for (const call of waiting) {
      const key = this.#mergeKey(call);
      const group = groups.get(key);
      if (group) group.push(call);
      else groups.set(key, [call]);
    }
    void this.#runGroups([...groups.values()]);
  }

  #mergeKey(call: WaitingCall): string {
    const spec = this.specOf(call.model);
    if (!spec || !isBatchable(spec)) return `${call.model}#solo${this.#nextSolo++}`;
    try {
      return `${call.model}|${batchKeyOf(spec, call.feeds)}`;
    } catch {
      return `${call.model}#solo${this.#nextSolo++}`; // a feed missing: its own call names it
    }
  }

  async #runGroups(groups: WaitingCall[][]): Promise<void> {
    for (const group of groups) {
      const model = group[0]!.model;
      try {
        if (group.length === 1) {
          group[0]!.resolve(await this.run(model, group[0]!.feeds, 1));
          continue;
        }
        const spec = this.specOf(model)!;
        const rows = group.map((c) => batchRowsOf(spec, c.feeds));
        const outputs = await this.run(model, concatBatch(group.map((c) => c.feeds)), group.length);
        splitBatch(outputs, rows).forEach((part, i) => group[i]!.resolve(part));
      } catch (error) {
        for (const call of group) call.reject(error as Error);
      }
    }
  }
}
