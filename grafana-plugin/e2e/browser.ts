// The headless Chromium every browser test drives (Debian's chromium, or CHROMIUM_PATH).
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Chromium without sandbox, GPU or any background traffic of its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** After a failed test, the page as it was: `<dir>/failed-<test name>.png` (node:test's afterEach context). */
export async function screenshotIfFailed(page: Page | undefined, t: unknown, dir: string): Promise<void> {
  const ctx = t as { passed?: boolean; name: string };
  if (!page || ctx.passed !== false) {
    return;
  }
  await page
    .screenshot({
      path: join(dir, `failed-${ctx.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}.png`),
      fullPage: true,
    })
    .catch(() => undefined);
}
