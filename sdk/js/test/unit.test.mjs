// What needs no server: the query builder's bodies, batches, callbacks, the storage
// adapters, the declared types against the runtime, and the committed build.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import * as sdk from '../src/index.js'
import { createClient, memoryStorage, Query, webAdapter, YunqiaoError } from '../src/index.js'
import { createWx } from './wx-shim.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const offline = () => createClient({ baseUrl: 'http://127.0.0.1:9/', adapter: webAdapter({ storage: 'memory' }) })

test('query bodies: operators, SQL precedence for orWhere, shared conditions in where', () => {
  const t = offline().table('posts')
  assert.deepEqual(t.where('a', '=', 1).where('b', '>=', 2).where('c', 'not in', [1]).body(), {
    where: [
      ['a', 'eq', 1],
      ['b', 'gte', 2],
      ['c', 'nin', [1]],
    ],
  })
  assert.deepEqual(t.where({ a: 1, b: 'x' }).body(), {
    where: [
      ['a', 'eq', 1],
      ['b', 'eq', 'x'],
    ],
  })
  // (a and b) or c
  assert.deepEqual(t.where('a', 1).where('b', 2).orWhere('c', 3).body(), {
    any: [[['a', 'eq', 1], ['b', 'eq', 2]], [['c', 'eq', 3]]],
  })
  // (s and a) or (s and b): s is shared, so it goes to where, which the planner can use
  assert.deepEqual(t.where('s', 1).where('a', 1).orWhere('s', 1).where('b', 1).body(), {
    where: [['s', 'eq', 1]],
    any: [[['a', 'eq', 1]], [['b', 'eq', 1]]],
  })
  // (s) or (s and b) is just s
  assert.deepEqual(t.where('s', 1).orWhere('s', 1).where('b', 2).body(), { where: [['s', 'eq', 1]] })
  assert.deepEqual(t.orWhere('x', 1).body(), { where: [['x', 'eq', 1]] })
  assert.deepEqual(
    t
      .orderBy('score', 'DESC')
      .limit(5)
      .expand('author', 'tags')
      .select('title')
      .after('c1')
      .body(),
    { order: [['score', 'desc']], limit: 5, cursor: 'c1', fields: ['title'], expand: ['author', 'tags'] },
  )
  assert.deepEqual(t.after('c1').paginate(10, 3).body(), { page: 3, per_page: 10 }, 'paging replaces the cursor')
  assert.throws(() => t.where(), (e) => e instanceof YunqiaoError && e.code === 'INVALID_QUERY')
})

test('queries are immutable and round-trip through JSON', () => {
  const c = offline()
  const a = c.table('t').where('x', 1)
  const b = a.orderBy('x', 'desc')
  assert.notEqual(a, b)
  assert.deepEqual(a.body(), { where: [['x', 'eq', 1]] })
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a._s))
  const q = c.table('t').where('s', 1).where('a', 1).orWhere('s', 1).where('b', 2).orderBy('_id', 'desc').limit(3)
  const back = c.query(JSON.parse(JSON.stringify(q)))
  assert.ok(back instanceof Query)
  assert.deepEqual(back.toJSON(), q.toJSON())
  assert.deepEqual(c.table('t').query({ where: [['x', 'eq', 1]] }).toJSON(), { table: 't', where: [['x', 'eq', 1]] })
})

test('a query rebuilds from the string JSON.stringify made, as the README says', () => {
  const c = offline()
  const q = c.table('t').where('s', 'open').where('n', '>=', 10).orWhere('p', true).orderBy('n', 'desc').limit(20).expand('a')
  const json = JSON.stringify(q)
  assert.equal(typeof json, 'string')
  const back = c.query(json)
  assert.ok(back instanceof Query)
  assert.deepEqual(back.toJSON(), q.toJSON())
  assert.deepEqual(c.table('u').query(JSON.stringify({ where: [['x', 'eq', 1]] })).toJSON(), { table: 'u', where: [['x', 'eq', 1]] })
  assert.throws(() => c.query('{not json'), (e) => e instanceof YunqiaoError && e.code === 'INVALID_QUERY')
  assert.throws(() => c.query('{"where": []}'), (e) => e instanceof YunqiaoError && e.code === 'INVALID_QUERY')
})

test('batches are immutable and name their tables', () => {
  const c = offline()
  const b0 = c.batch()
  const b1 = b0.create('a', { x: 1 }).update('a', 'id1', { x: 2, _v: 3 }).remove('b', 'id2', { _v: 1 }).check('c', 'id3')
  assert.equal(b0.ops.length, 0)
  assert.deepEqual(b1.toJSON(), {
    ops: [
      { op: 'create', table: 'a', data: { x: 1 } },
      { op: 'update', table: 'a', id: 'id1', data: { x: 2 }, _v: 3 },
      { op: 'delete', table: 'b', id: 'id2', _v: 1 },
      { op: 'check', table: 'c', id: 'id3' },
    ],
  })
  const bound = c.table('t').batch().create({ y: 1 }).update('i', { y: 2 }, { _v: 1 }).remove('j').check('k', { _v: 2 })
  assert.deepEqual(
    bound.ops.map((o) => [o.op, o.table, o.id]),
    [
      ['create', 't', undefined],
      ['update', 't', 'i'],
      ['delete', 't', 'j'],
      ['check', 't', 'k'],
    ],
  )
  assert.throws(() => c.batch().remove('x'), /name the table/)
})

