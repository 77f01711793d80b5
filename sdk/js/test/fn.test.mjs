// The server has no /v1/fn routes yet (issue 13): the call shapes are checked against a
// small real HTTP server here, speaking the shapes issue 13 specifies:
// POST /v1/fn/{module}/{export} {"args": [...]} → {"result": ...}, and
// POST /v1/fn/{module} {"data": ...} → {"result": ...}; errors as {"error": {code, message, details}}.
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'

import { createClient, memoryStorage, webAdapter, wxAdapter, YunqiaoError } from '../src/index.js'
import { createWx } from './wx-shim.mjs'

let srv
let base
const seen = []

before(async () => {
  srv = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      const parsed = body ? JSON.parse(body) : null
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: parsed })
      const send = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req-' + seen.length })
        res.end(JSON.stringify(obj))
      }
      const m = /^\/v1\/fn\/([^/]+)(?:\/([^/]+))?$/.exec(req.url)
      if (req.method !== 'POST' || !m) return send(404, { error: { code: 'NOT_FOUND', message: 'no route', details: {} } })
      const [, mod, exp] = m
      if (mod === 'broken') return send(500, { error: { code: 'FUNCTION_FAILED', message: 'the function failed', details: { request_id: 'r1' } } })
      if (mod === 'rooms' && exp === 'full') return send(409, { error: { code: 'ROOM_FULL', message: 'the room is full', details: { max: 2 } } })
      if (exp) return send(200, { result: { module: decodeURIComponent(mod), export: decodeURIComponent(exp), args: parsed.args } })
      return send(200, { result: { main: decodeURIComponent(mod), data: parsed.data } })
    })
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${srv.address().port}`
})
after(() => srv.close())

for (const platform of ['web', 'wx']) {
  describe(`fn (${platform})`, () => {
    const make = () =>
      createClient({
        baseUrl: base,
        token: 'tok-1',
        adapter: platform === 'wx' ? wxAdapter(createWx().wx) : webAdapter({ WebSocket, storage: memoryStorage() }),
      })

    test('fn(module).export(...args) posts {args} and resolves to result', async () => {
      const yq = make()
      const chatroom = yq.fn('chatroom')
      const r = await chatroom.createRoom('会聊', { ttl: 3600, gps: null })
      assert.deepEqual(r, { module: 'chatroom', export: 'createRoom', args: ['会聊', { ttl: 3600, gps: null }] })
      const last = seen[seen.length - 1]
      assert.equal(last.method, 'POST')
      assert.equal(last.url, '/v1/fn/chatroom/createRoom')
      assert.equal(last.headers.authorization, 'Bearer tok-1')
      assert.match(last.headers['content-type'], /^application\/json/)
      assert.deepEqual(last.body, { args: ['会聊', { ttl: 3600, gps: null }] })
      assert.deepEqual((await chatroom.list()).args, [], 'no arguments: an empty list')
      assert.equal(chatroom.createRoom, chatroom.createRoom, 'methods are stable')
      assert.equal(await yq.fn.call('chatroom', 'join', ['r1']).then((x) => x.args[0]), 'r1')
    })

    test('a last argument of only callbacks is taken as callbacks, not sent', async () => {
      const yq = make()
      const r = await new Promise((resolve, reject) => yq.fn('m').hello('a', { success: resolve, fail: reject }))
      assert.deepEqual(r.args, ['a'])
      const kept = await yq.fn('m').hello({ success: 1, other: 2 })
      assert.deepEqual(kept.args, [{ success: 1, other: 2 }], 'a data object that merely has such keys is sent')
    })

    test('errors reach the caller with the function’s code', async () => {
      const yq = make()
      const e = await yq.fn('rooms').full().catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status, e.details.max], ['ROOM_FULL', 409, 2])
      const f = await yq.fn('broken').x().catch((x) => x)
      assert.deepEqual([f.code, f.status], ['FUNCTION_FAILED', 500])
    })

    test('the proxy is not a thenable and not a call for symbols or JSON', async () => {
      const yq = make()
      const mod = yq.fn('chatroom')
      const n = seen.length
      assert.equal(await mod, mod, 'awaiting the module is not a call')
      assert.equal(JSON.stringify({ mod }), '{"mod":{}}')
      assert.equal(String(mod[Symbol.toPrimitive]), 'undefined')
      assert.equal(seen.length, n)
    })

    test('callFunction({name, data}) in CloudBase’s shape', async () => {
      const yq = make()
      const r = await yq.callFunction({ name: 'hello', data: { a: 1 } })
      assert.deepEqual(r.result, { main: 'hello', data: { a: 1 } })
      assert.equal(r.errMsg, 'cloud.callFunction:ok')
      assert.match(r.requestID, /^req-/)
      const last = seen[seen.length - 1]
      assert.equal(last.url, '/v1/fn/hello')
      assert.deepEqual(last.body, { data: { a: 1 } })
      const viaCb = await new Promise((resolve) => yq.callFunction({ name: 'hello', success: resolve }))
      assert.deepEqual(viaCb.result.data, null)
      const e = await yq.callFunction({ name: 'broken' }).catch((x) => x)
      assert.equal(e.code, 'FUNCTION_FAILED')
    })
  })
}
