import { networkError, YunqiaoError } from '../errors.js'
import { memoryStorage } from './memory.js'
import { taskQueue } from './queue.js'

/** Storage over a W3C `Storage` (window.localStorage): values kept as JSON strings. */
export function webStorage(ls) {
  return {
    get(key) {
      const s = ls.getItem(key)
      if (s === null) return undefined
      try {
        return JSON.parse(s)
      } catch (e) {
        return s
      }
    },
    set(key, value) {
      ls.setItem(key, JSON.stringify(value === undefined ? null : value))
    },
    remove(key) {
      ls.removeItem(key)
    },
    clear() {
      ls.clear()
    },
    keys() {
      const out = []
      for (let i = 0; i < ls.length; i++) out.push(ls.key(i))
      return out
    },
  }
}

function pickStorage(opt) {
  if (opt && typeof opt === 'object' && typeof opt.get === 'function') return opt
  if (opt && typeof opt === 'object' && typeof opt.getItem === 'function') return webStorage(opt)
  if (opt === 'memory') return memoryStorage()
  let ls = null
  try {
    ls = typeof localStorage !== 'undefined' ? localStorage : null
  } catch (e) {
    ls = null // some browsers throw on access when storage is disabled
  }
  return ls ? webStorage(ls) : memoryStorage()
}

/** A fetch that gives up after `timeout` ms; transport failures become NETWORK_ERROR. */
async function fetchWithin(doFetch, url, init, timeout, read) {
  if (!doFetch) throw networkError('no fetch on this platform: pass {fetch} to the web adapter')
  let timer = null
  const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null
  if (ctl && timeout) timer = setTimeout(() => ctl.abort(), timeout)
  try {
    const res = await doFetch(url, Object.assign({}, init, { signal: ctl ? ctl.signal : undefined }))
    const h = {}
    res.headers.forEach((v, k) => {
      h[k.toLowerCase()] = v
    })
    return Object.assign({ status: res.status, headers: h }, await read(res))
  } catch (e) {
    const aborted = e && e.name === 'AbortError'
    throw networkError(
      aborted ? `no answer within ${timeout} ms` : (e && e.message) || 'fetch failed',
      e,
      aborted ? { timeout: true } : null,
    )
  } finally {
    if (timer) clearTimeout(timer)
  }
}

/** An upload's file as a Blob: a Blob or File as is, bytes or a string wrapped. */
function asBlob(file, type) {
  if (typeof Blob !== 'undefined' && file instanceof Blob) return file
  if (file == null) return null
  if (typeof Blob === 'undefined') throw new YunqiaoError('INVALID_ARGUMENT', 'no Blob on this platform')
  return new Blob([file], type ? { type } : undefined)
}

/**
 * The adapter for browsers and Node: `fetch` (at most `maxRequests`, default 16, in flight
 * together, requests, uploads and downloads alike), a W3C `WebSocket` class (Node 20 has
 * none built in: pass `WebSocket: require('ws')`), and localStorage or memory.
 *
 * @param {{fetch?: Function, WebSocket?: any, storage?: any, login?: () => Promise<string>, maxRequests?: number}} [opts]
 */
export function webAdapter(opts = {}) {
  const doFetch = opts.fetch || (typeof fetch !== 'undefined' ? fetch : null)
  const WS = opts.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null)
  const storage = pickStorage(opts.storage)
  const queue = taskQueue(opts.maxRequests || 16)
  return {
    name: 'web',
    storage,
    maxRequests: queue.limit,
    get queued() {
      return queue.queued
    },
    get inFlight() {
      return queue.running
    },
    request({ url, method, headers, body, timeout }) {
      return queue.run(() =>
        fetchWithin(doFetch, url, { method, headers, body }, timeout, async (res) => ({
          text: method === 'HEAD' ? '' : await res.text(),
        })),
      )
    },
    /**
     * A multipart POST: `fields` first (as a presigned POST policy needs), then the file as
     * part `name` (default `file`). `file` is a Blob/File, bytes or a string; in Node,
     * `await fs.openAsBlob(path)`.
     */
    upload({ url, file, filePath, name, filename, type, fields, headers, timeout }) {
      if (file == null) {
        const why = filePath ? 'a {filePath} is for wx: here pass {file} (a Blob; in Node fs.openAsBlob(path))' : 'an upload takes {file}'
        return Promise.reject(new YunqiaoError('INVALID_ARGUMENT', why))
      }
      if (typeof FormData === 'undefined') return Promise.reject(new YunqiaoError('INVALID_ARGUMENT', 'no FormData on this platform'))
      return queue.run(() => {
        const form = new FormData()
        for (const k of Object.keys(fields || {})) form.append(k, String(fields[k]))
        const blob = asBlob(file, type)
        form.append(name || 'file', blob, filename || (blob && blob.name) || 'file')
        // No content-type of ours: fetch writes multipart/form-data with its boundary.
        const h = Object.assign({}, headers || {})
        for (const k of Object.keys(h)) if (k.toLowerCase() === 'content-type') delete h[k]
        return fetchWithin(doFetch, url, { method: 'POST', headers: h, body: form }, timeout, async (res) => ({ text: await res.text() }))
      })
    },
    /** A GET whose body is kept as a Blob (`blob`), or read as `text` for an error status. */
    download({ url, headers, timeout }) {
      return queue.run(() =>
        fetchWithin(doFetch, url, { method: 'GET', headers: headers || {} }, timeout, async (res) =>
          res.status >= 400 ? { text: await res.text() } : { blob: await res.blob() },
        ),
      )
    },
    connect(url, on) {
      if (!WS) {
        throw new YunqiaoError(
          'NO_WEBSOCKET',
          'no WebSocket on this platform: pass {WebSocket} (e.g. the ws package) to createClient',
        )
      }
      const ws = new WS(url)
      let closed = false
      const closeOnce = (code, reason) => {
        if (closed) return
        closed = true
        on.onClose({ code, reason })
      }
      ws.onopen = () => on.onOpen()
      ws.onmessage = (e) => {
        const d = e.data
        if (typeof d === 'string') on.onMessage(d)
        else if (d && typeof d.toString === 'function') on.onMessage(d.toString())
      }
      ws.onerror = (e) => on.onError(e && e.message ? e.message : 'socket error')
      ws.onclose = (e) => closeOnce(e.code, e.reason)
      return {
        send(text) {
          ws.send(text)
        },
        close(code, reason) {
          try {
            ws.close(code || 1000, reason || '')
          } catch (e) {
            // already closing
          }
        },
      }
    },
    login: opts.login
      ? () => Promise.resolve(opts.login())
      : () =>
          Promise.reject(
            new YunqiaoError(
              'LOGIN_UNAVAILABLE',
              'this platform has no WeChat login: pass {mockUser} (local server) or {code}',
            ),
          ),
    onHide(fn) {
      if (typeof document !== 'undefined' && document.addEventListener) {
        document.addEventListener('visibilitychange', () => {
          if (document.visibilityState === 'hidden') fn()
        })
      }
    },
    onShow(fn) {
      if (typeof document !== 'undefined' && document.addEventListener) {
        document.addEventListener('visibilitychange', () => {
          if (document.visibilityState === 'visible') fn()
        })
      }
    },
  }
}
