// The request layer as a phone needs it: one queue for requests, uploads and downloads (wx
// allows 10 in flight for the three together), retries of what is safe to repeat, one
// login for concurrent callers, and a session only INVALID_TOKEN ends.
//
// The queue and retry tests run against a small local HTTP server of their own (answers
// held, failures scripted), through the wx shim and the web adapter; no real-time waits:
// the retry sleep is injected. The login and session tests use the real server.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'

import { createClient, memoryStorage, webAdapter, wxAdapter, YunqiaoError } from '../src/index.js'
import { retryAfterMs } from '../src/http.js'
import { admin, client, createWx, PLATFORMS, uniq, user } from './harness.mjs'

/**
 * A local server: `script(req, body)` answers `{status, headers, body, hold}` (hold: ms
 * before answering); it records every request and the most answered at once.
 */
async function local(script) {
  const seen = []
  let open = 0
  const s = {
    seen,
    maxOpen: 0,
    url: '',
    close: () => new Promise((r) => srv.close(r)),
  }
  const srv = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      open++
      s.maxOpen = Math.max(s.maxOpen, open)
      const body = Buffer.concat(chunks)
      seen.push({ method: req.method, url: req.url, headers: req.headers, body })
      const a = (await script(req, body, seen.length)) || {}
      if (a.hold) await new Promise((r) => setTimeout(r, a.hold))
      open--
      res.writeHead(a.status || 200, Object.assign({ 'content-type': 'application/json' }, a.headers || {}))
      res.end(a.body === undefined ? '{}' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body))
    })
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  s.url = `http://127.0.0.1:${srv.address().port}`
  servers.push(s)
  return s
}
const servers = []
after(() => Promise.all(servers.map((s) => s.close())))

/** A client on the wx shim (or the web adapter) against `baseUrl`, recording retry waits. */
function phone(baseUrl, opts = {}) {
  const shim = opts.shim || createWx({ interruptAfter: opts.interruptAfter })
  const waits = []
  const retry = opts.retry === false ? false : Object.assign({ sleep: (ms) => (waits.push(ms), Promise.resolve()), random: () => 1 }, opts.retry || {})
  const adapter = opts.web ? webAdapter({ storage: memoryStorage(), maxRequests: opts.maxRequests }) : wxAdapter(/** @type {any} */ (shim.wx), { maxRequests: opts.maxRequests })
  const c = createClient({ baseUrl, adapter, token: opts.token, retry, channel: { autoPause: false } })
  return { c, shim, waits }
}

