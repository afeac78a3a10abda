/**
 * Loads a model bundle folder (models/README.md): reads and validates manifest.json and
 * checks every model file is present. The ONNX signatures are checked when the sessions
 * open (InferenceRunner.start), since that needs the runtime.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleError } from '../errors.js';
import { fileSha256 } from '../file-hash.js';
import {
  CONTACT_DETECTOR_KEY,
  type Manifest,
  parseManifest,
  REQUIRED_MODEL_KEYS,
  readsContactDetector,
} from './manifest.js';

export interface Bundle {
  /** Absolute path of the bundle folder. */
  dir: string;
  manifest: Manifest;
}

/** The package root (the folder with this package's package.json): a checkout or node_modules/live-foley. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        if (JSON.parse(readFileSync(candidate, 'utf8')).name === 'live-foley') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the live-foley package root');
    dir = parent;
  }
}

/** `models/default` of this package, wherever it is installed: the default for render, serve and attachFoley. */
export function defaultBundleDir(): string {
  return join(packageRoot(), 'models', 'default');
}

export async function loadBundle(dirArg: string): Promise<Bundle> {
  const dir = resolve(dirArg);
  const label = `bundle:${basename(dir)}`;
  if (!existsSync(dir)) {
    throw new BundleError(
      `[${label}] model folder not found: ${dir}. Pass --model DIR with a bundle folder (see models/README.md)`,
    );
  }
  if (!statSync(dir).isDirectory()) throw new BundleError(`[${label}] ${dir} is not a folder`);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new BundleError(
      `[${label}, manifest.json] not found in ${dir}; a bundle folder has manifest.json and .onnx files`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (error) {
    throw new BundleError(`[${label}, manifest.json] is not valid JSON: ${(error as Error).message}`);
  }
  const manifest = parseManifest(json, `${label}, manifest.json`);
  const realDir = realpathSync(dir);
  const renderKeys = new Set<string>([...REQUIRED_MODEL_KEYS, manifest.sampling.unet]);
  if (readsContactDetector(manifest)) renderKeys.add(CONTACT_DETECTOR_KEY);
  for (const [key, spec] of Object.entries(manifest.models)) {
    const file = join(dir, spec.file);
    if (!existsSync(file)) {
      if (!renderKeys.has(key)) {
        // An optional model left out of a copy (the published package drops the teacher UNet):
        // the bundle loads without it, as if its manifest never named it.
        delete manifest.models[key];
        if (manifest.sampling.teacher?.unet === key) delete manifest.sampling.teacher;
        continue;
      }
      throw new BundleError(`[bundle:${manifest.name}, model:${key}] file ${spec.file} not found in ${dir}`);
    }
    // The manifest refuses ".." and absolute paths; a symlink may still point elsewhere.
    const realFile = realpathSync(file);
    if (!realFile.startsWith(realDir + sep)) {
      throw new BundleError(
        `[bundle:${manifest.name}, model:${key}] file ${spec.file} resolves to ${realFile}, outside the bundle folder ${realDir}`,
      );
    }
    if (!statSync(realFile).isFile()) {
      throw new BundleError(
        `[bundle:${manifest.name}, model:${key}] file ${spec.file} is not a regular file`,
      );
    }
  }
  return { dir, manifest };
}

/** What foley.evaluate and foley.generalization write into a bundle: descriptions of it, not inputs. */
const EVALUATION_OUTPUTS = new Set(['eval.json', 'REPORT.md', 'figures']);

/**
 * SHA-256 of every file in the bundle folder (sub-folders too, such as a training checkpoint),
 * by relative path, leaving out the evaluation's outputs: what a long job begun from the
 * bundle (`foley train --resume`) checks it against later.
 */
export async function bundleFileDigests(bundle: Bundle): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const name of readdirSync(join(bundle.dir, rel)).sort()) {
      if (rel === '' && EVALUATION_OUTPUTS.has(name)) continue;
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(bundle.dir, path);
      if (statSync(full).isDirectory())
        await walk(path); // a linked folder too
      else digests[path] = await fileSha256(full);
    }
  };
  await walk('');
  return digests;
}

/** Files added, removed or changed between two bundleFileDigests, sorted. */
export function changedBundleFiles(was: Record<string, string>, now: Record<string, string>): string[] {
  const names = new Set([...Object.keys(was), ...Object.keys(now)]);
  return [...names].filter((name) => was[name] !== now[name]).sort();
}
