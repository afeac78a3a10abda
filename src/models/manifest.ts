/**
 * The bundle manifest (models/README.md, "Manifest format, version 1"): types and a
 * validating parser whose errors name the bundle, the file and the field.
 */
import { BundleError } from '../errors.js';

export type TensorDtype = 'float32' | 'uint8' | 'int64' | 'int32' | 'float16' | 'bool';
export const TENSOR_DTYPES: readonly TensorDtype[] = [
  'float32',
  'uint8',
  'int64',
  'int32',
  'float16',
  'bool',
];

/** A dimension: a number is fixed, a string is a symbol shared across the bundle. */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: Dim[];
}

export interface ModelSpec {
  file: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface AudioSpec {
  sampleRate: number;
  hopSamples: number;
  winSamples: number;
  fftSize: number;
  melBins: number;
  fminHz: number;
  fmaxHz: number;
  melLogFloor: number;
  melNormOffset: number;
  melNormScale: number;
}

export interface VideoSpec {
  fps: number;
  width: number;
  height: number;
  pixelFormat: 'rgb24';
}

export interface LatentSpec {
  channels: number;
  melBins: number;
  melFramesPerLatentFrame: number;
  latentFramesPerVideoFrame: number;
  timeMultiple: number;
}

export interface ScheduleSpec {
  type: 'ddpm-discrete';
  trainSteps: number;
  prediction: 'epsilon';
  alphasCumprod: number[];
  timestepSpacing: 'trailing';
}

export interface SamplingSpec {
  unet: string;
  steps: number;
  cfgScale: number;
  cgScale: number;
  /** The classifier term of eq. 8 acts at timesteps <= this (default: every step). */
  cgMaxTimestep: number;
  /** Latent frames per alignment logit, folded into align_classifier's graph (null: one per input). */
  cgWindowFrames: number | null;
  /** Extra passes of each step at timesteps <= restartMaxTimestep (restart sampling; default 0). */
  restarts: number;
  restartMaxTimestep: number;
  /**
   * The contact column's value a contact-reading student was trained to take for a frame whose
   * detector read is not exact yet (foley.contact_student --unknown-edge); null: none, such
   * frames carry the read they have.
   */
  contactUnknown: number | null;
  /**
   * A contact-reading student trained on the detector column's openings (foley.contact_student
   * --column openings) reads 1 at the local maxima at or above this threshold (contactOpenings)
   * and 0 elsewhere; null: it reads the probability.
   */
  contactOpenings: number | null;
  /**
   * A contact-reading student's column is multiplied by this (default 1) before it reads it, so
   * the column weighs more (or less) against the features; the unknown marker is left as it is.
   */
  contactGain: number;
  /**
   * A gate opening the student left silent (no onset of the decoded mel within
   * SILENT_OPENING_TOLERANCE_MS) is sampled again with the column multiplied by this around it,
   * and that stretch of the mel is taken from the second pass; null: one pass.
   */
  silentOpeningGain: number | null;
  /** An opening is silent only while its vocoded sound stays under this, dBFS (default -45). */
  silentOpeningMaxDbfs: number;
  teacher?: { unet: string; steps: number };
  windowFrames: number;
  overlapFrames: number;
}

export interface Manifest {
  format: 'live-foley-bundle';
  formatVersion: 1;
  name: string;
  description: string;
  audio: AudioSpec;
  video: VideoSpec;
  latent: LatentSpec;
  /**
   * contextFrames: the video encoder's reach on either side (output frame t depends on input
   * frames t ± contextFrames). rightContextFrames: its reach ahead, when smaller (optional,
   * default contextFrames): a look-ahead feature is exact only this far behind the last frame in.
   */
  features: { dim: number; contextFrames: number; rightContextFrames: number };
  classes: string[];
  schedule: ScheduleSpec;
  sampling: SamplingSpec;
  eval: { cropFrames: number; preOnsetFrames: number };
  models: Record<string, ModelSpec>;
  /** Optional: a gate keyed on the contacts the video features show (dsp/contact-gate.ts). */
  contactGate: ContactGateSpec | null;
}

/**
 * Where the gate's per-frame contact probability p comes from, and how its peaks gate the audio.
 * `features`: a linear probe on the video features (standardization folded in: p = sigmoid(w·f + b)),
 * fitted on footage against its own audio's onsets. `detector`: the bundle's contact_detector
 * model, a network on the frames' motion alone (its output rides beside the features:
 * featureRowDim).
 */
export type ContactGateSpec = ContactGateShape &
  ({ source: 'features'; weights: number[]; bias: number } | { source: 'detector' });

export interface ContactGateShape {
  /** A local maximum of p at or above this opens the gate at that frame's start. */
  threshold: number;
  /** Attack ramp from the closed gain to 0 dB, ms. */
  rampMs: number;
  /** The attack starts this long before the opening frame's start, ms (optional, default 0). */
  leadMs: number;
  /** Time the gate stays at 0 dB after it opens, ms. */
  holdMs: number;
  /** Fall after the hold, dB per 10 ms, down to depthDb. */
  releaseDbPer10ms: number;
  /** Gain of the closed gate, dB (< 0). */
  depthDb: number;
  /**
   * Weak openings (optional, default none): a peak of p at or above `threshold` here but under
   * the gate's threshold opens the gate to `gainDb` only (depthDb < gainDb < 0), so a contact
   * the detector is nearly sure of is heard, quieter, instead of held at the depth.
   */
  weak: { threshold: number; gainDb: number } | null;
  /**
   * Threshold of the frames read before their right context arrived (optional, default null:
   * the gate's threshold): the live low preset's newest frames, whose video the detector saw
   * followed by a frozen picture, which reads like motion coming to rest. At or above the
   * gate's threshold.
   */
  inexactThreshold: number | null;
  /**
   * Re-attack limit (optional, default none): from `afterMs` past an opening's attack to the end
   * of its shape (or the next opening), the gated sound's level (5 ms blocks) may rise at most
   * `riseDb` over its quietest block since then, so one contact sounds one onset, not several.
   * A block at a frame the gate's p reads at least `contactP` (optional) is a contact of its own
   * and keeps its rise. With `closedRiseDb` (optional) the limit also holds where the gate is
   * closed (before the first opening, and from each opening's shape end to the next opening's
   * attack): a rise of at most `closedRiseDb` over the quietest block since the gate closed, so
   * the student's sound under the closed gate makes no new attack.
   */
  reattack: { afterMs: number; riseDb: number; contactP: number | null; closedRiseDb: number | null } | null;
}

/** Model key of the motion contact detector (frames in, per-frame contact probability out). */
export const CONTACT_DETECTOR_KEY = 'contact_detector';

/**
 * Whether the engine runs the contact detector (a model to open, a column to carry): the
 * contact gate reads it, or the sampling UNet (or its teacher) reads its column.
 */
export function readsContactDetector(manifest: Manifest): boolean {
  if (manifest.contactGate?.source === 'detector') return true;
  const dim = manifest.features.dim;
  return [manifest.sampling.unet, manifest.sampling.teacher?.unet].some(
    (key) => key !== undefined && unetInputDim(manifest.models, key, dim) === dim + 1,
  );
}

/**
 * Values per frame in the engine's feature arrays: the video features, plus the contact
 * detector's probability as a last column when the engine runs it (readsContactDetector).
 */
export function featureRowDim(manifest: Manifest): number {
  return manifest.features.dim + (readsContactDetector(manifest) ? 1 : 0);
}

/**
 * Columns a UNet's video_features input takes: features.dim, or featureRowDim when the UNet
 * also reads the contact detector's column (a student trained by foley.contact_student).
 */
export function unetFeatureDim(manifest: Manifest, unetKey: string): number {
  return unetInputDim(manifest.models, unetKey, manifest.features.dim);
}

function unetInputDim(models: Record<string, ModelSpec>, unetKey: string, dim: number): number {
  const input = models[unetKey]?.inputs.find((i) => i.name === 'video_features');
  const last = input?.shape[input.shape.length - 1];
  return typeof last === 'number' ? last : dim;
}

/** Restarts per step a bundle may ask for: each one costs a step's networks again. */
export const MAX_RESTARTS = 4;

/** Model keys the engine needs to render; `unet_teacher` and `eval_audio_classifier` are optional. */
export const REQUIRED_MODEL_KEYS = [
  'mel',
  'video_encoder',
  'align_classifier',
  'latent_decoder',
  'vocoder',
] as const;

/**
 * Ranges of the sizes a manifest sets. Memory and work scale with them (frames per second,
 * pixels per frame, samples per frame), so a typo or a hostile bundle fails at load time
 * instead of exhausting the machine.
 */
export const MANIFEST_LIMITS = {
  sampleRate: [8000, 192000],
  hopSamples: [1, 16384],
  winSamples: [1, 65536],
  fftSize: [16, 65536],
  melBins: [1, 1024],
  fps: [1, 120],
  frameSide: [8, 1024],
  latentChannels: [1, 256],
  latentMelBins: [1, 1024],
  melFramesPerLatentFrame: [1, 64],
  timeMultiple: [1, 64],
  featureDim: [1, 16384],
  contextFrames: [0, 256],
  classes: [1, 10000],
  trainSteps: [1, 100000],
  windowFrames: [1, 100000],
  evalFrames: [0, 100000],
} as const satisfies Record<string, readonly [number, number]>;

type Json = unknown;

/** Walks a JSON value with a path, so every complaint names the field. */
class Field {
  constructor(
    private readonly context: string,
    readonly path: string,
    readonly value: Json,
  ) {}