test('operators', () => {
  assert.deepEqual(sdk.$inc(), { $inc: 1 })
  assert.deepEqual(sdk.op.inc(-2), { $inc: -2 })
  assert.deepEqual(sdk.$append('a', 'b'), { $append: ['a', 'b'] })
  assert.deepEqual(sdk.$append(['a']), { $append: ['a'] })
  assert.deepEqual(sdk.op.remove('x'), { $remove: ['x'] })
})

test('callbacks: a fail-only caller never meets an unhandled rejection; throwing callbacks are contained', async () => {
  const c = offline()
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  const errs = []
  const origError = console.error
  console.error = () => {}
  try {
    const got = await new Promise((resolve) => {
      c.table('t').get('x', { fail: resolve })
    })
    assert.equal(got.code, 'NETWORK_ERROR')
    await new Promise((resolve) =>
      c.table('t').get('x', {
        fail: () => {
          throw new Error('app bug')
        },
        complete: (e) => {
          errs.push(e)
          resolve()
        },
      }),
    )
    await new Promise((r) => setTimeout(r, 20))
  } finally {
    console.error = origError
    process.off('unhandledRejection', onUnhandled)
  }
  assert.equal(unhandled.length, 0)
  assert.equal(errs.length, 1, 'complete still ran after fail threw')
})

test('YunqiaoError', () => {
  const e = new YunqiaoError('NOT_FOUND', 'no record', { status: 404, details: { field: 'id' }, requestId: 'r1' })
  assert.ok(e instanceof Error)
  assert.equal(e.name, 'YunqiaoError')
  assert.equal(e.errMsg, 'NOT_FOUND: no record')
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'NOT_FOUND', message: 'no record', details: { field: 'id' }, status: 404 })
  assert.equal(new YunqiaoError('X', 'y').details, null)
})

test('storage: Stor over memory and over the wx shim read a missing key as undefined', async () => {
  const shim = createWx()
  for (const adapter of [webAdapter({ storage: memoryStorage() }), sdk.wxAdapter(shim.wx)]) {
    const c = createClient({ baseUrl: 'http://127.0.0.1:9', adapter })
    const s = c.storage
    assert.equal(s.getSync('missing'), undefined)
    s.setSync('empty', '')
    assert.equal(s.getSync('empty'), '', 'a stored empty string is not a missing key')
    assert.deepEqual(await s.set('o', { a: [1] }), { a: [1] })
    assert.deepEqual(await s.get('o'), { a: [1] })
    s.setMapSync('m', 'k', 1)
    await s.setMap('m', 'j', 2)
    assert.equal(s.getMapSync('m', 'k'), 1)
    assert.equal(await s.getMap('m', 'j'), 2)
    assert.equal(s.rmSync('o'), true)
    assert.equal(await s.get('o'), undefined)
    assert.ok((await s.keys()).includes('m'))
    s.clearSync()
    assert.deepEqual(await s.keys(), [])
    assert.throws(() => s.setSync('', 1), (e) => e.code === 'INVALID_ARGUMENT')
  }
  assert.equal(shim.wx.getStorageSync('missing'), '', 'the shim keeps wx’s quirk')
})

test('the types declare every export and every public method', () => {
  const dts = readFileSync(join(root, 'types/index.d.ts'), 'utf8')
  const declared = new Set([...dts.matchAll(/^export (?:class|function|const|interface|type) (\$?\w+)/gm)].map((m) => m[1]))
  for (const name of Object.keys(sdk)) assert.ok(declared.has(name), `types/index.d.ts declares ${name}`)
  const classBody = (name) => {
    const start = dts.indexOf(`export class ${name}`)
    assert.ok(start >= 0, `class ${name} declared`)
    return dts.slice(start, dts.indexOf('\n}\n', start))
  }
  const classes = { Client: sdk.Client, Query: sdk.Query, Batch: sdk.Batch, Table: sdk.Table, Kv: sdk.Kv, Channel: sdk.Channel, Stor: sdk.Stor, Subscription: sdk.Subscription, LiveQuery: sdk.LiveQuery }
  for (const [name, cls] of Object.entries(classes)) {
    const body = classBody(name)
    const methods = new Set()
    for (let p = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const m of Object.getOwnPropertyNames(p)) if (m !== 'constructor' && !m.startsWith('_') && !['emit', 'listenerCount'].includes(m)) methods.add(m)
    }
    for (const m of methods) assert.match(body, new RegExp(`\\n  (static )?${m.replace('$', '\\$')}[<(]`), `${name}.${m} is declared`)
  }
  const auth = createClient({ baseUrl: 'http://x', adapter: webAdapter({ storage: 'memory' }) }).auth
  const authBody = classBody('Auth')
  for (const m of Object.getOwnPropertyNames(Object.getPrototypeOf(auth))) {
    if (m === 'constructor' || m.startsWith('_')) continue
    assert.match(authBody, new RegExp(`\\n  (readonly )?${m}[<(:]`), `Auth.${m} is declared`)
  }
})

