// @ts-check
/**
 * A faithful `wx` for Node: the parts of the mini-program API the SDK uses, over real HTTP
 * (Node's fetch) and real WebSockets (the ws package), with wx's callback shapes and
 * quirks — and nothing stubbed:
 *
 * - wx.request: `success` fires for EVERY HTTP status with `{data, statusCode, header}`;
 *   `fail` only for transport failures, with `{errMsg}`; `dataType: 'json'` (the default)
 *   parses the body and hands back the string when it is not JSON; more than 10 requests
 *   at once fail (`request:fail exceed max task count`); methods outside wx's list (PATCH)
 *   fail; GET data becomes the query string.
 * - wx.connectSocket: a SocketTask (onOpen/onMessage/onClose/onError, send/close); more
 *   than 5 sockets at once fail; send before open fails; a refused handshake is onError
 *   then onClose(1006).
 * - storage: values copied (as wx serialises them); a missing key reads as ''.
 * - wx.login: codes for the built-in WeChat mock (`mock:<user>:<nonce>`), user settable.
 * - wx.onAppHide / wx.onAppShow, fired by the test through `ctl.hide()` / `ctl.show()`.
 *
 * Type-checked against miniprogram-api-typings (`npm run typecheck`).
 */
import WebSocket from 'ws'

const METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

/**
 * @param {{maxRequests?: number, maxSockets?: number, loginUser?: string}} [opts]
 */