  fail(expected: string): never {
    const got = this.value === undefined ? 'nothing' : JSON.stringify(this.value)?.slice(0, 80);
    throw new BundleError(`[${this.context}:${this.path}] expected ${expected}, got ${got}`);
  }

  child(key: string | number): Field {
    const container = this.value as Record<string | number, Json> | undefined;
    const sub = container === null || typeof container !== 'object' ? undefined : container[key];
    const path = typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key;
    return new Field(this.context, path, sub);
  }

  get present(): boolean {
    return this.value !== undefined;
  }

  object(): Field {
    if (this.value === null || typeof this.value !== 'object' || Array.isArray(this.value))
      this.fail('an object');
    return this;
  }

  array(): Field[] {
    if (!Array.isArray(this.value)) this.fail('an array');
    return (this.value as Json[]).map((_, i) => this.child(i));
  }

  keys(): string[] {
    this.object();
    return Object.keys(this.value as object);
  }

  string(): string {
    if (typeof this.value !== 'string' || this.value.length === 0) this.fail('a non-empty string');
    return this.value as string;
  }

  literal<T extends string | number>(...allowed: T[]): T {
    if (!allowed.includes(this.value as T)) this.fail(allowed.map((a) => JSON.stringify(a)).join(' or '));
    return this.value as T;
  }

