// Builds the one-file CommonJS bundle a mini-program can require without a bundler:
//   dist/yunqiao.cjs           — require('yunqiao') in Node and bundlers
//   miniprogram_dist/index.js  — what WeChat DevTools' "build npm" copies to miniprogram_npm/yunqiao
// `node scripts/build.mjs --check` fails when the committed files are not what the sources build.
import { build } from 'esbuild'
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

export async function bundle() {
  const r = await build({
    entryPoints: [join(root, 'src/index.js')],
    bundle: true,
    format: 'cjs',
    platform: 'neutral',
    // The mini-program engines (JavaScriptCore on iOS, V8 on Android) run ES2017 without
    // the base library's transpiler.
    target: 'es2017',
    write: false,
    legalComments: 'none',
    banner: { js: `/* yunqiao ${pkg.version} — ${pkg.description.split(':')[0]}. Built from src/ by scripts/build.mjs; do not edit. */` },
    logLevel: 'warning',
  })
  return r.outputFiles[0].text
}

const targets = ['dist/yunqiao.cjs', 'miniprogram_dist/index.js']

async function main() {
  const text = await bundle()
  if (process.argv.includes('--check')) {
    const stale = targets.filter((t) => !existsSync(join(root, t)) || readFileSync(join(root, t), 'utf8') !== text)
    if (stale.length) {
      console.error(`stale build: ${stale.join(', ')} — run npm run build`)
      process.exit(1)
    }
    console.log('build is current')
    return
  }
  for (const t of targets) {
    mkdirSync(dirname(join(root, t)), { recursive: true })
    writeFileSync(join(root, t), text)
  }
  console.log(`wrote ${targets.join(', ')} (${text.length} bytes)`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
