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
 * - wx.uploadFile (one multipart POST: `formData` parts, then the file at `filePath` — a
 *   path on this machine — as part `name`; `res.data` a string) and wx.downloadFile (the
 *   body saved to a temporary file; "succeeds" on a 404 too) count against the SAME limit
 *   of 10 as wx.request: `ctl.inFlight` / `ctl.maxInFlight` count all three.
 * - The app in the background: a request, upload or download still running
 *   `interruptAfter` ms (5000, as wx) after `hide()` fails with `<api>:fail interrupted`.
 * - Faults on demand: each string pushed on `ctl.faults` fails the next task with
 *   `<api>:fail <string>` (e.g. 'timeout', 'interrupted') without sending it; one pushed
 *   on `ctl.apiFaults[api]` ('request', 'uploadFile', 'downloadFile') fails the next task
 *   of that api only; `{after: 'timeout'}` there sends it, lets the server answer, and
 *   then fails it (the answer lost on the way back).
 * - wx.getFileSystemManager().getFileInfo and the old wx.getFileInfo: `{size, digest}` of
 *   a path on this machine.
 * - wx.chooseMedia: the user picks `ctl.album` (bytes; by default a 64×48 PNG), written to
 *   a temporary file as WeChat does: `{tempFiles: [{tempFilePath, size, fileType}]}`;
 *   `ctl.album = null` is the user cancelling (`chooseMedia:fail cancel`).
 * - wx.connectSocket: a SocketTask (onOpen/onMessage/onClose/onError, send/close); more
 *   than 5 sockets at once fail; send before open fails; a refused handshake is onError
 *   then onClose(1006).
 * - storage: values copied (as wx serialises them); a missing key reads as ''.
 * - wx.login: codes for the built-in WeChat mock (`mock:<user>:<nonce>`), user settable.
 * - wx.onAppHide / wx.onAppShow, fired by the test through `ctl.hide()` / `ctl.show()`.
 * - wx.requestPayment: what WeChat's client does with the sheet — checks the parameters
 *   (`paySign` verified with the WeChat mock's merchant key over `appid\ntimeStamp\n
 *   nonceStr\npackage\n`, for the mock's appids), then, as `ctl.payAnswer` says: 'pay'
 *   (default) pays through the WeChat mock (`POST {ctl.payMock}/mock/pay/{out_trade_no}`
 *   with `{variant: ctl.payVariant}`, which sends WeChat Pay's signed notification) and
 *   calls `success`; 'cancel' fails `requestPayment:fail cancel`; 'fail' fails
 *   `requestPayment:fail ...`; a function `(params, outTradeNo)` decides (a promise of one
 *   of those). The shim learns `prepay_id` → `out_trade_no` from the answers to
 *   `POST /v1/pay/orders` it carried, as WeChat knows its own prepay ids. Every call is
 *   in `ctl.paySheets`.
 *
 * Type-checked against miniprogram-api-typings (`npm run typecheck`).
 */
import { createPublicKey, verify as rsaVerify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import WebSocket from 'ws'

import { png } from './images.mjs'

const METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

/** The WeChat mock's appids: `yunqiao serve`'s and the Lambda face's. */
const MOCK_APPIDS = ['wx0000000000mock', 'wx00000000standin']

/** The WeChat mock's merchant public key (its private half signs `paySign`), or null. */
function mockMerchantKey() {
  // from sdk/js/test, or from a copy one level deeper (examples/huiliao/test/.vendor)
  for (const up of ['../../../', '../../../../']) {
    try {
      const pem = readFileSync(new URL(up + 'adapters/wechat/src/mock_pay_keys/merchant_key.pem', import.meta.url), 'utf8')
      return createPublicKey(pem)
    } catch (e) {
      // not there
    }
  }
  return null // copied away from the repository: paySign is then only checked for shape
}

/**
 * @param {{maxRequests?: number, maxSockets?: number, loginUser?: string, interruptAfter?: number, payMock?: string}} [opts]
 */
export function createWx(opts = {}) {
  const maxRequests = opts.maxRequests || 10
  const maxSockets = opts.maxSockets || 5
  const interruptAfter = opts.interruptAfter == null ? 5000 : opts.interruptAfter
  const ctl = {
    loginUser: opts.loginUser || 'wxuser',
    loginCount: 0,
    inFlight: 0,
    maxInFlight: 0,
    refused: 0,
    /** Every task sent: wx.request's, and uploadFile's / downloadFile's (`api`). */
    requests: /** @type {Array<{method: string, url: string, api: string, header: Record<string, string>}>} */ ([]),
    /** Fail the next tasks (one string each) with `<api>:fail <string>`, unsent. */
    faults: /** @type {string[]} */ ([]),
    /** Per api: fail its next task (a string: unsent; `{after}`: sent, the answer lost). */
    apiFaults: /** @type {Record<string, Array<string | {after: string}>>} */ ({ request: [], uploadFile: [], downloadFile: [] }),
    /** Tasks failed with `fail interrupted` after the app went to the background. */
    interrupted: 0,
    hidden: false,
    sockets: 0,
    /** @type {Set<WebSocket>} */
    openSockets: new Set(),
    /** @type {Array<(o: any) => void>} */
    hide: [],
    /** @type {Array<(o: any) => void>} */
    show: [],
    /** @type {Map<string, string>} */
    storage: new Map(),
    /** The WeChat mock's base URL (`…/__mock/wechat`): where wx.requestPayment pays. */
    payMock: /** @type {string} */ (opts.payMock || ''),
    /** What the user does with the payment sheet: 'pay', 'cancel', 'fail', or `(params, no) => answer`. */
    payAnswer: /** @type {any} */ ('pay'),
    /** The mock's variant for the payment ('good'; 'drop': paid, no notification). */
    payVariant: 'good',
    /** prepay_id package → out_trade_no, from the answers of POST /v1/pay/orders. */
    prepay: /** @type {Map<string, string>} */ (new Map()),
    /** Every payment sheet opened: `{package, out_trade_no, answer, errMsg}`. */
    paySheets: /** @type {Array<{package: string, out_trade_no: string, answer: string, errMsg: string}>} */ ([]),
    /** What wx.chooseMedia picks (null: the user cancels). */
    album: /** @type {Buffer | null} */ (png(64, 48)),
  }

  /** @param {any} v */
  const copy = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)))

  /** Tasks running now, to interrupt when the app has been in the background too long. */
  /** @type {Set<{interrupt: () => void}>} */
  const running = new Set()
  /** @type {ReturnType<typeof setTimeout> | null} */
  let hideTimer = null

  /**
   * One wx network task (request, uploadFile, downloadFile): the shared limit, faults,
   * timeout, background interruption and wx's callbacks, around `run(signal)`, which
   * resolves to the success result.
   * @param {string} api
   * @param {any} o the option object (success/fail/complete/timeout)
   * @param {{method: string, url: string, header: Record<string, string>}} sent
   * @param {(signal: AbortSignal) => Promise<any>} run
   */
  function task(api, o, sent, run) {
    let aborted = false
    const ac = new AbortController()
    /** @param {string} errMsg */
    const fail = (errMsg) => {
      const err = { errMsg, errno: 600001, exception: { reasons: [], retryCount: 0 }, useHttpDNS: false }
      setTimeout(() => {
        if (o.fail) o.fail(err)
        if (o.complete) o.complete(err)
      }, 0)
    }
    const handle = {
      abort() {
        aborted = true
        ac.abort()
      },
      /** @type {Array<(p: any) => void>} */
      progress: [],
    }
    if (ctl.inFlight >= maxRequests) {
      ctl.refused++
      fail(`${api}:fail exceed max task count`)
      return handle
    }
    ctl.inFlight++
    ctl.maxInFlight = Math.max(ctl.maxInFlight, ctl.inFlight)
    ctl.requests.push({ method: sent.method, url: sent.url, api, header: sent.header })
    // The task is finished (and no longer counts against the limit) before wx calls back.
    let done = false
    /** @type {string | null} */
    let why = null
    const entry = {
      interrupt() {
        why = 'interrupted'
        ctl.interrupted++
        ac.abort()
      },
    }
    const finish = () => {
      if (done) return false
      done = true
      clearTimeout(timer)
      running.delete(entry)
      ctl.inFlight--
      return true
    }
    const timer = setTimeout(() => {
      why = 'timeout'
      ac.abort()
    }, o.timeout || 60000)
    const own = ctl.apiFaults[api] && ctl.apiFaults[api].length ? ctl.apiFaults[api].shift() : undefined
    /** @type {string | null} */
    let lose = null
    if (own !== undefined && typeof own === 'object') lose = own.after
    const fault = own !== undefined ? (typeof own === 'string' ? own : undefined) : ctl.faults.shift()
    if (fault !== undefined) {
      setTimeout(() => {
        if (finish()) fail(`${api}:fail ${fault}`)
      }, 1)
      return handle
    }
    running.add(entry)
    run(ac.signal).then(
      (r) => {
        if (!finish()) return
        if (lose !== null) return fail(`${api}:fail ${lose}`)
        // Outside the promise chain, as wx calls back: a throwing callback is the app's.
        setTimeout(() => {
          if (o.success) o.success(r)
          if (o.complete) o.complete(r)
        }, 0)
      },
      (e) => {
        if (!finish()) return
        fail(why ? `${api}:fail ${why}` : aborted ? `${api}:fail abort` : `${api}:fail ${e && e.cause ? e.cause.code || e.message : e.message}`)
      },
    )
    return handle
  }

  /** @param {any} raw @returns {Record<string, string>} */
  const headersOf = (raw) => {
    /** @type {Record<string, string>} */
    const headers = {}
    for (const k of Object.keys(raw || {})) headers[k] = String(raw[k])
    return headers
  }

  /** @type {WechatMiniprogram.Wx['request']} */
  function request(option) {
    const o = option
    const method = (o.method || 'GET').toUpperCase()
    if (METHODS.indexOf(method) < 0) {
      const err = { errMsg: `request:fail parameter error: parameter.method should be one of ${METHODS.join(', ')}` }
      setTimeout(() => {
        if (o.fail) o.fail(/** @type {any} */ (err))
        if (o.complete) o.complete(/** @type {any} */ (err))
      }, 0)
      return noTask()
    }
    let url = o.url
    /** @type {string | undefined} */
    let body
    const headers = headersOf(o.header)
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
    const h = task('request', o, { method, url, header: headers }, async (signal) => {
      const res = await fetch(url, { method, headers, body, signal })
      const text = method === 'HEAD' ? '' : await res.text()
      /** @type {Record<string, string>} */
      const header = {}
      // wx hands back headers as the server spelled them; fetch lowercases them, and
      // the server's own spelling is lowercase too (HTTP/1.1 from hyper).
      res.headers.forEach((v, k) => {
        header[k] = v
      })
      if (method === 'POST' && res.status === 201 && /\/v1\/pay\/orders(\?|$)/.test(url)) {
        try {
          const c = JSON.parse(text)
          if (c && c.payment && c.order) ctl.prepay.set(c.payment.package, c.order.out_trade_no)
        } catch (e) {
          // not an order
        }
      }
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
      return { data, statusCode: res.status, header, cookies: [], errMsg: 'request:ok' }
    })
    /** @type {WechatMiniprogram.RequestTask} */
    const t = {
      abort: () => h.abort(),
      offChunkReceived() {},
      offHeadersReceived() {},
      onChunkReceived() {},
      onHeadersReceived() {},
    }
    return t
  }

  /** A task for a call refused before it started. */
  const noTask = () => /** @type {any} */ ({ abort() {}, offChunkReceived() {}, offHeadersReceived() {}, onChunkReceived() {}, onHeadersReceived() {}, onProgressUpdate() {}, offProgressUpdate() {} })

  /** @type {WechatMiniprogram.Wx['uploadFile']} */
  function uploadFile(option) {
    const o = option
    const header = headersOf(o.header)
    const h = task('uploadFile', o, { method: 'POST', url: o.url, header }, async (signal) => {
      const bytes = await readFile(o.filePath)
      const form = new FormData()
      const fields = /** @type {Record<string, any>} */ (o.formData || {})
      for (const k of Object.keys(fields)) form.append(k, String(fields[k]))
      form.append(o.name, new Blob([bytes]), basename(o.filePath))
      const hs = Object.assign({}, header)
      for (const k of Object.keys(hs)) if (k.toLowerCase() === 'content-type') delete hs[k]
      for (const f of h.progress) f({ progress: 100, totalBytesSent: bytes.length, totalBytesExpectedToSend: bytes.length })
      const res = await fetch(o.url, { method: 'POST', headers: hs, body: form, signal })
      return { data: await res.text(), statusCode: res.status, errMsg: 'uploadFile:ok' }
    })
    return /** @type {any} */ ({
      abort: () => h.abort(),
      /** @param {(p: any) => void} f */
      onProgressUpdate: (f) => void h.progress.push(f),
      offProgressUpdate() {},
      onHeadersReceived() {},
      offHeadersReceived() {},
    })
  }

  /** @type {WechatMiniprogram.Wx['downloadFile']} */
  function downloadFile(option) {
    const o = option
    const header = headersOf(o.header)
    const h = task('downloadFile', o, { method: 'GET', url: o.url, header }, async (signal) => {
      const res = await fetch(o.url, { headers: header, signal })
      const bytes = Buffer.from(await res.arrayBuffer())
      const tempFilePath = join(tmpdir(), 'wxshim-' + Date.now().toString(36) + Math.random().toString(36).slice(2))
      await writeFile(o.filePath || tempFilePath, bytes)
      /** @type {any} */
      const r = { tempFilePath: o.filePath ? '' : tempFilePath, statusCode: res.status, errMsg: 'downloadFile:ok' }
      if (o.filePath) r.filePath = o.filePath
      return r
    })
    return /** @type {any} */ ({
      abort: () => h.abort(),
      onProgressUpdate() {},
      offProgressUpdate() {},
      onHeadersReceived() {},
      offHeadersReceived() {},
    })
  }

  /** `{size, digest}` of a local file, wx-style (success/fail/complete). @param {any} o */
  function fileInfo(o) {
    stat(o.filePath).then(
      (st) => {
        const r = { size: st.size, digest: '', errMsg: 'getFileInfo:ok' }
        if (o.success) o.success(r)
        if (o.complete) o.complete(r)
      },
      (e) => {
        const r = { errMsg: `getFileInfo:fail no such file or directory ${o.filePath}`, errno: 1300002, cause: String(e) }
        if (o.fail) o.fail(r)
        if (o.complete) o.complete(r)
      },
    )
  }

  /** @type {WechatMiniprogram.Wx['chooseMedia']} */
  const chooseMedia = /** @type {any} */ (chooseMediaCb)

  /** @param {WechatMiniprogram.ChooseMediaOption} o */
  function chooseMediaCb(o) {
    const bytes = ctl.album
    if (!bytes) {
      const r = { errMsg: 'chooseMedia:fail cancel' }
      setTimeout(() => {
        if (o.fail) o.fail(r)
        if (o.complete) o.complete(r)
      }, 0)
      return
    }
    const tempFilePath = join(tmpdir(), 'wxshim-' + Date.now().toString(36) + Math.random().toString(36).slice(2) + '.png')
    writeFile(tempFilePath, bytes).then(() => {
      const r = /** @type {any} */ ({ type: 'image', tempFiles: [{ tempFilePath, size: bytes.length, fileType: 'image', duration: 0, height: 0, width: 0, thumbTempFilePath: '' }], errMsg: 'chooseMedia:ok' })
      if (o.success) o.success(r)
      if (o.complete) o.complete(r)
    })
  }

  /** @type {WechatMiniprogram.Wx['getFileSystemManager']} */
  const getFileSystemManager = () => /** @type {any} */ ({ getFileInfo: fileInfo })

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

  const merchantKey = mockMerchantKey()

  /** @param {any} p @returns {string} why the parameters are refused, or '' */
  function badPayment(p) {
    for (const k of ['timeStamp', 'nonceStr', 'package', 'paySign']) {
      if (typeof p[k] !== 'string' || !p[k]) return `parameter error: ${k} should be a non-empty string`
    }
    if (!/^\d{10}$/.test(p.timeStamp)) return 'parameter error: timeStamp is seconds'
    if (p.signType !== 'RSA') return 'parameter error: signType should be RSA'
    if (!/^prepay_id=/.test(p.package)) return 'parameter error: package is prepay_id=…'
    if (merchantKey) {
      const key = merchantKey
      const ok = MOCK_APPIDS.some((appid) =>
        rsaVerify('sha256', Buffer.from(`${appid}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`), key, Buffer.from(p.paySign, 'base64')),
      )
      if (!ok) return '支付验证签名失败'
    }
    return ''
  }

  /** @type {WechatMiniprogram.Wx['requestPayment']} */
  const requestPayment = /** @type {any} */ (
    /** @param {any} o */
    (o) => {
      const no = ctl.prepay.get(o.package) || ''
      const sheet = { package: String(o.package), out_trade_no: no, answer: '', errMsg: '' }
      ctl.paySheets.push(sheet)
      /** @param {string} errMsg */
      const done = (errMsg) => {
        sheet.errMsg = errMsg
        setTimeout(() => {
          const r = { errMsg }
          if (errMsg === 'requestPayment:ok') {
            if (o.success) o.success(r)
          } else if (o.fail) o.fail(r)
          if (o.complete) o.complete(r)
        }, 0)
      }
      const bad = badPayment(o)
      if (bad) return done(`requestPayment:fail ${bad}`)
      const params = { timeStamp: o.timeStamp, nonceStr: o.nonceStr, package: o.package, signType: o.signType, paySign: o.paySign }
      Promise.resolve(typeof ctl.payAnswer === 'function' ? ctl.payAnswer(params, no) : ctl.payAnswer)
        .then(async (answer) => {
          sheet.answer = answer
          if (answer === 'cancel') return done('requestPayment:fail cancel')
          if (answer !== 'pay') return done(`requestPayment:fail ${answer || 'system error'}`)
          if (!no) return done('requestPayment:fail prepay_id unknown')
          if (!ctl.payMock) return done('requestPayment:fail no WeChat mock (ctl.payMock)')
          const res = await fetch(`${ctl.payMock}/mock/pay/${encodeURIComponent(no)}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ variant: ctl.payVariant }),
          })
          const text = await res.text()
          if (res.status !== 200) return done(`requestPayment:fail ${res.status} ${text}`)
          done('requestPayment:ok')
        })
        .catch((/** @type {any} */ e) => done(`requestPayment:fail ${e && e.message}`))
    }
  )

  /** @type {Pick<WechatMiniprogram.Wx, 'request' | 'uploadFile' | 'downloadFile' | 'getFileSystemManager' | 'chooseMedia' | 'connectSocket' | 'login' | 'getStorageSync' | 'setStorageSync' | 'removeStorageSync' | 'clearStorageSync' | 'getStorageInfoSync' | 'onAppHide' | 'onAppShow' | 'requestPayment'>} */
  const wx = {
    request,
    uploadFile,
    downloadFile,
    getFileSystemManager,
    chooseMedia,
    connectSocket,
    login,
    getStorageSync,
    setStorageSync,
    removeStorageSync,
    clearStorageSync,
    getStorageInfoSync,
    onAppHide,
    onAppShow,
    requestPayment,
  }

  // The old API (still in the base library, no longer in the typings).
  Object.assign(wx, { getFileInfo: fileInfo })

  return {
    wx,
    ctl,
    /** The app goes to the background (wx.onAppHide listeners); `interruptAfter` ms later, tasks still running fail `interrupted`. */
    hide() {
      ctl.hidden = true
      if (hideTimer) clearTimeout(hideTimer)
      hideTimer = setTimeout(() => {
        hideTimer = null
        for (const t of Array.from(running)) t.interrupt()
      }, interruptAfter)
      hideTimer.unref()
      for (const f of ctl.hide.slice()) f(/** @type {any} */ ({ mode: 'hide' }))
    },
    /** The app comes back (wx.onAppShow listeners). */
    show() {
      ctl.hidden = false
      if (hideTimer) clearTimeout(hideTimer)
      hideTimer = null
      for (const f of ctl.show.slice()) f(/** @type {any} */ ({ path: 'pages/index/index', scene: 1001, query: {} }))
    },
  }
}