  number(): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) this.fail('a finite number');
    return this.value as number;
  }

  nonNegative(): number {
    const n = this.number();
    if (n < 0) this.fail('a number >= 0');
    return n;
  }

  positive(): number {
    const n = this.number();
    if (n <= 0) this.fail('a number > 0');
    return n;
  }

  positiveInt(): number {
    const n = this.number();
    if (!Number.isInteger(n) || n <= 0) this.fail('a positive integer');
    return n;
  }

  nonNegativeInt(): number {
    const n = this.number();
    if (!Number.isInteger(n) || n < 0) this.fail('an integer >= 0');
    return n;
  }

  /** A number in [min, max]: sizes the engine allocates by must stay sane. */
  numberIn(range: readonly [number, number]): number {
    const n = this.number();
    if (n < range[0] || n > range[1]) this.fail(`a number in ${range[0]}..${range[1]}`);
    return n;
  }

  /** An integer in [min, max]. */
  intIn(range: readonly [number, number]): number {
    const n = this.number();
    if (!Number.isInteger(n) || n < range[0] || n > range[1])
      this.fail(`an integer in ${range[0]}..${range[1]}`);
    return n;
  }
}

/** The field, or undefined when it is absent or null. */
function optional(field: Field): Field | undefined {
  return field.present && field.value !== null ? field : undefined;
}

function parseTensorSpec(field: Field): TensorSpec {
  field.object();
  const shape = field
    .child('shape')
    .array()
    .map((d) => {
      if (typeof d.value === 'string' && d.value.length > 0) return d.value;
      return d.positiveInt();
    });
  return {
    name: field.child('name').string(),
    dtype: field.child('dtype').literal(...TENSOR_DTYPES),
    shape,
  };
}

