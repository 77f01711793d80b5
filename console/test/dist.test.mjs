// The committed dist/ is what the sources build to (the binary embeds dist/, so a
// source change without a rebuild would ship the old console), and it stays small.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './harness.mjs';

test('dist/ matches a fresh build of src/ (run `npm run build` in console/ and commit)', () => {
  const out = mkdtempSync(join(tmpdir(), 'yq-console-dist-'));
  try {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--out', out], { stdio: 'pipe' });
    const committed = readdirSync(join(ROOT, 'dist')).sort();
    assert.deepEqual(committed, readdirSync(out).sort());
    for (const f of committed) {
      assert.ok(readFileSync(join(ROOT, 'dist', f)).equals(readFileSync(join(out, f))), `dist/${f} differs from a fresh build`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the whole console is under 150 KB gzipped', () => {
  const dist = join(ROOT, 'dist');
  const gz = readdirSync(dist).filter((f) => f.endsWith('.gz'));
  assert.ok(gz.length >= 3, 'index.html, app.js and app.css have gzip twins');
  const total = gz.reduce((n, f) => n + readFileSync(join(dist, f)).length, 0);
  assert.ok(total < 150 * 1024, `${total} bytes`);
});