export function createWx(opts = {}) {
  const maxRequests = opts.maxRequests || 10
  const maxSockets = opts.maxSockets || 5
  const ctl = {
    loginUser: opts.loginUser || 'wxuser',
    loginCount: 0,
    inFlight: 0,
    maxInFlight: 0,
    refused: 0,
    requests: /** @type {Array<{method: string, url: string}>} */ ([]),
    sockets: 0,
    /** @type {Set<WebSocket>} */
    openSockets: new Set(),
    /** @type {Array<(o: any) => void>} */
    hide: [],
    /** @type {Array<(o: any) => void>} */
    show: [],
    /** @type {Map<string, string>} */
    storage: new Map(),
  }

  /** @param {any} v */
  const copy = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)))

  /** @type {WechatMiniprogram.Wx['request']} */
  function request(option) {
    const o = option
    let aborted = false
    const ac = new AbortController()
    /** @type {WechatMiniprogram.RequestTask} */
    const task = {
      abort() {
        aborted = true
        ac.abort()
      },
      offChunkReceived() {},
      offHeadersReceived() {},
      onChunkReceived() {},
      onHeadersReceived() {},
    }
    /** @param {string} errMsg */
    const fail = (errMsg) => {
      const err = /** @type {WechatMiniprogram.RequestFailCallbackErr} */ ({
        errMsg,
        errno: 600001,
        exception: { reasons: [], retryCount: 0 },
        useHttpDNS: false,
      })
      setTimeout(() => {
        if (o.fail) o.fail(err)
        if (o.complete) o.complete(err)
      }, 0)
    }
    const method = (o.method || 'GET').toUpperCase()
    if (METHODS.indexOf(method) < 0) {
      fail(`request:fail parameter error: parameter.method should be one of ${METHODS.join(', ')}`)
      return task
    }
    if (ctl.inFlight >= maxRequests) {
      ctl.refused++
      fail('request:fail exceed max task count')
      return task
    }
    ctl.inFlight++
    ctl.maxInFlight = Math.max(ctl.maxInFlight, ctl.inFlight)
    let url = o.url
    /** @type {string | undefined} */
    let body
    /** @type {Record<string, string>} */
    const headers = {}
    for (const k of Object.keys(o.header || {})) headers[k] = String(/** @type {any} */ (o.header)[k])
    const d = o.data
    if (d !== undefined && d !== null) {
      if (method === 'GET') {
        if (typeof d === 'object' && !(d instanceof ArrayBuffer)) {
          const q = Object.keys(d)
            .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(String(/** @type {any} */ (d)[k])))
            .join('&')
          if (q) url += (url.indexOf('?') >= 0 ? '&' : '?') + q
        }
      } else if (typeof d === 'string') body = d
      else if (d instanceof ArrayBuffer) body = Buffer.from(d).toString()
      else {
        body = JSON.stringify(d)
        if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
      }
    }
    ctl.requests.push({ method, url })
    const timeout = o.timeout || 60000
    const timer = setTimeout(() => ac.abort(), timeout)
    // The task is finished (and no longer counts against the limit) before wx calls back.
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      ctl.inFlight--
    }
    fetch(url, { method, headers, body, signal: ac.signal })
      .then(async (res) => {
        const text = method === 'HEAD' ? '' : await res.text()
        /** @type {Record<string, string>} */
        const header = {}
        // wx hands back headers as the server spelled them; fetch lowercases them, and
        // the server's own spelling is lowercase too (HTTP/1.1 from hyper).
        res.headers.forEach((v, k) => {
          header[k] = v
        })
        /** @type {any} */
        let data = text
        if (o.responseType === 'arraybuffer') data = new TextEncoder().encode(text).buffer
        else if ((o.dataType || 'json') === 'json') {
          try {
            data = JSON.parse(text)
          } catch (e) {
            data = text
          }
        }
        return /** @type {WechatMiniprogram.RequestSuccessCallbackResult<any>} */ (
          /** @type {unknown} */ ({ data, statusCode: res.status, header, cookies: [], errMsg: 'request:ok' })
        )
      })
      .then(
        (r) => {
          finish()
          // Outside the promise chain, as wx calls back: a throwing callback is the app's.
          setTimeout(() => {
            if (o.success) o.success(r)
            if (o.complete) o.complete(/** @type {any} */ (r))
          }, 0)
        },
        (e) => {
          finish()
          fail(aborted ? 'request:fail abort' : ac.signal.aborted ? 'request:fail timeout' : `request:fail ${e && e.cause ? e.cause.code || e.message : e.message}`)
        },
      )
    return task
  }

  /** @type {WechatMiniprogram.Wx['connectSocket']} */
  function connectSocket(option) {
    /** @type {{open: Function[], message: Function[], close: Function[], error: Function[]}} */
    const on = { open: [], message: [], close: [], error: [] }
    /** @param {'open'|'message'|'close'|'error'} ev @param {any} arg */
    const fire = (ev, arg) => {
      for (const f of on[ev].slice()) f(arg)
    }
    /** @type {WebSocket | null} */
    let ws = null
    let closed = false
    /** @param {number} code @param {string} reason */
    const closeOnce = (code, reason) => {
      if (closed) return
      closed = true
      ctl.sockets--
      if (ws) ctl.openSockets.delete(ws)
      fire('close', { code, reason })
    }
    /** @type {WechatMiniprogram.SocketTask} */
    const task = {
      onOpen: (f) => void on.open.push(f),
      onMessage: (f) => void on.message.push(f),
      onClose: (f) => void on.close.push(f),
      onError: (f) => void on.error.push(f),
      send(o) {
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          const r = { errMsg: 'sendSocketMessage:fail WebSocket is not connected' }
          setTimeout(() => {
            if (o.fail) o.fail(r)
            if (o.complete) o.complete(r)
          }, 0)
          return
        }
        ws.send(typeof o.data === 'string' ? o.data : Buffer.from(o.data), (err) => {
          const r = { errMsg: err ? `sendSocketMessage:fail ${err.message}` : 'sendSocketMessage:ok' }
          if (err && o.fail) o.fail(r)
          if (!err && o.success) o.success(r)
          if (o.complete) o.complete(r)
        })
      },
      close(o) {
        const r = { errMsg: 'closeSocket:ok' }
        if (ws) {
          try {
            ws.close(o.code || 1000, o.reason || '')
          } catch (e) {
            ws.terminate()
          }
        }
        setTimeout(() => {
          if (o.success) o.success(r)
          if (o.complete) o.complete(r)
        }, 0)
      },
    }
    if (ctl.sockets >= maxSockets) {
      const r = { errMsg: 'connectSocket:fail exceed max socket connect count' }
      setTimeout(() => {
        if (option.fail) option.fail(r)
        if (option.complete) option.complete(r)
      }, 0)
      return task
    }
    ctl.sockets++
    ws = new WebSocket(option.url, option.protocols || [], { headers: option.header })
    const sock = ws
    ctl.openSockets.add(sock)
    setTimeout(() => {
      const r = { errMsg: 'connectSocket:ok' }
      if (option.success) option.success(r)
      if (option.complete) option.complete(r)
    }, 0)
    sock.on('open', () => fire('open', { header: {}, profile: {} }))
    sock.on('message', (data, isBinary) => {
      fire('message', { data: isBinary ? new Uint8Array(/** @type {Buffer} */ (data)).buffer : data.toString() })
    })
    sock.on('unexpected-response', (_req, res) => {
      fire('error', { errMsg: `Invalid HTTP status ${res.statusCode}` })
      sock.terminate()
      closeOnce(1006, 'abnormal closure')
    })
    sock.on('error', (e) => {
      if (!closed) fire('error', { errMsg: e.message })
    })
    sock.on('close', (code, reason) => closeOnce(code, reason.toString()))
    return task
  }

  /** @type {WechatMiniprogram.Wx['login']} */
  const login = /** @type {any} */ (
    /** @param {WechatMiniprogram.LoginOption} [o] */
    (o = {}) => {
      ctl.loginCount++
      const r = { code: `mock:${ctl.loginUser}:wx${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`, errMsg: 'login:ok' }
      setTimeout(() => {
        if (o.success) o.success(r)
        if (o.complete) o.complete(r)
      }, 0)
    }
  )

  /** @type {WechatMiniprogram.Wx['getStorageSync']} */
  function getStorageSync(key) {
    const s = ctl.storage.get(key)
    return s === undefined ? /** @type {any} */ ('') : JSON.parse(s)
  }

  /** @type {WechatMiniprogram.Wx['setStorageSync']} */
  function setStorageSync(key, data) {
    if (typeof key !== 'string' || !key) throw new Error('setStorageSync:fail parameter error: parameter.key should be String instead of Undefined;')
    ctl.storage.set(key, JSON.stringify(data === undefined ? null : data))
  }

  /** @type {WechatMiniprogram.Wx['removeStorageSync']} */
  function removeStorageSync(key) {
    ctl.storage.delete(key)
  }

  /** @type {WechatMiniprogram.Wx['clearStorageSync']} */
  function clearStorageSync() {
    ctl.storage.clear()
  }

  /** @type {WechatMiniprogram.Wx['getStorageInfoSync']} */
  function getStorageInfoSync() {
    let size = 0
    for (const v of ctl.storage.values()) size += v.length
    return { keys: Array.from(ctl.storage.keys()), currentSize: Math.ceil(size / 1024), limitSize: 10240 }
  }

  /** @type {WechatMiniprogram.Wx['onAppHide']} */
  function onAppHide(f) {
    ctl.hide.push(f)
  }

  /** @type {WechatMiniprogram.Wx['onAppShow']} */
  function onAppShow(f) {
    ctl.show.push(f)
  }

  /** @type {Pick<WechatMiniprogram.Wx, 'request' | 'connectSocket' | 'login' | 'getStorageSync' | 'setStorageSync' | 'removeStorageSync' | 'clearStorageSync' | 'getStorageInfoSync' | 'onAppHide' | 'onAppShow'>} */
  const wx = {
    request,
    connectSocket,
    login,
    getStorageSync,
    setStorageSync,
    removeStorageSync,
    clearStorageSync,
    getStorageInfoSync,
    onAppHide,
    onAppShow,
  }

  return {
    wx,
    ctl,
    /** The app goes to the background (wx.onAppHide listeners). */
    hide() {
      for (const f of ctl.hide.slice()) f(/** @type {any} */ ({ mode: 'hide' }))
    },
    /** The app comes back (wx.onAppShow listeners). */
    show() {
      for (const f of ctl.show.slice()) f(/** @type {any} */ ({ path: 'pages/index/index', scene: 1001, query: {} }))
    },
  }
}
