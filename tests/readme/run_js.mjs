// Runs a document's ```js blocks, as written and in order, in one Node process — the JS
// half of tests/readme/run_readme.py, which starts the server, rewrites the server's
// address in the blocks and calls:
//
//     node tests/readme/run_js.mjs BLOCKS.json
//
// BLOCKS.json is `[{"line": n, "code": "…"}, …]`. The blocks run as a mini-program page's
// code runs: the global `wx` is the SDK's test shim (sdk/js/test/wx-shim.mjs: real HTTP
// and WebSockets with wx's callback shapes; its wx.login gives codes of the built-in
// WeChat mock), `App`/`getApp`/`Page`/`Component` are the mini-program's globals,
// `require('yunqiao')` is the SDK's CommonJS build (sdk/js/dist/yunqiao.cjs, what
// miniprogram_dist/index.js also is) and `import … from 'yunqiao'` its ES modules
// (sdk/js/src). As in the shell half, what a block declares at its top level (const, let,
// var, function, class, import) carries over to the blocks after it; declaring a name again
// replaces it. A block fails on a thrown error or a rejected await; an error thrown later by
// a callback a block registered fails the run too.
//
// Output: `::readme-test:: begin N` / `end N` around block N's output (console.*), and
// `::readme-test:: failed N: <error>` when it fails (exit 1).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { inspect } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SDK = join(ROOT, 'sdk', 'js')
const sdkRequire = createRequire(join(SDK, 'package.json'))
const ts = sdkRequire('typescript')
const { createWx } = await import(pathToFileURL(join(SDK, 'test', 'wx-shim.mjs')).href)

const M = '::readme-test::'
const blocks = JSON.parse(readFileSync(process.argv[2], 'utf8'))
let current = -1

function fail(n, e) {
  const what = e instanceof Error ? (e.stack || String(e)) : inspect(e)
  const extra = e && typeof e === 'object' && 'code' in e ? ` (code ${e.code}, status ${e.status}, details ${JSON.stringify(e.details)})` : ''
  const lines = `${what}${extra}`.split('\n')
  process.stdout.write(`\n${M} failed ${n}: ${lines[0]}\n` + lines.slice(1).map((l) => `${M} ${l}\n`).join(''))
  process.exit(1)
}
process.on('uncaughtException', (e) => fail(current, e))
process.on('unhandledRejection', (e) => fail(current, e))

// The mini-program's world: wx, App/getApp, Page, Component.
globalThis.wx = createWx({ loginUser: 'wxuser' }).wx
let app = {}
globalThis.App = (o) => { app = o }
globalThis.getApp = () => app
globalThis.Page = (o) => o
globalThis.Component = (o) => o

/** `require` as a block sees it: 'yunqiao' is the SDK's CommonJS build; the rest as sdk/js sees it. */
function blockRequire(id) {
  if (id === 'yunqiao') return sdkRequire(join(SDK, 'dist', 'yunqiao.cjs'))
  return sdkRequire(id)
}
function blockImport(id) {
  if (id === 'yunqiao') return import(pathToFileURL(join(SDK, 'src', 'index.js')).href)
  return import(pathToFileURL(sdkRequire.resolve(id)).href)
}

/** Names a binding pattern declares. */
function bound(name, out) {
  if (ts.isIdentifier(name)) out.push(name.text)
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bound(el.name, out)
  return out
}

/**
 * Rewrites a block's top-level declarations into assignments to the shared scope:
 * `const a = 1, {b} = c` → `;(a = 1, {b} = c)`; `function f() {}` → `f = function f() {}`
 * (moved to the block's start, as declarations are hoisted); `import {x as y} from 'm'` →
 * `;({x: y} = await __import('m'))`. Returns the code and the names it declares.
 */
function transform(code) {
  const sf = ts.createSourceFile('block.mjs', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS)
  if (sf.parseDiagnostics.length) {
    const d = sf.parseDiagnostics[0]
    const { line } = sf.getLineAndCharacterOfPosition(d.start)
    throw new SyntaxError(`line ${line + 1} of the block: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
  }
  const names = []
  const edits = [] // [start, end, text]
  const hoisted = []
  for (const st of sf.statements) {
    const start = st.getStart(sf)
    if (ts.isVariableStatement(st)) {
      const decls = st.declarationList.declarations
      for (const d of decls) bound(d.name, names)
      const withInit = decls.filter((d) => d.initializer)
      if (!withInit.length) {
        edits.push([start, st.end, ''])
        continue
      }
      const text = withInit.map((d) => `${d.name.getText(sf)} = ${d.initializer.getText(sf)}`).join(', ')
      edits.push([start, st.end, `;(${text});`])
    } else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) {
      names.push(st.name.text)
      edits.push([start, st.end, ''])
      hoisted.push(`${st.name.text} = ${st.getText(sf)};`)
    } else if (ts.isImportDeclaration(st)) {
      const from = JSON.stringify(st.moduleSpecifier.text)
      const c = st.importClause
      const parts = []
      if (c && c.name) {
        names.push(c.name.text)
        parts.push(`${c.name.text} = __m.default`)
      }
      if (c && c.namedBindings && ts.isNamespaceImport(c.namedBindings)) {
        names.push(c.namedBindings.name.text)
        parts.push(`${c.namedBindings.name.text} = __m`)
      } else if (c && c.namedBindings) {
        const props = c.namedBindings.elements.map((el) => {
          names.push(el.name.text)
          return el.propertyName ? `${el.propertyName.text}: ${el.name.text}` : el.name.text
        })
        parts.push(`({${props.join(', ')}} = __m)`)
      }
      edits.push([start, st.end, `;await (async () => { const __m = await __import(${from}); ${parts.join('; ')} })();`])
    }
  }
  let out = code
  for (const [s, e, t] of edits.sort((a, b) => b[0] - a[0])) out = out.slice(0, s) + t + out.slice(e)
  // Hoisted declarations go on the first line, so that line numbers stay the document's.
  return { code: hoisted.join(' ') + out, names }
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor
const scope = Object.create(null)

for (let n = 0; n < blocks.length; n++) {
  current = n
  process.stdout.write(`\n${M} begin ${n}\n`)
  try {
    const { code, names } = transform(blocks[n].code)
    for (const name of names) if (!(name in scope)) scope[name] = undefined
    // `with` makes the shared scope the block's outer scope (sloppy mode, as a script).
    const fn = new AsyncFunction('__scope', 'require', '__import', `with (__scope) {\n${code}\n}`)
    await fn(scope, blockRequire, blockImport)
  } catch (e) {
    fail(n, e)
  }
  // Let what the block started (a live event, a callback) happen within its block.
  await new Promise((r) => setTimeout(r, 50))
  process.stdout.write(`\n${M} end ${n}\n`)
}
current = blocks.length - 1
await new Promise((r) => setTimeout(r, 300))
process.exit(0)
