// The built files, as their users load them: miniprogram_dist/index.js in a context that
// has only what a mini-program has (wx, timers, console; no require, fetch, WebSocket,
// URL, process, Buffer), and dist/yunqiao.cjs through Node's require.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import WebSocket from 'ws'

import { admin, createWx, makeTable, server, uniq, until } from './harness.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

function loadInMiniProgram(wx) {
  const code = readFileSync(join(root, 'miniprogram_dist/index.js'), 'utf8')
  const module = { exports: {} }
  const required = []
  const sandbox = {
    wx,
    console,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    module,
    exports: module.exports,
    require: (name) => {
      required.push(name)
      throw new Error(`require(${name}) in a mini-program without a bundler`)
    },
  }
  vm.createContext(sandbox)
  vm.runInContext(code, sandbox, { filename: 'miniprogram_npm/yunqiao/index.js' })
  for (const g of ['fetch', 'WebSocket', 'URL', 'URLSearchParams', 'process', 'Buffer', 'TextEncoder', 'AbortController']) {
    assert.equal(vm.runInContext(`typeof ${g}`, sandbox), 'undefined', `no ${g} in the sandbox`)
  }
  return { sdk: module.exports, required }
}

test('miniprogram_dist/index.js runs on wx alone: login, tables, kv, live changes', async () => {
  const s = await server()
  const notes = await makeTable({ fields: [{ name: 'title', type: 'string' }, { name: 'room', type: 'string', index: true }], acl: { record: 'rwd:r:r' } }, 'mp')
  const ns = uniq('mpkv')
  await admin('PUT', `/v1/kv/${ns}`, { scope: 'user' })
  const shim = createWx()
  const { sdk, required } = loadInMiniProgram(shim.wx)
  assert.equal(typeof sdk.createClient, 'function')
  // No adapter named: the global wx is found.
  const yq = sdk.createClient({ baseUrl: s.baseUrl, wsUrl: s.wsUrl, mockUser: uniq('mp'), channel: { reconnectBase: 50, reconnectCap: 400 } })
  assert.equal(yq.adapter.name, 'wx')
  try {
    await inMiniProgram(yq, shim, sdk, required, notes, ns)
  } finally {
    yq.close()
  }
})

/** Values from the sandbox have its own Array and Object: compare them as JSON. */
const plain = (v) => JSON.parse(JSON.stringify(v))

async function inMiniProgram(yq, shim, sdk, required, notes, ns) {
  const me = await yq.login()
  assert.equal(shim.wx.getStorageSync('yunqiao:session').token, me.token)
  const room = uniq('room')
  const got = []
  const live = await yq.table(notes).watch({ room })
  live.on('create', (r) => got.push(r.title))
  const rec = await yq.table(notes).create({ title: '你好', room })
  const page = await yq.table(notes).where('room', room).fetch('title')
  assert.deepEqual(plain(page.items.map((x) => x.title)), ['你好'])
  await yq.table(notes).update(rec._id, { title: 'b' }) // no PATCH on wx: a one-op batch
  assert.equal((await yq.table(notes).get(rec._id)).title, 'b')
  await yq.kv(ns).set('k', [1])
  assert.deepEqual(plain(await yq.kv(ns).get('k')), [1])
  await until(() => got.length === 1, 15000, 'the live create')
  assert.deepEqual(plain(got), ['你好'])
  assert.ok(shim.ctl.requests.every((r) => r.method !== 'PATCH'))
  assert.equal(shim.ctl.sockets, 1, 'one SocketTask')
  assert.deepEqual(plain(required), [])
  const e = await yq.table(notes).get('nope').catch((x) => x)
  assert.equal(e.code, 'NOT_FOUND')
  assert.equal(e.constructor, sdk.YunqiaoError)
}

test('dist/yunqiao.cjs works through require', async () => {
  const s = await server()
  const require = createRequire(import.meta.url)
  const { createClient, memoryStorage, webAdapter } = require('../dist/yunqiao.cjs')
  const yq = createClient({ baseUrl: s.baseUrl, wsUrl: s.wsUrl, adapter: webAdapter({ WebSocket, storage: memoryStorage() }) })
  try {
    const r = await yq.login({ mockUser: uniq('cjs') })
    assert.equal((await yq.auth.me()).id, r.user.id)
    const selfRef = require('yunqiao')
    assert.equal(typeof selfRef.createClient, 'function', 'require("yunqiao") resolves to the CommonJS build')
  } finally {
    yq.close()
  }
})
