import { pathToFileURL } from 'node:url';

/**
 * True when the module at `moduleUrl` was started as a script (`node dist/test/reliability/x.js`).
 * `node --test dist/test/` also runs every .js under a test folder as its main module, with
 * NODE_TEST_CONTEXT set: runnable drivers must then do nothing.
 */
export function isMainScript(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return (
    entry !== undefined &&
    moduleUrl === pathToFileURL(entry).href &&
    process.env.NODE_TEST_CONTEXT === undefined
  );
}
