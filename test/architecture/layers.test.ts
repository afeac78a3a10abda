import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/models/bundle.js';

/**
 * Layers, lowest first; a module may import its own layer and those below it:
 *   base       src/errors.ts, src/logger.ts, src/typed-emitter.ts, src/polyfills.ts, src/file-hash.ts
 *   engine     src/models, src/diffusion, src/dsp, src/media, src/evaluation, src/training
 *   pipelines  pipelines/
 *   apps       src/cli, src/server, src/sfu, src/index.ts (the package entry: re-exports src/sfu)
 */
const LAYERS = ['base', 'engine', 'pipelines', 'apps'] as const;
type Layer = (typeof LAYERS)[number];

const BASE_FILES = [
  'src/errors.ts',
  'src/logger.ts',
  'src/typed-emitter.ts',
  'src/polyfills.ts',
  'src/file-hash.ts',
];
const FOLDERS: Array<[string, Layer]> = [
  ['src/models/', 'engine'],
  ['src/diffusion/', 'engine'],
  ['src/dsp/', 'engine'],
  ['src/media/', 'engine'],
  ['src/evaluation/', 'engine'],
  ['src/training/', 'engine'],
  ['pipelines/', 'pipelines'],
  ['src/cli/', 'apps'],
  ['src/server/', 'apps'],
  ['src/sfu/', 'apps'],
  ['src/index.ts', 'apps'],
];

/** The layer of a repository path (posix, from the root), or null when no layer claims it. */
export function layerOf(path: string): Layer | null {
  if (BASE_FILES.includes(path)) return 'base';
  return FOLDERS.find(([folder]) => path.startsWith(folder))?.[1] ?? null;
}

/** Relative module specifiers of a TypeScript source: static, re-export, side-effect and dynamic imports. */
export function importSpecifiers(source: string): string[] {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  return [...source.matchAll(pattern)].map((m) => m[1]!);
}

export interface UpwardImport {
  file: string;
  imports: string;
  fileLayer: Layer;
  importLayer: Layer;
}

/** Imports of `file` (repository path) that reach a higher layer, or an unclassified path. */
export function upwardImports(file: string, source: string): Array<UpwardImport | string> {
  const fileLayer = layerOf(file);
  if (!fileLayer) return [`${file} is in no layer: add its folder to test/architecture/layers.test.ts`];
  const found: Array<UpwardImport | string> = [];
  for (const specifier of importSpecifiers(source)) {
    const target = join(dirname(file), specifier).split(sep).join('/').replace(/\.js$/, '.ts');
    const importLayer = layerOf(target);
    if (!importLayer) {
      found.push(`${file} imports ${target}, which is in no layer`);
    } else if (LAYERS.indexOf(importLayer) > LAYERS.indexOf(fileLayer)) {
      found.push({ file, imports: target, fileLayer, importLayer });
    }
  }
  return found;
}

function sourceFiles(root: string, folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, folder), { withFileTypes: true })) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(root, path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const describeFinding = (f: UpwardImport | string): string =>
  typeof f === 'string' ? f : `${f.file} (${f.fileLayer}) imports ${f.imports} (${f.importLayer})`;

describe('layers import downward only', () => {
  it('finds no upward import in src/ and pipelines/', () => {
    const root = resolve(packageRoot());
    const files = [...sourceFiles(root, 'src'), ...sourceFiles(root, 'pipelines')];
    assert.ok(files.length > 50, `only ${files.length} files found under ${root}`);
    const findings = files.flatMap((file) =>
      upwardImports(relative(root, join(root, file)), readFileSync(join(root, file), 'utf8')),
    );
    assert.deepEqual(findings.map(describeFinding), []);
  });

  it('catches an engine module importing pipelines, pipelines importing an app, and base importing the engine', () => {
    const cases: Array<[string, string]> = [
      ['src/diffusion/sampler.ts', "import { renderFoley } from '../../pipelines/render.js';"],
      ['pipelines/live.ts', "import type { Room } from '../src/server/Room.js';"],
      ['pipelines/live/compose.ts', "export { attachFoley } from '../../src/sfu/index.js';"],
      ['src/logger.ts', "const m = await import('./models/bundle.js');"],
      ['src/media/video-reader.ts', "import '../cli/main.js';"],
    ];
    for (const [file, source] of cases) {
      assert.equal(upwardImports(file, source).length, 1, `${file}: ${source}`);
    }
  });

  it('allows imports within a layer and downward', () => {
    assert.deepEqual(
      upwardImports(
        'src/sfu/FoleyAttachment.ts',
        "import { LiveFoleyPipeline } from '../../pipelines/live.js';\nimport { Logger } from '../logger.js';",
      ),
      [],
    );
    assert.deepEqual(
      upwardImports('pipelines/render.ts', "import { x } from '../src/media/video-reader.js';"),
      [],
    );
  });
});
