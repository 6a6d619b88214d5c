import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium; tests never download a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Where screenshots and other things a person may look at go (git-ignored). */
export const ARTIFACTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/**
 * Launch headless Chromium for one test file (share it between the file's tests).
 * playwright gives every launch a fresh temporary `--user-data-dir` and removes it on
 * `close()`; it refuses an explicit one outside `launchPersistentContext`.
 *
 * @example const browser = await launchChromium(); after(() => browser.close());
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
}

/** What a page printed and threw, collected as it happens. */
export interface PageLog {
  console: string[];
  errors: string[];
}

/**
 * A new isolated context (its own cookies) and a page in it, whose console lines and
 * uncaught errors are collected in the returned log.
 *
 * @example const { page, log } = await openPage(browser); await page.goto(url);
 */
export async function openPage(
  browser: Browser,
): Promise<{ context: BrowserContext; page: Page; log: PageLog }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const log: PageLog = { console: [], errors: [] };
  page.on('console', (message) => log.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => log.errors.push(error.message));
  return { context, page, log };
}

/** Save a full-page screenshot as `test/artifacts/<name>.png` and return its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
