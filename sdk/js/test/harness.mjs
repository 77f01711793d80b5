/**
 * The real server the tests run against.
 *
 * - With YUNQIAO_TEST_BASE_URL set: that server (any face), with YUNQIAO_TEST_WS_URL for
 *   live channels and YUNQIAO_TEST_ADMIN_KEY for the admin key.
 *   YUNQIAO_TEST_WECHAT_MOCK is its WeChat mock (wx.requestPayment pays there).
 * - Otherwise: spawns `$YUNQIAO_BIN serve --addr 127.0.0.1:0 --data-dir <fresh dir>`
 *   with a generated admin key, reads the address it prints, and kills it when the tests
 *   of the file end.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import WebSocket from 'ws'

import { createClient, memoryStorage, webAdapter, wxAdapter } from '../src/index.js'
import { createWx } from './wx-shim.mjs'

const RUN = Date.now().toString(36) + Math.random().toString(36).slice(2, 6)
let counter = 0

/** A name unique to this run: tables, namespaces, topics, users. */
export function uniq(prefix = 't') {
  return `${prefix}_${RUN}_${(counter++).toString(36)}`
}

let serverPromise = null

/** Clients and proxies to close when the file's tests end. */
const cleanups = []

// Registered at import, so on the root: when the file's tests end, every client and
// proxy is closed and the server stops. (node:test's after() called inside a running
// test of Node 20 does not run: resources are kept here instead.)
after(async () => {
  for (const f of cleanups.splice(0)) {
    try {
      f()
    } catch (e) {
      // closing is best effort
    }
  }
  if (!serverPromise) return
  const s = await serverPromise.catch(() => null)
  if (s && s.stop) await s.stop()
})

/** The server for this test file (started once). */
export function server() {
  if (!serverPromise) serverPromise = start()
  return serverPromise
}

