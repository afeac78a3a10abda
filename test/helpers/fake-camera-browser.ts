/** Debian's headless Chromium with a y4m file as its camera, as the live browser tests use it. */
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchFakeCameraBrowser(profileDir: string, y4mPath: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${y4mPath}`,
      '--autoplay-policy=no-user-gesture-required', // what OBS's browser source does
    ],
  });
}

/** Polls a page value until `predicate` holds (the page updates on its own events). */
export async function pageUntil<T>(
  page: Page,
  read: () => T,
  predicate: (v: T) => boolean,
  what: string,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = (await page.evaluate(read)) as T;
    if (process.env.FOLEY_TEST_DEBUG) process.stderr.write(`${what}: ${JSON.stringify(value)}\n`);
    if (predicate(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
