// The cloud-function types (sdk/functions/yunqiao.d.ts) as a function's author uses them:
// `tsc --noEmit` with checkJs and strict, in a sandbox-like lib (ES2023, no DOM, no Node),
// over the example module, the READMEs' modules and a typed hook, and over a snippet of
// mistakes that must each be an error on its own line. Also: the example's project file
// names exports the module has. No server needed.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..', '..')
const dts = join(repo, 'sdk/functions/yunqiao.d.ts')
const example = join(repo, 'sdk/functions/example/lobby.js')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

const work = mkdtempSync(join(tmpdir(), 'yq-fn-types-'))
after(() => rmSync(work, { recursive: true, force: true }))

/** Type-checks `files` (absolute, or relative to the work dir) against the d.ts alone. */
function check(name, files) {
  const config = join(work, `${name}.tsconfig.json`)
  writeFileSync(
    config,
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        allowJs: true,
        checkJs: true,
        strict: true,
        noEmit: true,
        // What the sandbox has: the language, and the d.ts's globals. No DOM, no Node.
        lib: ['ES2023'],
        types: [],
        noUnusedLocals: false,
      },
      files: [dts, ...files.map((f) => (f.startsWith('/') ? f : join(work, f)))],
    }),
  )
  const r = spawnSync(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { encoding: 'utf8' })
  return { status: r.status, out: (r.stdout || '') + (r.stderr || '') }
}

/**
 * The modules a document writes: with `cat > cloud/<name>.js <<'EOF'`, or as a ```js block
 * whose first line names its file (`// cloud/<name>.js`, which tests/readme/run_readme.py
 * writes there before the document's shell blocks deploy it).
 */
function readmeModules(readme) {
  const text = readFileSync(join(repo, readme), 'utf8')
  const out = []
  for (const m of text.matchAll(/cat > cloud\/([\w-]+)\.js <<'EOF'\n([\s\S]*?)\nEOF\n/g)) {
    out.push({ name: m[1], source: m[2] + '\n' })
  }
  for (const m of text.matchAll(/^( *)```js\n\1\/\/ *cloud\/([\w-]+)\.js *\n([\s\S]*?)\n\1```/gm)) {
    const source = m[3].split('\n').map((l) => l.slice(m[1].length)).join('\n')
    out.push({ name: m[2], source: source + '\n' })
  }
  return out
}

test('the example module and the READMEs\' modules type-check against yunqiao.d.ts', () => {
  const files = [example]
  const docs = ['README.md', 'README.zh-CN.md', 'docs/functions.md', 'docs/functions.zh-CN.md', 'sdk/js/README.md', 'sdk/js/README.zh-CN.md']
  for (const readme of docs) {
    const mods = readmeModules(readme)
    assert.ok(mods.length >= 1, `${readme} writes a cloud function module (cat > cloud/<name>.js <<'EOF', or a js block starting // cloud/<name>.js)`)
    for (const m of mods) {
      const f = `${readme.replace(/\W/g, '_')}.${m.name}.js`
      writeFileSync(join(work, f), m.source)
      files.push(f)
    }
  }
  const r = check('good', files)
  assert.equal(r.out.trim(), '', 'no type errors')
  assert.equal(r.status, 0)
})

test("the example's project file names the module's file and exports", () => {
  const project = JSON.parse(readFileSync(join(repo, 'sdk/functions/example/yunqiao.json'), 'utf8'))
  const fn = project.functions.lobby
  assert.equal(join(repo, 'sdk/functions/example', fn.file), example)
  const exported = new Set([...readFileSync(example, 'utf8').matchAll(/^export (?:async )?function (\w+)/gm)].map((m) => m[1]))
  for (const name of Object.keys(fn.exports)) assert.ok(exported.has(name), `lobby.js exports ${name}`)
  for (const [table, def] of Object.entries(project.tables)) {
    for (const target of Object.values(def.hooks || {})) {
      const [module, name] = target.split('.')
      assert.equal(module, 'lobby', `${table}'s hook ${target}`)
      assert.ok(exported.has(name), `lobby.js exports ${name} (a hook of ${table})`)
    }
  }
})