const tmp = mkdtempSync(join(tmpdir(), 'yq-req-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
function aFile(name, text) {
  const p = join(tmp, name)
  writeFileSync(p, text)
  return p
}

describe('one queue: requests, uploads and downloads', () => {
  test('wx: 15 concurrent requests and uploads (and downloads) never exceed 10 in flight, and all complete', async () => {
    const srv = await local(() => ({ hold: 40, body: { ok: true } }))
    const { c, shim } = phone(srv.url)
    const file = aFile('photo.jpg', 'not really a jpeg')
    const calls = []
    for (let i = 0; i < 15; i++) {
      if (i % 3 === 1) calls.push(c.http.upload('/v1/up', { filePath: file, fields: { n: String(i) } }).then((r) => ['upload', r.status]))
      else if (i === 14) calls.push(c.http.download('/v1/down').then((r) => ['download', r.status]))
      else calls.push(c.http.request('GET', '/v1/get', { query: { n: i } }).then((r) => ['request', r.status]))
    }
    await new Promise((r) => setTimeout(r, 10))
    assert.equal(c.adapter.inFlight, 10, 'ten in flight')
    assert.equal(c.adapter.queued, 5, 'five waiting in the SDK, not refused by wx')
    const done = await Promise.all(calls)
    assert.equal(done.length, 15)
    assert.ok(done.every(([, status]) => status === 200))
    assert.deepEqual(
      [...new Set(done.map(([k]) => k))].sort(),
      ['download', 'request', 'upload'],
    )
    assert.ok(shim.ctl.maxInFlight <= 10, `at most 10 in flight in wx (saw ${shim.ctl.maxInFlight})`)
    assert.equal(shim.ctl.maxInFlight, 10)
    assert.equal(shim.ctl.refused, 0, 'wx refused nothing (exceed max task count)')
    assert.equal(shim.ctl.inFlight, 0)
    assert.equal(srv.seen.length, 15)
    // The uploads were multipart: the fields first, then the file as part "file".
    const up = srv.seen.find((r) => r.url === '/v1/up')
    assert.match(up.headers['content-type'], /^multipart\/form-data; boundary=/)
    const text = up.body.toString()
    assert.ok(text.indexOf('name="n"') < text.indexOf('name="file"'), 'fields before the file')
    assert.match(text, /not really a jpeg/)
  })

  test('the limit is an option; the web adapter queues too (default 16)', async () => {
    const srv = await local(() => ({ hold: 20 }))
    const { c } = phone(srv.url, { web: true, maxRequests: 3 })
    assert.equal(c.adapter.maxRequests, 3)
    await Promise.all(Array.from({ length: 8 }, () => c.http.request('GET', '/x')))
    assert.equal(srv.maxOpen, 3)
    assert.equal(webAdapter({ storage: 'memory' }).maxRequests, 16)
    assert.equal(wxAdapter(/** @type {any} */ (createWx().wx)).maxRequests, 10)
    const viaClient = createClient({ baseUrl: srv.url, adapter: 'wx', wx: createWx().wx, maxRequests: 4 })
    assert.equal(viaClient.adapter.maxRequests, 4)
  })

  test('web: an upload is fields then the file; the token goes to the server only, never to a foreign URL', async () => {
    const own = await local(() => ({ status: 201, body: { id: 'f1' } }))
    const foreign = await local(() => ({ status: 204, body: '' }))
    for (const web of [true, false]) {
      const { c, shim } = phone(own.url, { web, token: 'tok-secret' })
      const file = aFile('a.txt', 'hello file')
      const opts = web ? { file: new Blob(['hello file']), filename: 'a.txt' } : { filePath: file }
      const mine = await c.http.upload('/v1/files/x', Object.assign({ fields: { k: 'v' } }, opts))
      assert.equal(mine.status, 201)
      assert.deepEqual(mine.data, { id: 'f1' })
      const there = await c.http.upload(foreign.url + '/bucket', Object.assign({ fields: { key: 'a/b', policy: 'p' } }, opts))
      assert.equal(there.status, 204)
      assert.equal(own.seen.at(-1).headers.authorization, 'Bearer tok-secret')
      const sent = foreign.seen.at(-1)
      assert.equal(sent.headers.authorization, undefined, 'no bearer token to a foreign URL')
      const body = sent.body.toString()
      assert.ok(body.indexOf('name="key"') < body.indexOf('name="policy"') && body.indexOf('name="policy"') < body.indexOf('name="file"'))
      assert.match(body, /hello file/)
      if (!web) assert.equal(shim.ctl.requests.filter((r) => r.api === 'uploadFile').length, 2)
    }
  })

  test('downloads: wx saves a temporary file; web gives a Blob; an error status is an error', async () => {
    const srv = await local((req) => (req.url === '/missing' ? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no file', details: null } } } : { body: 'the bytes' }))
    const wx = phone(srv.url)
    const r = await wx.c.http.download('/f')
    assert.equal(readFileSync(r.tempFilePath, 'utf8'), 'the bytes')
    const web = phone(srv.url, { web: true })
    const w = await web.c.http.download(srv.url + '/f')
    assert.equal(await w.blob.text(), 'the bytes')
    const e = await web.c.http.download('/missing').catch((x) => x)
    assert.deepEqual([e.code, e.status], ['NOT_FOUND', 404])
    const e2 = await wx.c.http.download('/missing').catch((x) => x)
    assert.equal(e2.status, 404)
  })
})

describe('retries', () => {
  test('a transport failure retried once succeeds', async () => {
    const srv = await local(() => ({ body: { n: 1 } }))
    const { c, shim, waits } = phone(srv.url, { retry: { base: 100 } })
    shim.ctl.faults.push('timeout')
    const r = await c.http.request('GET', '/v1/thing')
    assert.deepEqual(r.data, { n: 1 })
    assert.equal(shim.ctl.requests.length, 2, 'sent twice')
    assert.equal(srv.seen.length, 1, 'the first never reached the server')
    assert.deepEqual(waits, [100], 'one backoff')
  })

  test("wx's fail interrupted (the app in the background) is retried once the app is back", async () => {
    const srv = await local((req, body, n) => (n === 1 ? { hold: 300 } : { body: { back: true } }))
    const { c, shim } = phone(srv.url, { interruptAfter: 20 })
    const p = c.http.request('GET', '/v1/slow')
    await new Promise((r) => setTimeout(r, 10))
    shim.hide()
    for (let i = 0; i < 100 && !shim.ctl.interrupted; i++) await new Promise((r) => setTimeout(r, 10))
    assert.equal(shim.ctl.interrupted, 1, 'the request failed "interrupted"')
    let settled = false
    p.then(() => (settled = true), () => (settled = true))
    await new Promise((r) => setTimeout(r, 30))
    assert.equal(settled, false, 'no retry while the app is in the background')
    assert.equal(shim.ctl.requests.length, 1)
    shim.show()
    assert.deepEqual((await p).data, { back: true })
    assert.equal(shim.ctl.requests.length, 2)
  })

  test('a POST is not retried: its error says it may have landed', async () => {
    const srv = await local(() => ({ status: 201 }))
    const { c, shim, waits } = phone(srv.url)
    shim.ctl.faults.push('interrupted')
    const e = await c.table('posts').create({ title: 'x' }).catch((x) => x)
    assert.ok(e instanceof YunqiaoError)
    assert.equal(e.code, 'NETWORK_ERROR')
    assert.equal(e.retryable, false)
    assert.equal(e.attempts, 1)
    assert.deepEqual(e.details, { interrupted: true })
    assert.equal(shim.ctl.requests.length, 1)
    assert.deepEqual(waits, [])
    // A 503 or 429 answer to a POST is not retried either; a 429 says it may be sent again.
    const busy = await local(() => ({ status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'FUNCTION_BUSY', message: 'busy', details: null } } }))
    const b = phone(busy.url)
    const e2 = await b.c.fn('m').work().catch((x) => x)
    assert.deepEqual([e2.code, e2.retryable, busy.seen.length], ['FUNCTION_BUSY', true, 1])
  })

  test('a query (a POST that only reads) and PUT/DELETE are retried; conditional writes are not', async () => {
    const srv = await local(() => ({ body: { items: [], cursor: null, scanned: 0 } }))
    const { c, shim } = phone(srv.url)
    shim.ctl.faults.push('timeout')
    await c.table('t').where('a', 1).fetch()
    assert.equal(shim.ctl.requests.length, 2)
    shim.ctl.faults.push('timeout')
    await c.kv('ns').set('k', 1)
    assert.equal(shim.ctl.requests.length, 4)
    shim.ctl.faults.push('timeout')
    const e = await c.kv('ns').set('k', 2, { _v: 3 }).catch((x) => x)
    assert.deepEqual([e.code, e.retryable, shim.ctl.requests.length], ['NETWORK_ERROR', false, 5])
  })

  test('a retried delete whose first try landed resolves', async () => {
    const srv = await local((req, body, n) => (n === 1 ? { hold: 200 } : { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no record', details: null } } }))
    const { c } = phone(srv.url, { web: true })
    c.options.timeout = 50 // the first try times out after the server deleted
    assert.equal(await c.table('t').remove('r1'), true)
    assert.equal(srv.seen.length, 2)
  })

  test('a 429 with Retry-After is retried after what it asks; one longer than the cap is the caller’s', async () => {
    const srv = await local((req, body, n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '2' }, body: { error: { code: 'RATE_LIMITED', message: 'slow down', details: null } } } : { body: { ok: 1 } },
    )
    const { c, waits } = phone(srv.url, { retry: { cap: 5000 } })
    assert.deepEqual((await c.http.request('GET', '/v1/x')).data, { ok: 1 })
    assert.deepEqual(waits, [2000])
    const long = await local(() => ({ status: 429, headers: { 'retry-after': '60' } }))
    const l = phone(long.url, { retry: { cap: 5000 } })
    const e = await l.c.http.request('GET', '/v1/x').catch((x) => x)
    assert.deepEqual([e.status, e.code, e.retryable, long.seen.length], [429, 'RATE_LIMITED', true, 1])
    assert.deepEqual(l.waits, [])
    assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:58 GMT')), 2000)
    assert.equal(retryAfterMs('soon'), null)
  })

  test('retries stop at `retries`; the backoff doubles, jittered, up to the cap', async () => {
    const srv = await local(() => ({ status: 503, body: { error: { code: 'STORE_UNAVAILABLE', message: 'down', details: null } } }))
    const hi = phone(srv.url, { retry: { retries: 4, base: 100, cap: 300 } })
    const e = await hi.c.http.request('GET', '/v1/x').catch((x) => x)
    assert.deepEqual([e.code, e.status, e.retryable, e.attempts], ['STORE_UNAVAILABLE', 503, true, 5])
    assert.equal(srv.seen.length, 5)
    assert.deepEqual(hi.waits, [100, 200, 300, 300], 'random() = 1: the whole step, capped')
    const lo = phone(srv.url, { retry: { retries: 4, base: 100, cap: 300, random: () => 0 } })
    await lo.c.http.request('GET', '/v1/x').catch(() => null)
    assert.deepEqual(lo.waits, [50, 100, 150, 150], 'random() = 0: half the step')
    const none = phone(srv.url, { retry: false })
    await none.c.http.request('GET', '/v1/x').catch(() => null)
    assert.deepEqual(none.waits, [])
    // Defaults: 2 retries, from 300 ms, capped at 5 s.
    const d = createClient({ baseUrl: srv.url, adapter: webAdapter({ storage: 'memory' }) })
    assert.deepEqual([d.http.retry.retries, d.http.retry.base, d.http.retry.cap], [2, 300, 5000])
  })
})

for (const platform of PLATFORMS) {
  describe(`sessions (${platform})`, () => {
    test('concurrent login() calls are one login', async () => {
      const shim = createWx({ loginUser: uniq('merge') })
      const c = await client(platform, { shim, mockUser: platform === 'web' ? uniq('merge') : undefined })
      let posts = 0
      const req = c.adapter.request
      c.adapter.request = (r) => {
        if (r.url.endsWith('/v1/auth/login')) posts++
        return req.call(c.adapter, r)
      }
      const all = await Promise.all([c.login(), c.login(), c.login(), c.login(), c.login()])
      assert.equal(posts, 1, 'one POST /v1/auth/login')
      if (platform === 'wx') assert.equal(shim.ctl.loginCount, 1, 'one wx.login')
      assert.ok(all.every((a) => a.token === all[0].token), 'every caller gets the same session')
      assert.equal(c.auth.token, all[0].token)
      // Later logins are new ones; a different user at once is not merged.
      await Promise.all([c.login({ mockUser: uniq('x') }), c.login({ mockUser: uniq('y') })])
      assert.equal(posts, 3)
      // autoLogin: concurrent calls that need a session log in once.
      const auto = await client(platform, { shim: createWx({ loginUser: uniq('auto') }), autoLogin: true, mockUser: platform === 'web' ? uniq('auto') : undefined })
      let autoPosts = 0
      const areq = auto.adapter.request
      auto.adapter.request = (r) => {
        if (r.url.endsWith('/v1/auth/login')) autoPosts++
        return areq.call(auto.adapter, r)
      }
      const mes = await Promise.all([auto.auth.me(), auto.auth.me(), auto.auth.me()])
      assert.equal(autoPosts, 1)
      assert.ok(mes.every((m) => m.id === auto.auth.user.id))
    })

    test('a before-hook refusing a write with 401 does not end the session; INVALID_TOKEN does', async () => {
      const mod = uniq('guard')
      await admin('PUT', `/v1/functions/${mod}`, {
        source: `
import { FunctionError } from "yunqiao"
export function guard({ data }) {
  if (data && data.locked) throw new FunctionError("PIN_REQUIRED", "enter your pin", 401, { digits: 6 })
}
`,
        access: 'nobody',
      })
      const table = uniq('guarded')
      await admin('PUT', `/v1/tables/${table}`, {
        fields: [{ name: 'title', type: 'string' }, { name: 'locked', type: 'boolean' }],
        acl: { record: 'rwd:r:r', create: 'users' },
        hooks: { before_create: `${mod}.guard`, before_update: `${mod}.guard` },
      })
      const c = await user(platform)
      const token = c.auth.token
      let ended = 0
      c.auth.on('change', (u) => {
        if (u === null) ended++
      })
      const e = await c.table(table).create({ title: 'a', locked: true }).catch((x) => x)
      assert.deepEqual([e.code, e.status, e.details], ['PIN_REQUIRED', 401, { digits: 6 }])
      assert.equal(e.retryable, false)
      const r = await c.table(table).create({ title: 'b' })
      const e2 = await c.table(table).update(r._id, { locked: true }).catch((x) => x)
      assert.deepEqual([e2.code, e2.status], ['PIN_REQUIRED', 401])
      assert.equal(c.auth.isLoggedIn(), true, 'still logged in')
      assert.equal(c.auth.token, token)
      assert.equal(ended, 0)
      assert.equal((await c.auth.me()).id, c.auth.user.id)
      // The server ends the session elsewhere: the next answer is INVALID_TOKEN, and that ends it here.
      const s = await fetch(c.baseUrl + '/v1/auth/logout', { method: 'POST', headers: { authorization: 'Bearer ' + token } })
      assert.equal(s.status, 204)
      const gone = await c.table(table).create({ title: 'c' }).catch((x) => x)
      assert.deepEqual([gone.code, gone.status], ['INVALID_TOKEN', 401])
      assert.equal(c.auth.isLoggedIn(), false)
      assert.equal(ended, 1)
    })
  })
}
