// The wx shim keeps wx's quirks, against the real server: the SDK's wx adapter is only as
// well tested as the shim is faithful.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { createWx, server } from './harness.mjs'

const req = (wx, o) =>
  new Promise((resolve) => {
    wx.request({ ...o, success: (r) => resolve({ ok: r }), fail: (e) => resolve({ fail: e }) })
  })

test('wx.request: success for every status, JSON parsed by default, fail only without an answer', async () => {
  const s = await server()
  const { wx } = createWx()
  const notFound = await req(wx, { url: s.baseUrl + '/v1/no-such-route' })
  assert.equal(notFound.ok.statusCode, 404, 'a 404 is a success with statusCode 404')
  assert.equal(notFound.ok.data.error.code, 'NOT_FOUND', 'dataType json: parsed')
  const text = await req(wx, { url: s.baseUrl + '/v1/health', dataType: 'text' })
  assert.equal(typeof text.ok.data, 'string')
  const posted = await req(wx, { url: s.baseUrl + '/v1/auth/login', method: 'POST', data: { code: 'mock-error:40029' } })
  assert.equal(posted.ok.statusCode, 401, 'object data sent as JSON')
  const down = await req(wx, { url: 'http://127.0.0.1:9/x' })
  assert.match(down.fail.errMsg, /^request:fail/)
  const patch = await req(wx, { url: s.baseUrl + '/v1/auth/me', method: /** @type {any} */ ('PATCH') })
  assert.match(patch.fail.errMsg, /method/, 'no PATCH in wx.request')
})

test('wx.request: more than 10 at once fail; wx.connectSocket: more than 5 fail', async () => {
  const s = await server()
  const { wx, ctl } = createWx()
  const all = await Promise.all(Array.from({ length: 12 }, () => req(wx, { url: s.baseUrl + '/v1/health' })))
  assert.equal(all.filter((r) => r.fail).length, 2)
  assert.match(all.find((r) => r.fail).fail.errMsg, /exceed max task count/)
  assert.equal(ctl.inFlight, 0)

  const login = await (await fetch(s.baseUrl + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: `mock:shim:${Date.now()}` }) })).json()
  const tasks = []
  const opened = []
  const failed = []
  for (let i = 0; i < 6; i++) {
    const t = wx.connectSocket({ url: `${s.wsUrl}?token=${login.token}`, fail: (e) => failed.push(e.errMsg) })
    t.onOpen(() => opened.push(i))
    tasks.push(t)
  }
  const deadline = Date.now() + 15000
  while ((opened.length < 5 || failed.length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.equal(opened.length, 5)
  assert.match(failed[0], /exceed max socket/)
  const msgs = []
  tasks[0].onMessage((m) => msgs.push(JSON.parse(/** @type {string} */ (m.data))))
  tasks[0].send({ data: JSON.stringify({ type: 'ping', id: 1 }) })
  while (!msgs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.equal(msgs[0].type, 'pong')
  const closed = []
  for (const t of tasks.slice(0, 5)) {
    t.onClose((e) => closed.push(e.code))
    t.close({})
  }
  while (closed.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.equal(ctl.sockets, 0)

  const refused = []
  const bad = wx.connectSocket({ url: `${s.wsUrl}?token=forged` })
  bad.onError((e) => refused.push(['error', e.errMsg]))
  bad.onClose((e) => refused.push(['close', e.code]))
  while (refused.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(refused.map((r) => r[0]), ['error', 'close'], 'a refused handshake: onError, then onClose')
  assert.equal(refused[1][1], 1006)
})

test('storage: a missing key reads as an empty string; values are copies', () => {
  const { wx } = createWx()
  assert.equal(wx.getStorageSync('nope'), '')
  const v = { a: [1] }
  wx.setStorageSync('k', v)
  v.a.push(2)
  assert.deepEqual(wx.getStorageSync('k'), { a: [1] })
  assert.deepEqual(wx.getStorageInfoSync().keys, ['k'])
  wx.removeStorageSync('k')
  assert.equal(wx.getStorageSync('k'), '')
})
