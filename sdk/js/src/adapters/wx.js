// @ts-check
/**
 * The adapter for WeChat mini-programs: wx.request (queued: at most 10 at once; `success`
 * fires for every HTTP status, so the status is read from `statusCode`), a SocketTask per
 * connection (wx.connectSocket), wx storage, wx.login, and wx.onAppHide/onAppShow.
 *
 * Type-checked against miniprogram-api-typings (`npm run typecheck`).
 */
import { networkError, YunqiaoError } from '../errors.js'

/** wx.request's methods: no PATCH (the client routes around it). */
const WX_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

/**
 * @param {WechatMiniprogram.Wx} [wxObj] the `wx` object; the global one by default
 * @param {{maxRequests?: number}} [opts]
 */
export function wxAdapter(wxObj, opts = {}) {
  /** @type {WechatMiniprogram.Wx} */
  const w = wxObj || /** @type {any} */ (globalWx())
  if (!w || typeof w.request !== 'function') {
    throw new YunqiaoError('NO_WX', 'the wx adapter needs the mini-program `wx` object')
  }
  const max = opts.maxRequests || 10
  let running = 0
  /** @type {Array<() => void>} */
  const waiting = []
  const next = () => {
    running--
    const go = waiting.shift()
    if (go) go()
  }
  /** @param {() => void} go */
  const slot = (go) => {
    if (running < max) {
      running++
      go()
    } else {
      waiting.push(() => {
        running++
        go()
      })
    }
  }

  return {
    name: 'wx',
    methods: WX_METHODS,
    /** How many requests are waiting for a slot (for tests and diagnostics). */
    get queued() {
      return waiting.length
    },
    storage: {
      /** @param {string} key */
      get(key) {
        const v = w.getStorageSync(key)
        // wx answers '' for a missing key: tell it apart from a stored ''.
        if (v === '' && w.getStorageInfoSync().keys.indexOf(key) < 0) return undefined
        return v
      },
      /** @param {string} key @param {any} value */
      set(key, value) {
        w.setStorageSync(key, value)
      },
      /** @param {string} key */
      remove(key) {
        w.removeStorageSync(key)
      },
      clear() {
        w.clearStorageSync()
      },
      keys() {
        return w.getStorageInfoSync().keys
      },
    },
    /**
     * @param {{url: string, method: string, headers: Record<string, string>, body?: string, timeout?: number}} req
     * @returns {Promise<{status: number, headers: Record<string, string>, text: string}>}
     */
    request(req) {
      const method = /** @type {WechatMiniprogram.RequestOption['method']} */ (req.method)
      return new Promise((resolve, reject) => {
        slot(() => {
          /** @type {WechatMiniprogram.RequestOption<string>} */
          const o = {
            url: req.url,
            method,
            header: req.headers,
            // Not 'json': wx would parse the body itself (and hand back a string when it
            // cannot); the client parses every answer the same way on every platform.
            dataType: 'text',
            responseType: 'text',
            success(res) {
              next()
              /** @type {Record<string, string>} */
              const h = {}
              const raw = res.header || {}
              for (const k of Object.keys(raw)) h[k.toLowerCase()] = String(raw[k])
              const data = res.data
              resolve({
                status: res.statusCode,
                headers: h,
                text: typeof data === 'string' ? data : data == null ? '' : JSON.stringify(data),
              })
            },
            fail(err) {
              next()
              reject(networkError(err && err.errMsg, err))
            },
          }
          if (req.body !== undefined) o.data = req.body
          if (req.timeout) o.timeout = req.timeout
          w.request(o)
        })
      })
    },
    /**
     * @param {string} url
     * @param {{onOpen: () => void, onMessage: (text: string) => void, onClose: (e: {code: number, reason: string}) => void, onError: (msg: string) => void}} on
     */
    connect(url, on) {
      let closed = false
      /** @param {number} code @param {string} reason */
      const closeOnce = (code, reason) => {
        if (closed) return
        closed = true
        on.onClose({ code, reason })
      }
      const task = w.connectSocket({
        url,
        fail(err) {
          on.onError(err.errMsg)
          closeOnce(1006, err.errMsg)
        },
      })
      if (!task) {
        // Very old base libraries return nothing: no SocketTask, no socket.
        closeOnce(1006, 'wx.connectSocket returned no SocketTask')
        return { send() {}, close() {} }
      }
      task.onOpen(() => on.onOpen())
      task.onMessage((m) => {
        if (typeof m.data === 'string') on.onMessage(m.data)
      })
      task.onError((e) => on.onError(e.errMsg))
      task.onClose((e) => closeOnce(e.code, e.reason))
      return {
        /** @param {string} text */
        send(text) {
          task.send({ data: text, fail: (e) => on.onError(e.errMsg) })
        },
        /** @param {number} [code] @param {string} [reason] */
        close(code, reason) {
          task.close({ code: code || 1000, reason: reason || '' })
        },
      }
    },
    /** @returns {Promise<string>} */
    login() {
      return new Promise((resolve, reject) => {
        w.login({
          success: (r) => resolve(r.code),
          fail: (e) => reject(new YunqiaoError('WX_LOGIN_FAILED', e.errMsg, { details: e })),
        })
      })
    },
    /** @param {() => void} fn */
    onHide(fn) {
      if (typeof w.onAppHide === 'function') w.onAppHide(() => fn())
    },
    /** @param {() => void} fn */
    onShow(fn) {
      if (typeof w.onAppShow === 'function') w.onAppShow(() => fn())
    },
  }
}

/** The mini-program's global `wx`, if there is one. */
export function globalWx() {
  // `wx` is a free global in mini-programs; typeof keeps this safe everywhere else.
  return typeof wx !== 'undefined' ? wx : undefined
}
