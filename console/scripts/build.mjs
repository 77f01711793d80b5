// Builds the console into dist/ (committed, embedded in the binary): index.html, app.js
// (one ES module, minified), app.css, and a gzip twin of each (served to clients that
// take gzip). The output depends on the sources only, so a test can rebuild into a
// temporary directory and compare: `node scripts/build.mjs --out DIR`.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--out');
const out = i > 0 ? process.argv[i + 1] : join(root, 'dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'src/main.js'), 'app-css': join(root, 'src/app.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outdir: out,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});
// esbuild names the CSS entry app-css.css.
writeFileSync(join(out, 'app.css'), readFileSync(join(out, 'app-css.css')));
rmSync(join(out, 'app-css.css'));
writeFileSync(join(out, 'index.html'), readFileSync(join(root, 'src/index.html')));

let total = 0;
for (const f of readdirSync(out).sort()) {
  const data = readFileSync(join(out, f));
  // Deterministic: no file name or time in the header.
  const gz = gzipSync(data, { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(join(out, f + '.gz'), gz);
  total += gz.length;
  console.log(`${f.padEnd(12)} ${String(data.length).padStart(7)} B  gzip ${String(gz.length).padStart(6)} B`);
}
console.log(`total gzipped: ${(total / 1024).toFixed(1)} KB`);