function parseModelSpec(field: Field): ModelSpec {
  field.object();
  const inputs = field.child('inputs').array().map(parseTensorSpec);
  const outputs = field.child('outputs').array().map(parseTensorSpec);
  if (inputs.length === 0) field.child('inputs').fail('at least one input');
  if (outputs.length === 0) field.child('outputs').fail('at least one output');
  return { file: bundleRelativeFile(field.child('file')), inputs, outputs };
}

/** A model file named relative to the bundle folder, never reaching outside it. */
function bundleRelativeFile(field: Field): string {
  const file = field.string();
  const segments = file.split(/[\\/]+/);
  if (file.startsWith('/') || /^[a-zA-Z]:/.test(file) || segments.includes('..') || file.includes('\0')) {
    field.fail('a file inside the bundle folder (a relative path without "..")');
  }
  return file;
}

/**
 * Fixed sizes in the model signatures that must agree with the geometry the manifest sets:
 * a video encoder declared for 96×96 frames in a manifest that says 128 wide would only
 * fail at the first run, as an inference error.
 */
function checkModelGeometry(
  models: Field,
  specs: Record<string, ModelSpec>,
  geometry: { video: VideoSpec; features: { dim: number }; latent: LatentSpec },
): void {
  const expect = (
    key: string,
    side: 'inputs' | 'outputs',
    rank: number,
    axes: Record<number, { size: number; from: string }>,
  ): void => {
    const tensor = specs[key]?.[side][0];
    if (!tensor || tensor.shape.length !== rank) return;
    for (const [axis, want] of Object.entries(axes)) {
      const dim = tensor.shape[Number(axis)];
      if (typeof dim === 'number' && dim !== want.size) {
        models
          .child(key)
          .child(side)
          .child(0)
          .child('shape')
          .child(Number(axis))
          .fail(`${want.size} (${want.from}), the size ${key} must take`);
      }
    }
  };
  const { video, features, latent } = geometry;
  expect('video_encoder', 'inputs', 5, {
    2: { size: video.height, from: 'video.height' },
    3: { size: video.width, from: 'video.width' },
    4: { size: 3, from: 'rgb24 channels' },
  });
  expect('video_encoder', 'outputs', 3, { 2: { size: features.dim, from: 'features.dim' } });
  expect(CONTACT_DETECTOR_KEY, 'inputs', 5, {
    2: { size: video.height, from: 'video.height' },
    3: { size: video.width, from: 'video.width' },
    4: { size: 3, from: 'rgb24 channels' },
  });
  expect('latent_decoder', 'inputs', 4, {
    1: { size: latent.channels, from: 'latent.channels' },
    3: { size: latent.melBins, from: 'latent.melBins' },
  });
}

/**
 * Validates a parsed manifest.json. `bundleLabel` prefixes every error
 * (for example `bundle:default, manifest.json`).
 */
