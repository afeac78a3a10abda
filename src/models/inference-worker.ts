/**
 * Worker-thread entry: owns the ONNX sessions of one bundle and runs them on request, so
 * onnxruntime-node's blocking run() never stalls the main event loop. Requests are served
 * one at a time, in order: a model run, or the whole sampling loops of one or more windows
 * (sampling-job.ts).
 */
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { runSamplingJob, type SamplingJob } from '../diffusion/sampling-job.js';
import { DiffusionSchedule } from '../diffusion/schedule.js';
import { serializeError } from '../errors.js';
import { BackendSession, resolveExecutionProvider, type SessionSettings } from './backend.js';
import type { FromWorker, InitRequest, JobModelCalls, ToWorker } from './inference-messages.js';
import { transferList } from './inference-messages.js';
import { LockstepRuns } from './lockstep-runs.js';
import type { ModelSpec } from './manifest.js';
import { checkDeclaredSignature, checkFeeds, checkOutputs } from './signature.js';

const port = parentPort;
if (!port) throw new Error('inference-worker must run as a worker thread');

const sessions = new Map<string, BackendSession>();
const specs = new Map<string, ModelSpec>();
let schedule: DiffusionSchedule | null = null;
let queue: Promise<void> = Promise.resolve();

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function init(request: InitRequest): Promise<void> {
  try {
    const settings: SessionSettings = {
      executionProvider: resolveExecutionProvider(request.executionProvider),
      intraOpThreads: request.intraOpThreads,
      interOpThreads: request.interOpThreads,
    };
    const loadMs: Record<string, number> = {};
    for (const [key, spec] of Object.entries(request.models)) {
      const started = performance.now();
      const label = `bundle:${request.bundleName}, model:${key}, file:${spec.file}`;
      const session = await BackendSession.open(join(request.bundleDir, spec.file), label, settings);
      sessions.set(key, session);
      specs.set(key, spec);
      checkDeclaredSignature(request.bundleName, key, spec, session.signature());
      loadMs[key] = performance.now() - started;
    }
    schedule = new DiffusionSchedule(request.schedule);
    post({ case: 'ready', value: { settings, loadMs } });
  } catch (error) {
    await closeAll();
    post({ case: 'initFailed', value: serializeError(error) });
  }
}

function loaded(model: string): BackendSession {
  const session = sessions.get(model);
  if (!session)
    throw new Error(
      `[inference-worker] model "${model}" is not loaded; loaded: ${[...sessions.keys()].join(', ')}`,
    );
  return session;
}

async function run(id: number, model: string, feeds: Parameters<BackendSession['run']>[0]): Promise<void> {
  try {
    const session = loaded(model);
    const started = performance.now();
    const outputs = await session.run(feeds);
    const runMs = performance.now() - started;
    post({ case: 'result', value: { id, outputs, runMs } }, transferList(outputs));
  } catch (error) {
    post({ case: 'runFailed', value: { id, error: serializeError(error) } });
  }
}

/**
 * Sampling jobs against this worker's sessions, their loops in lockstep (lockstep-runs.ts): the
 * jobs' calls at each step run as merged calls. Feeds and outputs are checked as the runner
 * checks them. One failed job fails them all, as a merged run does.
 */
async function sample(id: number, jobs: SamplingJob[]): Promise<void> {
  try {
    if (!schedule) throw new Error('[inference-worker] sampling job before init');
    const sampling = schedule;
    const started = performance.now();
    const modelCalls: JobModelCalls = {};
    const lockstep = new LockstepRuns(
      jobs.length,
      (model) => specs.get(model),
      async (model, feeds, runs) => {
        const session = loaded(model);
        const spec = specs.get(model)!;
        const symbols = checkFeeds(model, spec, feeds);
        const at = performance.now();
        const outputs = await session.run(feeds);
        checkOutputs(model, spec, outputs, symbols);
        const calls = modelCalls[model] ?? { calls: 0, runMs: 0, callsByRuns: {} };
        calls.calls++;
        calls.runMs += performance.now() - at;
        calls.callsByRuns[runs] = (calls.callsByRuns[runs] ?? 0) + 1;
        modelCalls[model] = calls;
        return outputs;
      },
    );
    const results = await Promise.allSettled(
      jobs.map((job) => runSamplingJob(lockstep.member(), sampling, job).finally(() => lockstep.leave())),
    );
    const latents: Float32Array[] = [];
    for (const result of results) {
      if (result.status === 'rejected') throw result.reason;
      latents.push(result.value);
    }
    const runMs = performance.now() - started;
    post(
      { case: 'sampled', value: { id, latents, runMs, modelCalls } },
      latents.map((l) => l.buffer as ArrayBuffer),
    );
  } catch (error) {
    post({ case: 'runFailed', value: { id, error: serializeError(error) } });
  }
}

async function closeAll(): Promise<void> {
  for (const session of sessions.values()) await session.close();
  sessions.clear();
}

port.on('message', (message: ToWorker) => {
  switch (message.case) {
    case 'init':
      queue = queue.then(() => init(message.value));
      break;
    case 'run':
      queue = queue.then(() => run(message.value.id, message.value.model, message.value.feeds));
      break;
    case 'sample':
      queue = queue.then(() => sample(message.value.id, message.value.jobs));
      break;
    case 'close':
      queue = queue.then(async () => {
        await closeAll();
        post({ case: 'closed', value: null });
        port.close();
      });
      break;
  }
});
