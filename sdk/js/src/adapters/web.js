import { networkError, YunqiaoError } from '../errors.js'
import { memoryStorage } from './memory.js'

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

/**
 * The adapter for browsers and Node: `fetch`, a W3C `WebSocket` class (Node 20 has none
 * built in: pass `WebSocket: require('ws')`), and localStorage or memory.
 *
 * @param {{fetch?: Function, WebSocket?: any, storage?: any, login?: () => Promise<string>}} [opts]
 */
export function webAdapter(opts = {}) {
  const doFetch = opts.fetch || (typeof fetch !== 'undefined' ? fetch : null)
  const WS = opts.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null)
  const storage = pickStorage(opts.storage)
  return {
    name: 'web',
    storage,
    async request({ url, method, headers, body, timeout }) {
      if (!doFetch) throw networkError('no fetch on this platform: pass {fetch} to the web adapter')
      let timer = null
      const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null
      if (ctl && timeout) timer = setTimeout(() => ctl.abort(), timeout)
      let res
      let text
      try {
        res = await doFetch(url, { method, headers, body, signal: ctl ? ctl.signal : undefined })
        text = method === 'HEAD' ? '' : await res.text()
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
      const h = {}
      res.headers.forEach((v, k) => {
        h[k.toLowerCase()] = v
      })
      return { status: res.status, headers: h, text }
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