async function start() {
  const given = process.env.YUNQIAO_TEST_BASE_URL
  if (given) {
    const baseUrl = given.replace(/\/+$/, '')
    return {
      baseUrl,
      wsUrl: process.env.YUNQIAO_TEST_WS_URL || baseUrl.replace(/^http/, 'ws') + '/v1/ws',
      adminKey: process.env.YUNQIAO_TEST_ADMIN_KEY || '',
      wechatMock: (process.env.YUNQIAO_TEST_WECHAT_MOCK || '').replace(/\/+$/, ''),
      spawned: false,
    }
  }
  const bin = process.env.YUNQIAO_BIN
  if (!bin) {
    throw new Error('set YUNQIAO_BIN to the yunqiao server binary (or YUNQIAO_TEST_BASE_URL to a running server)')
  }
  const dir = mkdtempSync(join(tmpdir(), 'yq-sdk-'))
  const adminKey = 'sdk-test-admin-' + RUN + '-0123456789abcdef'
  const env = Object.assign({}, process.env, { YUNQIAO_ADMIN_KEY: adminKey, YUNQIAO_LOG: 'warn' })
  delete env.YUNQIAO_CONFIG
  const child = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dir], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
    if (process.env.YUNQIAO_TEST_VERBOSE) process.stderr.write(d)
  })
  const baseUrl = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`the server did not start within 60 s:\n${out}\n${stderr}`)), 60000)
    child.stdout.on('data', (d) => {
      out += d
      const m = /yunqiao listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the server exited (${code}) before listening:\n${out}\n${stderr}`))
    })
  })
  child.stdout.resume()
  // Never outlive the test process, whatever happens to it.
  process.on('exit', () => {
    try {
      child.kill('SIGKILL')
    } catch (e) {
      // gone already
    }
  })
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const t = setTimeout(() => child.kill('SIGKILL'), 3000)
      child.once('exit', () => {
        clearTimeout(t)
        rmSync(dir, { recursive: true, force: true })
        resolve()
      })
      child.kill('SIGTERM')
    })
  // the server's built-in WeChat mock
  const wechatMock = baseUrl + '/__mock/wechat'
  return { baseUrl, wsUrl: baseUrl.replace(/^http/, 'ws') + '/v1/ws', adminKey, wechatMock, spawned: true, child, dir, stop }
}

/** An admin request with raw fetch: set-up only (tables, namespaces, rules, groups). */
export async function admin(method, path, body) {
  const s = await server()
  const res = await fetch(s.baseUrl + path, {
    method,
    headers: Object.assign(
      { authorization: 'Bearer ' + s.adminKey },
      body === undefined ? {} : { 'content-type': 'application/json' },
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  const data = text ? JSON.parse(text) : null
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return data
}

/** Creates a table with a unique name; returns the name. */
export async function makeTable(def, prefix = 't') {
  const name = uniq(prefix)
  await admin('PUT', `/v1/tables/${name}`, def)
  return name
}

/** The platforms the shared suites run on (`YUNQIAO_TEST_PLATFORMS=web` for one). */
export const PLATFORMS = (process.env.YUNQIAO_TEST_PLATFORMS || 'web,wx')
  .split(',')
  .map((p) => p.trim())
  .filter((p) => p === 'web' || p === 'wx')

/**
 * A client on `platform` ('web': fetch + ws + memory storage; 'wx': the SDK's wx adapter
 * over the wx shim), against the test server. `opts.wsUrl` overrides (a proxy).
 */
export async function client(platform, opts = {}) {
  const s = await server()
  const base = {
    baseUrl: s.baseUrl,
    wsUrl: s.wsUrl,
    // A face that is not a process of ours (the Lambda face over single-threaded moto)
    // can take long under load: the tests check answers, not the SDK's default deadline.
    ...(s.spawned ? {} : { timeout: 180000 }),
    channel: Object.assign({ reconnectBase: 50, reconnectCap: 400, heartbeat: 5000, pongTimeout: 3000 }, opts.channel || {}),
  }
  const o = Object.assign(base, opts, { channel: base.channel })
  let shim = null
  if (platform === 'wx') {
    shim = opts.shim || createWx({ loginUser: opts.loginUser, payMock: s.wechatMock })
    o.adapter = wxAdapter(/** @type {any} */ (shim.wx), opts.wxOptions)
  } else {
    o.adapter = webAdapter({ WebSocket, storage: opts.storage || memoryStorage() })
  }
  const c = createClient(o)
  c.shim = shim
  cleanups.push(() => c.close())
  return c
}

/** A logged-in client as mock user `name` (a fresh unique name by default). */
export async function user(platform, name, opts = {}) {
  const c = await client(platform, opts)
  await c.login({ mockUser: name || uniq('u') })
  return c
}

/** Waits until `check()` is truthy (polling), or fails after `ms` (generous by design). */
// How much longer than `ms` a wait may take: a slow answer is not a wrong one. On the
// Lambda face every call is a function invocation over a single-threaded DynamoDB
// emulator, and `make test` must pass with another build running beside it.
const PATIENCE = process.env.YUNQIAO_TEST_BASE_URL ? 6 : 2

/** Polls `check` until it answers truthy (→ that value); fails after `ms` × PATIENCE. */
export async function until(check, ms = 15000, what = 'condition') {
  const end = Date.now() + ms * PATIENCE
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * A TCP proxy between the SDK and the server, to drop connections mid-stream:
 * `cut()` resets every open connection (no close frame); `stall()` makes the open
 * connections swallow traffic both ways without closing (a dead network the client can
 * only find by its heartbeat); new connections pass as usual.
 */
export async function proxy(target) {
  const u = new URL(target)
  const port = Number(u.port)
  const host = u.hostname
  const pairs = new Set()
  let connections = 0
  const srv = net.createServer((client) => {
    connections++
    const up = net.connect(port, host)
    const pair = { client, up, stalled: false }
    pairs.add(pair)
    client.on('data', (d) => {
      if (!pair.stalled) up.write(d)
    })
    up.on('data', (d) => {
      if (!pair.stalled) client.write(d)
    })
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      up.destroy()
    }
    client.on('error', end)
    up.on('error', end)
    client.on('close', end)
    up.on('close', end)
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  const addr = srv.address()
  const p = {
    url: `${u.protocol}//127.0.0.1:${addr.port}${u.pathname}`,
    get open() {
      return pairs.size
    },
    get connections() {
      return connections
    },
    cut() {
      for (const { client, up } of Array.from(pairs)) {
        client.resetAndDestroy()
        up.destroy()
      }
      pairs.clear()
    },
    stall() {
      for (const pair of pairs) pair.stalled = true
    },
    close() {
      p.cut()
      srv.close()
    },
  }
  cleanups.push(() => p.close())
  return p
}

export { createWx }
