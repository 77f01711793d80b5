// The console's test bench: a real `yunqiao serve` on 127.0.0.1 (a fresh data dir, a
// known admin key) and headless Chromium driven by playwright-core. Both stop with the
// tests: the server is killed on exit, and Chromium, started over a pipe by playwright,
// exits when its pipe closes (also when this process dies).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A server started elsewhere (the Lambda face: infra/js-on-lambda.sh sets these). */
const GIVEN = process.env.YUNQIAO_TEST_BASE_URL;
export const ADMIN_KEY = (GIVEN && process.env.YUNQIAO_TEST_ADMIN_KEY) || 'console-test-admin-' + process.pid + '-0123456789abcdef';
/** Which face the tests run on: `server` (spawned here) or `lambda`. */
export const FACE = GIVEN ? 'lambda' : 'server';

/** Where the test run writes its screenshots (not committed), a directory per face. */
export const SCREENS = join(process.env.YUNQIAO_CONSOLE_SCREENS || join(ROOT, '..', 'target', 'console-screens'), FACE);

/** @param {string} baseUrl */
function client(baseUrl) {
  /** @param {string} method @param {string} path @param {any} [body] @param {string} [token] */
  return async (method, path, body, token = ADMIN_KEY) => {
    const r = await fetch(baseUrl + path, {
      method,
      headers: { authorization: 'Bearer ' + token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}

export async function startServer() {
  if (GIVEN) {
    const baseUrl = GIVEN.replace(/\/+$/, '');
    // Its logs are the functions' own: not readable from here.
    const wsUrl = process.env.YUNQIAO_TEST_WS_URL;
    if (!wsUrl) throw new Error('YUNQIAO_TEST_WS_URL: the face’s WebSocket API');
    return { baseUrl, wsUrl, stop: async () => {}, api: client(baseUrl), logs: () => /** @type {string | null} */ (null) };
  }
  const bin = process.env.YUNQIAO_BIN;
  if (!bin) throw new Error('set YUNQIAO_BIN to the yunqiao server binary');
  const dir = mkdtempSync(join(tmpdir(), 'yq-console-'));
  // `info`: every request is logged, so that the test can look for the key in the logs.
  // console_plans is for sale (the pay log's test); the built-in mock is WeChat Pay.
  const env = { ...process.env, YUNQIAO_ADMIN_KEY: ADMIN_KEY, YUNQIAO_LOG: 'info', YUNQIAO_PAY_TABLES: 'console_plans' };
  delete env.YUNQIAO_CONFIG;
  const child = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const baseUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within 60 s:\n${out}\n${err}`)), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /yunqiao listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening:\n${out}\n${err}`));
    });
  });
  process.on('exit', () => {
    try {
      child.kill('SIGKILL');
    } catch {}
  });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(t);
        rmSync(dir, { recursive: true, force: true });
        resolve(undefined);
      });
      child.kill('SIGTERM');
    });
  const wsUrl = baseUrl.replace(/^http/, 'ws') + '/v1/ws';
  return { baseUrl, wsUrl, stop, api: client(baseUrl), logs: () => /** @type {string | null} */ (out + err) };
}

/** Chromium: Debian's, headless, no background traffic; playwright gives it a fresh
 * profile of its own (and removes it). */
export async function startBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
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
  return browser;
}

/** @param {import('playwright-core').Page} page @param {string} name */
export async function screenshot(page, name) {
  mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: join(SCREENS, name + '.png'), fullPage: true });
}