export function parseManifest(json: Json, bundleLabel: string): Manifest {
  const root = new Field(bundleLabel, '', json).object();
  const format = root.child('format').literal('live-foley-bundle');
  const formatVersion = root.child('formatVersion').literal(1);

  const a = root.child('audio').object();
  const audio: AudioSpec = {
    sampleRate: a.child('sampleRate').intIn(MANIFEST_LIMITS.sampleRate),
    hopSamples: a.child('hopSamples').intIn(MANIFEST_LIMITS.hopSamples),
    winSamples: a.child('winSamples').intIn(MANIFEST_LIMITS.winSamples),
    fftSize: a.child('fftSize').intIn(MANIFEST_LIMITS.fftSize),
    melBins: a.child('melBins').intIn(MANIFEST_LIMITS.melBins),
    fminHz: a.child('fminHz').nonNegative(),
    fmaxHz: a.child('fmaxHz').positive(),
    melLogFloor: a.child('melLogFloor').positive(),
    melNormOffset: a.child('melNormOffset').number(),
    melNormScale: a.child('melNormScale').positive(),
  };

  const v = root.child('video').object();
  const video: VideoSpec = {
    fps: v.child('fps').numberIn(MANIFEST_LIMITS.fps),
    width: v.child('width').intIn(MANIFEST_LIMITS.frameSide),
    height: v.child('height').intIn(MANIFEST_LIMITS.frameSide),
    pixelFormat: v.child('pixelFormat').literal('rgb24'),
  };

  const l = root.child('latent').object();
  const latent: LatentSpec = {
    channels: l.child('channels').intIn(MANIFEST_LIMITS.latentChannels),
    melBins: l.child('melBins').intIn(MANIFEST_LIMITS.latentMelBins),
    melFramesPerLatentFrame: l
      .child('melFramesPerLatentFrame')
      .intIn(MANIFEST_LIMITS.melFramesPerLatentFrame),
    latentFramesPerVideoFrame: l.child('latentFramesPerVideoFrame').literal(1),
    timeMultiple: l.child('timeMultiple').intIn(MANIFEST_LIMITS.timeMultiple),
  };

  const f = root.child('features').object();
  const contextFrames = f.child('contextFrames').intIn(MANIFEST_LIMITS.contextFrames);
  const right = f.child('rightContextFrames');
  const rightContextFrames = right.present ? right.nonNegativeInt() : contextFrames;
  if (rightContextFrames > contextFrames)
    right.fail(`an integer <= features.contextFrames (${contextFrames})`);
  const features = {
    dim: f.child('dim').intIn(MANIFEST_LIMITS.featureDim),
    contextFrames,
    rightContextFrames,
  };

  const classes = root
    .child('classes')
    .array()
    .map((c) => c.string());
  if (classes.length < MANIFEST_LIMITS.classes[0] || classes.length > MANIFEST_LIMITS.classes[1])
    root.child('classes').fail(`${MANIFEST_LIMITS.classes[0]}..${MANIFEST_LIMITS.classes[1]} classes`);

  const s = root.child('schedule').object();
  const trainSteps = s.child('trainSteps').intIn(MANIFEST_LIMITS.trainSteps);
  const alphasField = s.child('alphasCumprod');
  const alphasCumprod = alphasField.array().map((x) => {
    const n = x.number();
    if (!(n > 0 && n <= 1)) x.fail('a value in (0, 1]');
    return n;
  });
  if (alphasCumprod.length !== trainSteps) alphasField.fail(`${trainSteps} values (schedule.trainSteps)`);
  const schedule: ScheduleSpec = {
    type: s.child('type').literal('ddpm-discrete'),
    trainSteps,
    prediction: s.child('prediction').literal('epsilon'),
    alphasCumprod,
    timestepSpacing: s.child('timestepSpacing').literal('trailing'),
  };

  const m = root.child('models').object();
  const models: Record<string, ModelSpec> = {};
  for (const key of m.keys()) models[key] = parseModelSpec(m.child(key));
  for (const key of REQUIRED_MODEL_KEYS) {
    if (!models[key]) m.child(key).fail(`a model entry (required models: ${REQUIRED_MODEL_KEYS.join(', ')})`);
  }
  checkModelGeometry(m, models, { video, features, latent });

  const sm = root.child('sampling').object();
  const unetKey = (field: Field): string => {
    const key = field.string();
    if (!models[key]) field.fail(`a key of models (${Object.keys(models).join(', ')})`);
    return key;
  };
  const sampling: SamplingSpec = {
    unet: unetKey(sm.child('unet')),
    steps: sm.child('steps').positiveInt(),
    cfgScale: sm.child('cfgScale').nonNegative(),
    cgScale: sm.child('cgScale').nonNegative(),
    // Bundles exported before these fields: classifier on every step, pooled over its input.
    cgMaxTimestep: optional(sm.child('cgMaxTimestep'))?.nonNegativeInt() ?? trainSteps - 1,
    cgWindowFrames: optional(sm.child('cgWindowFrames'))?.positiveInt() ?? null,
    // Bundles exported before restarts: none.
    restarts: optional(sm.child('restarts'))?.nonNegativeInt() ?? 0,
    restartMaxTimestep: optional(sm.child('restartMaxTimestep'))?.nonNegativeInt() ?? trainSteps - 1,
    contactUnknown: optional(sm.child('contactUnknown'))?.number() ?? null,
    contactOpenings: optional(sm.child('contactOpenings'))?.numberIn([0, 1]) ?? null,
    contactGain: optional(sm.child('contactGain'))?.numberIn([0, 10]) ?? 1,
    silentOpeningGain: optional(sm.child('silentOpeningGain'))?.numberIn([1, 10]) ?? null,
    silentOpeningMaxDbfs: optional(sm.child('silentOpeningMaxDbfs'))?.numberIn([-200, 200]) ?? -45,
    windowFrames: sm.child('windowFrames').intIn(MANIFEST_LIMITS.windowFrames),
    overlapFrames: sm.child('overlapFrames').nonNegativeInt(),
  };
  const teacher = sm.child('teacher');
  if (teacher.present && teacher.value !== null) {
    teacher.object();
    sampling.teacher = { unet: unetKey(teacher.child('unet')), steps: teacher.child('steps').positiveInt() };
  }
  if (sampling.steps > trainSteps) sm.child('steps').fail(`at most schedule.trainSteps (${trainSteps})`);
  if (sampling.teacher && sampling.teacher.steps > trainSteps)
    teacher.child('steps').fail(`at most schedule.trainSteps (${trainSteps})`);
  if (sampling.restarts > MAX_RESTARTS) sm.child('restarts').fail(`at most ${MAX_RESTARTS}`);
  if (sampling.restartMaxTimestep >= trainSteps)
    sm.child('restartMaxTimestep').fail(`less than schedule.trainSteps (${trainSteps})`);
  if (sampling.overlapFrames >= sampling.windowFrames)
    sm.child('overlapFrames').fail('less than windowFrames');

  const e = root.child('eval').object();
  const evalSpec = {
    cropFrames: e.child('cropFrames').intIn([1, MANIFEST_LIMITS.evalFrames[1]]),
    preOnsetFrames: e.child('preOnsetFrames').intIn(MANIFEST_LIMITS.evalFrames),
  };

  const contactGate = parseContactGate(root.child('contactGate'), features.dim, models);
  checkUnetFeatureDims(m, models, [sampling.unet, sampling.teacher?.unet], features.dim);
  for (const key of ['contactUnknown', 'contactOpenings', 'contactGain', 'silentOpeningGain'] as const) {
    const declared = key === 'contactGain' ? sampling.contactGain !== 1 : sampling[key] !== null;
    if (declared && unetInputDim(models, sampling.unet, features.dim) !== features.dim + 1) {
      sm.child(key).fail(`absent: ${sampling.unet} does not read the contact detector's column`);
    }
  }
  if (sampling.silentOpeningGain !== null && !contactGate) {
    sm.child('silentOpeningGain').fail('absent: the bundle has no contactGate to find openings');
  }

  const description = root.child('description').present ? String(root.child('description').value) : '';

  return {
    format,
    formatVersion,
    name: root.child('name').string(),
    description,
    audio,
    video,
    latent,
    features,
    classes,
    schedule,
    sampling,
    eval: evalSpec,
    models,
    contactGate,
  };
}

