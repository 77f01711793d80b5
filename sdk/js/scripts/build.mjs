// Builds the one-file, minified CommonJS bundle a mini-program can require without a bundler:
//   dist/yunqiao.cjs (+ .map)  — require('yunqiao') in Node and bundlers; the map points
//                                into src/, which the package ships
//   miniprogram_dist/index.js  — what WeChat DevTools' "build npm" copies to miniprogram_npm/yunqiao
//                                (no map: it would count against the mini-program's size)
// `node scripts/build.mjs --check` fails when the committed files are not what the sources build.
import { build } from 'esbuild'
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** The bundle's text and its source map's, for `dist/yunqiao.cjs`. */
export async function bundle() {
  const r = await build({
    entryPoints: [join(root, 'src/index.js')],
    outfile: join(root, 'dist/yunqiao.cjs'),
    bundle: true,
    minify: true,
    // Classes keep their names (Client, Table, YunqiaoError…) in consoles and stacks.
    keepNames: true,
    sourcemap: 'external',
    sourcesContent: false,
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
  const map = r.outputFiles.find((f) => f.path.endsWith('.map')).text
  const text = r.outputFiles.find((f) => !f.path.endsWith('.map')).text
  return { text, map }
}

/** What each committed file holds. */
async function outputs() {
  const { text, map } = await bundle()
  return {
    'dist/yunqiao.cjs': text + '//# sourceMappingURL=yunqiao.cjs.map\n',
    'dist/yunqiao.cjs.map': map,
    'miniprogram_dist/index.js': text,
  }
}

async function main() {
  const files = await outputs()
  const targets = Object.keys(files)
  if (process.argv.includes('--check')) {
    const stale = targets.filter((t) => !existsSync(join(root, t)) || readFileSync(join(root, t), 'utf8') !== files[t])
    if (stale.length) {
      console.error(`stale build: ${stale.join(', ')} — run npm run build`)
      process.exit(1)
    }
    console.log('build is current')
    return
  }
  for (const t of targets) {
    mkdirSync(dirname(join(root, t)), { recursive: true })
    writeFileSync(join(root, t), files[t])
  }
  console.log(`wrote ${targets.map((t) => `${t} (${files[t].length} bytes)`).join(', ')}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
