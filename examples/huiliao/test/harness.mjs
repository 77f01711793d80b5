/**
 * The test's world: a real `yunqiao serve` (fresh data dir, port 0), the project applied
 * with `yunqiao apply`, and phones (test/phone.mjs) that run the real mini-program.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

const here = dirname(fileURLToPath(import.meta.url))
export const PROJECT = join(here, '..')
export const PROJECT_FILE = join(PROJECT, 'yunqiao.json')

function bin() {
  const b = process.env.YUNQIAO_BIN
  if (!b) throw new Error('set YUNQIAO_BIN to the yunqiao binary (e.g. target/debug/yunqiao)')
  return b
}

/**
 * The server's pay settings for 会聊's paid pin (the README's too; on the Lambda face the
 * Makefile hands the same to the face): `pins` records are for sale, and a paid order runs
 * `chatroom.paid`.
 */
export const PAY_ENV = { YUNQIAO_PAY_TABLES: 'pins', YUNQIAO_PAY_ON_PAID: 'chatroom.paid' }

/**
 * The server under test → {baseUrl, wsUrl?, adminKey, wechatMock, stop}: with
 * YUNQIAO_TEST_BASE_URL set, that one (the Lambda face: YUNQIAO_TEST_WS_URL,
 * YUNQIAO_TEST_ADMIN_KEY, YUNQIAO_TEST_WECHAT_MOCK, from infra/with-lambda-face.sh); otherwise `yunqiao serve` on a free port, fresh data dir.
 */
export async function startServer() {
  const given = process.env.YUNQIAO_TEST_BASE_URL
  if (given) {
    return {
      baseUrl: given.replace(/\/+$/, ''),
      wsUrl: process.env.YUNQIAO_TEST_WS_URL || undefined,
      adminKey: process.env.YUNQIAO_TEST_ADMIN_KEY || '',
      wechatMock: (process.env.YUNQIAO_TEST_WECHAT_MOCK || '').replace(/\/+$/, ''),
      stop: async () => {},
      stderr: () => '',
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'huiliao-'))
  const adminKey = 'huiliao-test-admin-' + Math.random().toString(36).slice(2) + '-0123456789'
  const env = Object.assign({}, process.env, PAY_ENV, { YUNQIAO_ADMIN_KEY: adminKey, YUNQIAO_LOG: process.env.YUNQIAO_LOG || 'warn' })
  delete env.YUNQIAO_CONFIG
  const child = spawn(bin(), ['serve', '--addr', '127.0.0.1:0', '--data-dir', join(dir, 'data')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
    if (process.env.HUILIAO_VERBOSE) process.stderr.write(d)
  })
  const baseUrl = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s:\n${out}\n${stderr}`)), 60000)
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
  const kill = () => {
    try {
      child.kill('SIGKILL')
    } catch (e) {
      // gone already
    }
  }
  process.on('exit', kill)
  const stop = () =>
    new Promise((resolve) => {
      process.off('exit', kill)
      const done = () => {
        rmSync(dir, { recursive: true, force: true })
        resolve()
      }
      if (child.exitCode !== null || child.signalCode !== null) return done()
      const t = setTimeout(kill, 5000)
      child.once('exit', () => {
        clearTimeout(t)
        done()
      })
      child.kill('SIGTERM')
    })
  // the server's built-in WeChat mock
  return { baseUrl, adminKey, wechatMock: baseUrl + '/__mock/wechat', stop, stderr: () => stderr }
}

/** `yunqiao apply yunqiao.json --url URL` → {status, lines}. */
export function apply(server) {
  const r = spawnSync(bin(), ['apply', PROJECT_FILE, '--url', server.baseUrl], {
    env: Object.assign({}, process.env, { YUNQIAO_ADMIN_KEY: server.adminKey }),
    encoding: 'utf8',
    timeout: 120000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stdout.split('\n').filter(Boolean) }
}

/** A raw HTTP request (the table API, as anyone could send it). */
export async function http(server, method, path, { token, body } = {}) {
  const headers = {}
  if (token) headers.authorization = 'Bearer ' + token
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(server.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let data = text
  try {
    data = JSON.parse(text)
  } catch (e) {
    // not JSON
  }
  return { status: res.status, data }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// How much longer than `ms` a wait may take: a slow answer is not a wrong one. On the
// Lambda face every call is a function invocation over a single-threaded DynamoDB
// emulator, and `make test` must pass with another build running beside it.
const PATIENCE = process.env.YUNQIAO_TEST_BASE_URL ? 6 : 2

/** Polls `check` until it answers truthy (→ that value), or fails after `ms` (× PATIENCE). */
export async function until(check, what, ms = 15000) {
  const end = Date.now() + ms * PATIENCE
  let last
  for (;;) {
    try {
      last = await check()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last && last.stack ? last.stack : JSON.stringify(last)})`)
    await sleep(25)
  }
}

