import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium: playwright-core cannot download a browser here, and `.ci/run` installs this one. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Why browser tests cannot run on this machine, or undefined when they can. A developer without Chromium gets a
 * skip that says what to install; in CI a missing browser is a failure, never a silent skip.
 */
export function browserSkipReason(env: Record<string, string | undefined> = process.env): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  const missing = `${CHROMIUM_PATH} is missing (install Debian's chromium: apt-get install -y chromium)`;
  if (env.CI) throw new Error(`${missing}; CI must install it (.ci/run does)`);
  return missing;
}

/**
 * Headless Chromium. Each launch gets a fresh temporary profile (user data dir) that playwright-core creates and
 * removes on close; `--user-data-dir` itself is refused by `launch`.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