test('typed use from TypeScript: records, narrowing, hook and schedule events', () => {
  writeFileSync(
    join(work, 'typed.ts'),
    `
import yunqiao, { db, kv, context, http, FunctionError, YunqiaoError,
  type BeforeUpdateEvent, type HookEvent, type ScheduleEvent, type Rec } from 'yunqiao'

interface Product { sku: string; price: number; stock: number; tags: string[] }
const products = () => db.table<Product>('products')

export async function price(sku: string): Promise<number> {
  const products = db.table<Product>('products')
  const { items, cursor, scanned } = await products.query({ where: [['sku', 'eq', sku]], order: [['_id', 'desc']], limit: 1 })
  const p: Rec<Product> | undefined = items[0]
  if (!p) throw new FunctionError('NO_SUCH_PRODUCT', 'no such product', 404, { sku })
  await products.update(p._id, { stock: { $inc: -1 }, tags: { $append: ['sold'] } }, { _v: p._v })
  const owner: string | null = p._owner
  void [cursor, scanned, owner]
  return p.price
}

export function who(): string {
  const c = context.caller
  switch (c.kind) {
    case 'user': return c.nickname ?? c.id + ' in ' + c.groups.join(',')
    case 'admin': return 'admin'
    case 'anonymous': return 'someone'
  }
}

export async function beforeUpdate(e: BeforeUpdateEvent<Product>) {
  if (e.old.stock < 0) throw new FunctionError('BAD', 'bad')
  return { ...e.data, price: e.old.price }
}

export async function anyHook(e: HookEvent<Product>) {
  if ('record_id' in e) {
    if (e.op === 'delete') return e.old.sku
    return e.record.sku + (e.truncated ? '…' : '')
  }
  return e.op === 'create' ? e.data.sku : e.id
}

export async function tick({ scheduled_at }: ScheduleEvent) {
  const n = (await kv('counters').get<number>('ticks')) ?? 0
  const entry = await db.admin().kv('counters').set('ticks', n + 1, { ttl: 3600 })
  const at: number = Date.parse(scheduled_at)
  const expiry: string | null = entry.expires_at
  await kv('counters').remove('ticks', { _v: entry._v })
  await products().remove('p1', { _v: 2 })
  const r = await http.fetch('https://api.example.com/x', { method: 'POST', body: { n }, headers: { 'content-type': 'application/json' } })
  const body: { ok: boolean } = await r.json()
  try {
    await yunqiao.secrets.get('API_KEY')
  } catch (e) {
    if (e instanceof YunqiaoError && e.status === 404) console.warn(e.code, e.details)
  }
  return { at, v: entry._v, expires: expiry, ok: r.ok && body.ok, status: r.status }
}
`,
  )
  const r = check('typed', ['typed.ts'])
  assert.equal(r.out.trim(), '', 'no type errors')
  assert.equal(r.status, 0)
})

// Each line ending in `// error` must have a type error; no other line may. If the d.ts
// grew too lax (say, `any` everywhere), this fails.
const WRONG = `
import { db, kv, users, events, secrets, http, context, FunctionError } from 'yunqiao'
import { fs } from 'yunqiao' // error
/** @typedef {{ name: string, max: number }} Room */
const rooms = /** @type {import('yunqiao').Table<Room>} */ (db.table('rooms'))

export async function mistakes() {
  const room = await rooms.get('r1')
  room.name.toFixed(2) // error
  /** @type {string} */
  const id = context.caller.id // error
  if (context.caller.kind === 'user') context.caller.groups.push(context.caller.id)
  context.caller.groups // error
  await secrets.get(42) // error
  await kv('ns').set('key') // error
  await kv('ns').set('key', 1, { ttl: '1h' }) // error
  await http.fetch('https://api.example.com', { method: 'TRACE' }) // error
  new FunctionError() // error
  new FunctionError('CODE', 'message', '409') // error
  await events.send('user-id') // error
  await users.addToGroup('user-id') // error
  await db.table('t').query({ where: [['a', 'like', 1]] }) // error
  await db.table('t').query({ order: [['a', 'up']] }) // error
  await db.batch([{ op: 'upsert', table: 't', data: {} }]) // error
  await db.table('t').update('id', { n: 1 }, { version: 2 }) // error
  await db.table('t').update('id', { n: 1 }, { v: 2 }) // error
  await kv('ns').set('key', 1, { v: 2 }) // error
  await kv('ns').remove('key', { version: 2 }) // error
  const entry = await kv('ns').set('key', 1)
  entry.version // error
  Date.parse(entry.created_at)
  entry.created_at.toFixed(0) // error
  fetch('https://api.example.com') // error
  setTimeout(() => {}, 10) // error
  require('fs') // error
  process.env.HOME // error
  return id
}

/** @param {import('yunqiao').AfterCreateEvent<Room>} event */
export function afterCreate(event) {
  event.data // error
  return event.record.max + event.old // error
}
`

test('mistakes are type errors, each on its own line', () => {
  writeFileSync(join(work, 'wrong.js'), WRONG)
  const r = check('wrong', ['wrong.js'])
  assert.notEqual(r.status, 0, 'tsc must fail on the mistakes')
  const lines = WRONG.split('\n')
  const expected = new Set(lines.flatMap((l, i) => (l.endsWith('// error') ? [i + 1] : [])))
  const got = new Set()
  for (const m of r.out.matchAll(/wrong\.js\((\d+),\d+\): error TS\d+/g)) got.add(Number(m[1]))
  const missing = [...expected].filter((n) => !got.has(n)).map((n) => `${n}: ${lines[n - 1].trim()}`)
  const unexpected = [...got].filter((n) => !expected.has(n)).map((n) => `${n}: ${lines[n - 1].trim()}`)
  assert.deepEqual(missing, [], `lines that should not type-check but do\n${r.out}`)
  assert.deepEqual(unexpected, [], `lines that should type-check but do not\n${r.out}`)
  assert.ok(!/yunqiao\.d\.ts\(/.test(r.out), `no errors in the d.ts itself\n${r.out}`)
})