/**
 * A UNet takes the video features, or the features and the contact detector's column; the
 * second only where the bundle has the detector, which makes that column.
 */
function checkUnetFeatureDims(
  models: Field,
  specs: Record<string, ModelSpec>,
  unetKeys: (string | undefined)[],
  dim: number,
): void {
  const hasDetector = specs[CONTACT_DETECTOR_KEY] !== undefined;
  for (const key of unetKeys) {
    if (!key) continue;
    const index = specs[key]!.inputs.findIndex((i) => i.name === 'video_features');
    const shape = specs[key]!.inputs[index]?.shape;
    const last = shape?.[shape.length - 1];
    if (typeof last !== 'number' || last === dim || (last === dim + 1 && hasDetector)) continue;
    models
      .child(key)
      .child('inputs')
      .child(index)
      .child('shape')
      .child(shape!.length - 1)
      .fail(
        last === dim + 1
          ? `${dim} (features.dim): a UNet reads the contact detector's column only where models has "${CONTACT_DETECTOR_KEY}"`
          : `${dim} (features.dim) or ${dim + 1} (with the contact detector's column)`,
      );
  }
}

/** `weakThreshold` and `weakGainDb`, both or neither. */
function parseWeakOpenings(field: Field, threshold: number, depthDb: number): ContactGateShape['weak'] {
  const thresholdField = optional(field.child('weakThreshold'));
  const gainField = optional(field.child('weakGainDb'));
  if (!thresholdField && !gainField) return null;
  if (!thresholdField) return field.child('weakThreshold').fail('a probability, given with weakGainDb');
  if (!gainField) return field.child('weakGainDb').fail('a gain in dB, given with weakThreshold');
  const weakThreshold = thresholdField.number();
  if (!(weakThreshold > 0 && weakThreshold < threshold)) {
    thresholdField.fail(`a probability in (0, ${threshold}): under the gate's threshold`);
  }
  const gainDb = gainField.number();
  if (!(gainDb > depthDb && gainDb < 0)) gainField.fail(`a gain in dB in (${depthDb}, 0): above the depth`);
  return { threshold: weakThreshold, gainDb };
}