/** A phone running the mini-program as mock user `user` (test/phone.mjs in a worker). */
export class Phone {
  static async start(server, user) {
    const p = new Phone(server, user)
    await p.started
    return p
  }

  constructor(server, user) {
    this.user = user
    this.worker = new Worker(join(here, 'phone.mjs'), { workerData: { baseUrl: server.baseUrl, wsUrl: server.wsUrl, wechatMock: server.wechatMock, user } })
    this.pending = new Map()
    this.seq = 0
    this.started = new Promise((resolve, reject) => {
      this.worker.once('error', reject)
      this.worker.on('message', (m) => {
        if (m.ready) return resolve()
        const p = this.pending.get(m.id)
        if (!p) return
        this.pending.delete(m.id)
        if (m.ok) p.resolve(m.value)
        else {
          const e = new Error(`${this.user}: ${m.error.message}`)
          e.code = m.error.code
          e.details = m.error.details
          e.remoteStack = m.error.stack
          p.reject(e)
        }
      })
    })
    this.worker.on('error', (e) => {
      for (const p of this.pending.values()) p.reject(e)
      this.pending.clear()
    })
  }

  send(op, args) {
    const id = ++this.seq
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ id, op, args })
    })
  }

  open(url) {
    return this.send('open', { url })
  }
  route() {
    return this.send('route')
  }
  data() {
    return this.send('data')
  }
  tap(selector) {
    return this.send('tap', { selector })
  }
  input(selector, value) {
    return this.send('input', { selector, value })
  }
  change(selector, value) {
    return this.send('change', { selector, value })
  }
  exists(selector) {
    return this.send('exists', { selector })
  }
  /** Fires component event `name` (e.g. `chooseavatar`) on `selector` with `detail`. */
  event(selector, name, detail) {
    return this.send('event', { selector, name, detail })
  }
  /** wx.chooseMedia picks this file's bytes from now on. */
  media(path) {
    return this.send('media', { path })
  }
  text(selector) {
    return this.send('text', { selector })
  }
  ui() {
    return this.send('ui')
  }
  errors() {
    return this.send('errors')
  }
  /** What the user answers WeChat's subscribe-message dialog from now on. */
  subscribeAnswer(answer) {
    return this.send('subscribeAnswer', { answer })
  }
  /** The openids the WeChat mock recorded this phone's acceptances for. */
  openids() {
    return this.send('openids')
  }
  setLocation(location) {
    return this.send('location', { location })
  }
  drop() {
    return this.send('drop')
  }
  /** The phone's network is down for `ms` (its socket dies at once). */
  offline(ms) {
    return this.send('offline', { ms })
  }
  hide() {
    return this.send('hide')
  }
  show() {
    return this.send('show')
  }
  /** Runs `fn({app, wx, page, stack, shim, arg})` inside the phone. */
  run(fn, arg) {
    return this.send('run', { src: fn.toString(), arg })
  }

  /** Waits until the open page's data passes `check(data)` (→ the data). */
  until(check, what, ms) {
    return until(async () => {
      const d = await this.data()
      return d && check(d) ? d : null
    }, `${this.user}: ${what}`, ms)
  }

  /** Waits until `route` is the page on top. */
  onPage(route, ms) {
    return until(async () => (await this.route()) === route, `${this.user}: page ${route}`, ms)
  }

  async close() {
    try {
      await Promise.race([this.send('close'), sleep(2000)])
    } catch (e) {
      // closing is best effort
    }
    await Promise.race([new Promise((r) => this.worker.once('exit', r)), sleep(3000)])
    await this.worker.terminate().catch(() => {})
  }
}
