/**
 * Library entry (`live-foley`): everything of `live-foley/sfu` (attach foley to a video producer
 * of your own mediasoup router), plus what sharing one inference runner between attachments
 * takes: load a bundle, start the runner with the live pipeline's models.
 *
 *   import { attachFoley, defaultBundleDir, InferenceRunner, LiveFoleyPipeline, loadBundle } from 'live-foley';
 *   const bundle = await loadBundle(defaultBundleDir());
 *   const runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
 *   const foley = await attachFoley({ router, producer: videoProducer, runner });
 */

export { LiveFoleyPipeline } from '../pipelines/live.js';
export { BundleError, FoleyError, InferenceError } from './errors.js';
export { type Bundle, defaultBundleDir, loadBundle } from './models/bundle.js';
export { InferenceRunner, type InferenceRunnerOptions } from './models/inference-runner.js';
export * from './sfu/index.js';
