// What WeChat DevTools' "Tools → Build npm" does for this project, for the command line and
// the tests: for every package in package.json's `dependencies` that has a `miniprogram`
// field, copy that folder of node_modules/<package>/ to miniprogram/miniprogram_npm/<package>/
// (the mini-program's `require('yunqiao')` resolves there). The tests also get the SDK's
// faithful `wx` shim (sdk/js/test/wx-shim.mjs) next to them, so that its `ws` import
// resolves to this project's node_modules.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const out = join(root, 'miniprogram', 'miniprogram_npm')

for (const name of Object.keys(pkg.dependencies || {})) {
  const dir = join(root, 'node_modules', name)
  if (!existsSync(join(dir, 'package.json'))) {
    console.error(`node_modules/${name} is missing: run npm install in ${root}`)
    process.exit(1)
  }
  const dep = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  if (!dep.miniprogram) continue
  const target = join(out, name)
  rmSync(target, { recursive: true, force: true })
  mkdirSync(target, { recursive: true })
  cpSync(join(dir, dep.miniprogram), target, { recursive: true })
  console.log(`miniprogram_npm/${name} ← node_modules/${name}/${dep.miniprogram}`)
}

for (const f of ['wx-shim.mjs', 'images.mjs']) {
  const src = join(root, 'node_modules', 'yunqiao', 'test', f)
  if (!existsSync(src)) continue
  mkdirSync(join(root, 'test', '.vendor'), { recursive: true })
  cpSync(src, join(root, 'test', '.vendor', f))
}