/** `inexactThreshold`: a probability at or above the gate's threshold, or absent. */
function parseInexactThreshold(field: Field, threshold: number): number | null {
  const inexactField = optional(field.child('inexactThreshold'));
  if (!inexactField) return null;
  const value = inexactField.number();
  if (!(value >= threshold && value < 1))
    inexactField.fail(`a probability in [${threshold}, 1): not under the gate's threshold`);
  return value;
}

/**
 * `reattackAfterMs` and `reattackRiseDb`, both or neither, and `reattackContactP` and
 * `reattackClosedRiseDb` with them.
 */
function parseReattackLimit(field: Field): ContactGateShape['reattack'] {
  const afterField = optional(field.child('reattackAfterMs'));
  const riseField = optional(field.child('reattackRiseDb'));
  const contactField = optional(field.child('reattackContactP'));
  const closedField = optional(field.child('reattackClosedRiseDb'));
  if (!afterField && !riseField) {
    for (const f of [contactField, closedField])
      if (f) f.fail('nothing without reattackAfterMs and reattackRiseDb');
    return null;
  }
  if (!afterField) return field.child('reattackAfterMs').fail('a time in ms, given with reattackRiseDb');
  if (!riseField) return field.child('reattackRiseDb').fail('a rise in dB, given with reattackAfterMs');
  return {
    afterMs: afterField.numberIn([0, 1000]),
    riseDb: riseField.numberIn([0, 60]),
    contactP: contactField?.numberIn([0, 1]) ?? null,
    closedRiseDb: closedField?.numberIn([0, 60]) ?? null,
  };
}

function parseContactGate(
  field: Field,
  dim: number,
  models: Record<string, ModelSpec>,
): ContactGateSpec | null {
  if (!optional(field)) return null;
  field.object();
  const threshold = field.child('threshold').number();
  if (!(threshold > 0 && threshold < 1)) field.child('threshold').fail('a probability in (0, 1)');
  const depthDb = field.child('depthDb').numberIn([-120, 0]);
  if (depthDb >= 0) field.child('depthDb').fail('a gain in dB < 0');
  const shape: ContactGateShape = {
    threshold,
    rampMs: field.child('rampMs').numberIn([0, 1000]),
    leadMs: optional(field.child('leadMs'))?.numberIn([0, 200]) ?? 0,
    holdMs: field.child('holdMs').numberIn([0, 10000]),
    releaseDbPer10ms: field.child('releaseDbPer10ms').numberIn([0.01, 120]),
    depthDb,
    weak: parseWeakOpenings(field, threshold, depthDb),
    inexactThreshold: parseInexactThreshold(field, threshold),
    reattack: parseReattackLimit(field),
  };
  // Bundles written before the detector: a probe on the features.
  const sourceField = field.child('source');
  const source = optional(sourceField)?.string() ?? 'features';
  if (source === 'detector') {
    if (!models[CONTACT_DETECTOR_KEY]) {
      sourceField.fail(`"features", or a models entry "${CONTACT_DETECTOR_KEY}" for "detector"`);
    }
    return { source: 'detector', ...shape };
  }
  if (source !== 'features') sourceField.fail('"features" or "detector"');
  const w = field.child('weights');
  const weights = w.array().map((x) => x.number());
  if (weights.length !== dim) w.fail(`${dim} numbers (features.dim)`);
  return { source: 'features', weights, bias: field.child('bias').number(), ...shape };
}

/** Audio samples per latent (= video) frame: 640 for the v1 geometry. */
export function samplesPerFrame(manifest: Manifest): number {
  return manifest.latent.melFramesPerLatentFrame * manifest.audio.hopSamples;
}