test('the committed CommonJS build is what the sources build', () => {
  const out = execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), '--check'], { encoding: 'utf8' })
  assert.match(out, /build is current/)
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  assert.equal(pkg.miniprogram, 'miniprogram_dist')
  assert.equal(pkg.engines.node, '>=20')
  assert.equal(pkg.dependencies, undefined, 'nothing for WeChat DevTools to build but the SDK itself')
})

/**
 * A channel over scripted sockets: `sockets[i]` is what the client opened, with `sent`
 * (the frames it wrote) and `open()`, `frame(f)`, `cut()` to play the server's part.
 */
function scriptedChannel(channelOpts) {
  const sockets = []
  const adapter = Object.assign({}, webAdapter({ storage: memoryStorage() }), {
    connect(url, on) {
      const s = {
        sent: [],
        open: () => on.onOpen(),
        frame: (f) => on.onMessage(JSON.stringify(f)),
        cut: () => on.onClose({ code: 1006, reason: '' }),
        send: (text) => s.sent.push(JSON.parse(text)),
        close() {},
      }
      sockets.push(s)
      return s
    },
  })
  const c = createClient({
    baseUrl: 'http://127.0.0.1:9',
    token: 'scripted',
    adapter,
    channel: Object.assign({ reconnectBase: 0, autoPause: false }, channelOpts),
  })
  return { c, sockets }
}

/** Lets the channel's timers and promises run until `check()` holds (by turns, not time). */
async function turnsUntil(check, what) {
  for (let i = 0; i < 1000; i++) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 0))
  }
  throw new Error(`never: ${what}`)
}

test('a resume cut before its answer resumes again from what was all seen, not past a hole', async (t) => {
  const { c, sockets } = scriptedChannel({ resumeSettle: 0 })
  t.after(() => c.channel.close())
  const got = []
  const subscribed = c.channel.subscribe('room.1', (n) => got.push(n))
  /** Opens socket `i`, answers its hello, and returns the subscribe it sent. */
  const openSocket = async (i) => {
    await turnsUntil(() => sockets.length > i, `socket ${i}`)
    const s = sockets[i]
    s.open()
    const hello = s.sent.find((f) => f.type === 'hello')
    s.frame({ type: 'ack', id: hello.id, connection: 'c' + i, user: null })
    const sub = s.sent.find((f) => f.type === 'subscribe')
    assert.ok(sub, `socket ${i} subscribes`)
    return sub
  }
  const ev = (s, seq) => s.frame({ type: 'event', topic: 'room.1', seq, data: seq })

  const first = await openSocket(0)
  assert.equal(first.since, undefined)
  sockets[0].frame({ type: 'ack', id: first.id, topic: 'room.1', seq: 0 })
  await subscribed
  for (const n of [1, 2, 3]) ev(sockets[0], n)
  sockets[0].cut()

  // The resume from 3: frame 7, published while it was being answered, overtakes the
  // replay of 4..6, and the socket drops with the replay half sent and no answer.
  const resume = await openSocket(1)
  assert.equal(resume.since, 3)
  ev(sockets[1], 7)
  ev(sockets[1], 4)
  ev(sockets[1], 5)
  sockets[1].cut()

  // Resuming from 7 (the highest number seen) would lose 6 for good.
  const again = await openSocket(2)
  assert.equal(again.since, 5, 'resumes from the last number before the hole')
  for (const n of [6, 7]) ev(sockets[2], n)
  sockets[2].frame({ type: 'ack', id: again.id, topic: 'room.1', seq: 7, replayed: 2 })
  // The settle, on the same socket.
  await turnsUntil(() => sockets[2].sent.filter((f) => f.type === 'subscribe').length === 2, 'the settle')
  const settle = sockets[2].sent.filter((f) => f.type === 'subscribe')[1]
  assert.equal(settle.since, 7)
  sockets[2].frame({ type: 'ack', id: settle.id, topic: 'room.1', seq: 7, replayed: 0 })
  ev(sockets[2], 8)
  await turnsUntil(() => got.length >= 8, 'eight events')
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8], 'nothing lost, nothing doubled, in order')
})
